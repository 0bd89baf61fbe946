"""The Qwen chapter for readers: the tiny model, the countdown data, the rewards, and the real-path ids.

>>> from adrpo_nb import qwen
>>> policy = qwen.load_tiny()                         # CausalLMAdapter around the shipped tiny Qwen2
>>> rows = qwen.countdown_rows(8, seed=0)             # [{"prompt": "9,3,5,3:8", "numbers": [...], "target": 8}, ...]
>>> qwen.accuracy(policy, qwen.eval_puzzles())        # sampled accuracy, ≈ 0.3 before RL

The weights and the tokenizer are folders in ``data/`` written with ``save_pretrained`` by
``python -m adrpo_nb.experiments.qwen pretrain`` (see ``pretrain.json`` there) and read with the
same :func:`~adrpo_nb.models.causal_lm.load_causal_lm` call that loads ``Qwen/Qwen2-0.5B-Instruct``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from adrpo_nb.models.causal_lm import CausalLMAdapter, load_causal_lm
from adrpo_nb.rewards.countdown import countdown_correct, countdown_format
from adrpo_nb.tasks.countdown import Puzzle, make_puzzles
from adrpo_nb.utils.paths import data_path

__all__ = [
    "EVAL_POOL",
    "EVAL_SEED",
    "REAL_MODELS",
    "TINY_MODEL",
    "TOKENIZER",
    "TRAIN_SEED",
    "accuracy",
    "countdown_correct",
    "countdown_format",
    "countdown_rows",
    "eval_puzzles",
    "load_tiny",
    "tiny_model_path",
]

#: where the tiny Qwen2 lives under data/ (weights, config, tokenizer, pretrain.json)
TINY_MODEL = ("checkpoints", "qwen_tiny_countdown")
#: the character-level tokenizer on its own (also saved inside TINY_MODEL)
TOKENIZER = ("tokenizers", "countdown_char")
TRAIN_SEED = 0  # RL prompts
EVAL_SEED = 20251023  # held-out puzzles for accuracy (pretraining evaluates on seed 7, trains on seed 1234)
#: the held-out pool: every evaluation set is a prefix of these puzzles, and RL training rows never hold one
EVAL_POOL = 1024
#: the real path (GPU): the models the paper fine-tunes
REAL_MODELS = {"qwen2": "Qwen/Qwen2-0.5B-Instruct", "qwen3": "Qwen/Qwen3-0.6B"}
MAX_NEW_TOKENS = 24  # the longest worked solution is 23 tokens + <|endoftext|>


def tiny_model_path(must_exist: bool = True) -> Path:
    """``data/checkpoints/qwen_tiny_countdown``."""
    return data_path(*TINY_MODEL, must_exist=must_exist)


def load_tiny(**adapter_kwargs: Any) -> CausalLMAdapter:
    """The shipped tiny Qwen2 as a :class:`CausalLMAdapter` (full fine-tuning, frozen copy as reference)."""
    adapter_kwargs.setdefault("max_new_tokens", MAX_NEW_TOKENS)
    adapter = load_causal_lm(tiny_model_path(), **adapter_kwargs)
    adapter.policy.eval()
    return adapter


@lru_cache(maxsize=1)
def _eval_pool() -> tuple[Puzzle, ...]:
    return tuple(make_puzzles(EVAL_POOL, EVAL_SEED))


def countdown_rows(n: int, seed: int = TRAIN_SEED) -> list[dict]:
    """``n`` RL dataset rows ``{"prompt", "numbers", "target"}`` (TRL's layout: extra columns reach the rewards).

    No row is a held-out puzzle: the draw skips every puzzle of the evaluation pool (:data:`EVAL_POOL`
    puzzles of :data:`EVAL_SEED`, of which :func:`eval_puzzles` is a prefix). Rows made before this rule
    (the committed ``qwen_sweep.json``) held 10 of the 256 evaluation puzzles among their first 4000. The
    tiny model's supervised *pretraining* (seed 1234, 650 steps of 64 puzzles) was not filtered: it saw 103
    of the 256 evaluation puzzles, and cannot be redone now without a new tiny model.
    """
    return [p.as_row() for p in make_puzzles(n, seed, exclude=_eval_pool())]


def eval_puzzles(n: int = 256) -> list[Puzzle]:
    """The held-out puzzles every accuracy in the chapter is measured on: the first ``n`` of the pool that
    :func:`countdown_rows` never trains on (``n <= EVAL_POOL``)."""
    if not 1 <= n <= EVAL_POOL:
        raise ValueError(f"n must be in 1..{EVAL_POOL} (the held-out pool), got n={n!r}")
    return list(_eval_pool()[:n])


def accuracy(adapter: CausalLMAdapter, puzzles: list[Puzzle] | None = None, samples_per_puzzle: int = 4,
             seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Sampled accuracy (temperature of the adapter) and format rate on ``puzzles`` (default: :func:`eval_puzzles`)."""
    from adrpo_nb.experiments.qwen.pretrain import evaluate_accuracy

    return evaluate_accuracy(adapter, puzzles or eval_puzzles(), samples_per_puzzle, seed)
