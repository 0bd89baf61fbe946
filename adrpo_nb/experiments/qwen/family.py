"""The Qwen chapter for readers: the tiny model, the countdown data, the rewards, its evaluation, and the real-path
ids.

>>> from adrpo_nb import qwen
>>> policy = qwen.load_tiny()                         # CausalLMAdapter around the shipped tiny Qwen2
>>> rows = qwen.countdown_rows(8, seed=0)             # [{"prompt": "9,3,5,3:8", "numbers": [...], "target": 8}, ...]
>>> qwen.accuracy(policy, qwen.eval_puzzles())        # sampled accuracy, ≈ 0.3 before RL
>>> qwen.evaluate_policy(policy)                      # accuracy, diversity, entropy, KL on 128 held-out puzzles

The weights and the tokenizer are folders in ``data/`` written with ``save_pretrained`` by
``python -m adrpo_nb.experiments.qwen pretrain`` (see ``pretrain.json`` there) and read with the
same :func:`~adrpo_nb.models.causal_lm.load_causal_lm` call that loads ``Qwen/Qwen2-0.5B-Instruct``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from adrpo_nb.metrics import distinct_n, self_bleu
from adrpo_nb.models.causal_lm import CausalLMAdapter, load_causal_lm
from adrpo_nb.rewards.countdown import countdown_correct, countdown_format
from adrpo_nb.tasks.countdown import EVAL_POOL, EVAL_SEED, RL_SEED, Puzzle, eval_puzzles, parse_answer, rl_rows
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
    "evaluate_policy",
    "load_tiny",
    "samples_html",
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
    return evaluate_accuracy(adapter, puzzles or eval_puzzles(), samples_per_puzzle, seed)


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_accuracy(adapter, puzzles, samples_per_puzzle: int = 1, seed: int = 0) -> dict[str, float]:
    """Sampled accuracy and format rate of ``adapter``'s policy on ``puzzles`` (temperature of the adapter)."""
    gen = torch.Generator().manual_seed(seed)
    correct, formatted, n = 0.0, 0.0, 0
    for start in range(0, len(puzzles), 128):
        chunk = puzzles[start : start + 128]
        rollout = adapter.generate([p.prompt for p in chunk], samples_per_puzzle, gen,
                                   columns={"numbers": [list(p.numbers) for p in chunk],
                                            "target": [p.target for p in chunk]})  # fmt: skip
        correct += sum(countdown_correct(rollout.prompts, rollout.completions, None, **rollout.columns))
        formatted += sum(countdown_format(rollout.prompts, rollout.completions))
        n += len(rollout)
    return {"accuracy": correct / n, "format": formatted / n, "n": n}


@torch.no_grad()
def evaluate_policy(adapter: CausalLMAdapter, puzzles: list[Puzzle] | None = None, samples_per_puzzle: int = 8,
                    seed: int = 0, reference: bool = True) -> dict[str, Any]:  # fmt: skip
    """Held-out metrics of a policy: ``samples_per_puzzle`` completions for each puzzle (default 128 of them).

    ``accuracy`` and ``format`` are sample means; ``reward`` = their sum (the training reward);
    ``distinct_correct`` = distinct correct answers per puzzle (of ``samples_per_puzzle``: the
    diversity that matters here), ``distinct_2``/``self_bleu`` = n-gram diversity within each
    puzzle's group, ``entropy`` = mean token entropy, ``kl`` = token mean of k3 against the
    reference and ``kl_seq`` = per-completion sum (an estimate of the sequence KL).
    """
    puzzles = puzzles or eval_puzzles(128)
    gen = torch.Generator().manual_seed(seed)
    policy = adapter.policy
    was_training = policy.training
    policy.eval()
    rollout = adapter.generate([p.prompt for p in puzzles], samples_per_puzzle, gen,
                               columns={"numbers": [list(p.numbers) for p in puzzles],
                                        "target": [p.target for p in puzzles]})  # fmt: skip
    correct = torch.tensor(countdown_correct(rollout.prompts, rollout.completions, None, **rollout.columns))
    formatted = torch.tensor(countdown_format(rollout.prompts, rollout.completions))
    logp, entropy = adapter.logprobs(rollout, with_entropy=True)
    mask = rollout.completion_mask.float()
    metrics: dict[str, Any] = {
        "accuracy": correct.mean().item(), "format": formatted.mean().item(),
        "reward": (correct + formatted).mean().item(),
        "entropy": ((entropy * mask).sum() / mask.sum()).item(),
        "mean_length": mask.sum(1).mean().item(),
    }  # fmt: skip
    k = samples_per_puzzle
    groups = [list(range(i, i + k)) for i in range(0, len(rollout), k)]
    ids = [row[m.bool()].tolist() for row, m in zip(rollout.completion_ids, rollout.completion_mask, strict=True)]
    metrics["distinct_correct"] = float(np.mean([
        len({parse_answer(rollout.completions[i]) for i in g if correct[i] > 0}) for g in groups]))  # fmt: skip
    metrics["distinct_2"] = float(np.mean([distinct_n([ids[i] for i in g], 2) for g in groups]))
    metrics["self_bleu"] = float(np.mean([self_bleu([ids[i] for i in g]) for g in groups]))
    if reference:
        from adrpo_nb.core import kl_k3

        k3 = kl_k3(logp, adapter.reference_logprobs(rollout)) * mask
        metrics["kl"] = (k3.sum() / mask.sum()).item()
        metrics["kl_seq"] = k3.sum(1).mean().item()
    policy.train(was_training)
    metrics["examples"] = [{"prompt": puzzles[i // k].prompt, "completions": rollout.completions[i : i + k],
                            "correct": correct[i : i + k].int().tolist()}
                           for i in range(0, min(4 * k, len(rollout)), k)]  # fmt: skip
    return metrics


def samples_html(examples: list[dict]) -> str:
    """A small HTML block of example completions (✓ correct, ✗ wrong), for the slider and the chapter."""
    import html

    rows = []
    for ex in examples:
        lines = "".join(f"<div>{'✓' if ok else '✗'} {html.escape(c)}</div>" for c, ok in
                        zip(ex["completions"], ex["correct"], strict=True))  # fmt: skip
        rows.append(f"<div style='margin-bottom:6px'><b>{html.escape(ex['prompt'])}</b>{lines}</div>")
    return "<div style='font-family:monospace;font-size:12px'>" + "".join(rows) + "</div>"
