"""Rewards of the countdown task in TRL's signature: ``reward(prompts, completions, completion_ids, **columns)``.

The dataset's extra columns (``numbers``, ``target``) arrive as keyword lists, one entry per
completion, exactly as TRL's ``GRPOTrainer`` passes them, so these functions plug into both
trainers. ``countdown_correct`` returns ``None`` for rows without puzzle columns (not applicable).
"""

from __future__ import annotations

from collections.abc import Sequence

from adrpo_nb.tasks.countdown import FORMAT_PATTERN, is_correct

__all__ = ["countdown_correct", "countdown_format"]


def countdown_correct(prompts: Sequence, completions: Sequence[str], completion_ids=None, *, numbers=None,
                      target=None, **columns) -> list[float | None]:  # fmt: skip
    """1.0 for a correct answer (digits from the prompt, each at most once, value = target), else 0.0."""
    if numbers is None or target is None:
        return [None] * len(completions)
    return [
        None if nums is None or tgt is None else float(is_correct(text, nums, tgt))
        for text, nums, tgt in zip(completions, numbers, target, strict=True)
    ]


def countdown_format(prompts: Sequence, completions: Sequence[str], completion_ids=None, **columns) -> list[float]:
    """1.0 when the completion is exactly ``<think>…</think><answer>…</answer>`` (then the end of text), else 0.0."""
    return [float(bool(FORMAT_PATTERN.match(text.strip()))) for text in completions]
