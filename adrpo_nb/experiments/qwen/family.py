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

from pathlib import Path
from typing import Any

from adrpo_nb.models.causal_lm import CausalLMAdapter, load_causal_lm
from adrpo_nb.rewards.countdown import countdown_correct, countdown_format
from adrpo_nb.tasks.countdown import EVAL_POOL, EVAL_SEED, RL_SEED, Puzzle, eval_puzzles, rl_rows
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
TRAIN_SEED = RL_SEED  # RL prompts (the old name)
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


def countdown_rows(n: int, seed: int = RL_SEED) -> list[dict]:
    """``n`` RL dataset rows ``{"prompt", "numbers", "target"}`` (TRL's layout: extra columns reach the rewards).

    Every row is on the training side of the split by meaning (:func:`adrpo_nb.tasks.countdown.split_of`): no
    row has the same numbers, in any order, and target as an evaluation puzzle, and neither has any example
    the tiny model was pretrained on (``tests/test_splits.py``).
    """
    return rl_rows(n, seed)


def accuracy(adapter: CausalLMAdapter, puzzles: list[Puzzle] | None = None, samples_per_puzzle: int = 4,
             seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Sampled accuracy (temperature of the adapter) and format rate on ``puzzles`` (default: :func:`eval_puzzles`)."""
    from adrpo_nb.experiments.qwen.pretrain import evaluate_accuracy

    return evaluate_accuracy(adapter, puzzles or eval_puzzles(), samples_per_puzzle, seed)
