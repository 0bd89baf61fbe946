"""Rewards of the real path (GPU), in TRL's signature ``reward(prompts, completions, completion_ids, **columns)``.

* :class:`RewardModelReward`: a sequence-classification reward model scoring ``prompt + completion``
  (``weqweasdas/RM-Gemma-2B`` by default, on ``trl-lib/tldr`` as in TRL's GRPO example). Loaded
  on the first call, so building the reward costs nothing.
* :func:`gsm8k_correct`: exact match of the number in ``<answer>…</answer>`` (or the last number
  of the completion) with the dataset's ``answer_value`` column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["RM_GEMMA_2B", "RewardModelReward", "completion_as_text", "gsm8k_correct", "gsm8k_answer_value",
           "prompt_as_text"]

RM_GEMMA_2B = "weqweasdas/RM-Gemma-2B"
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def prompt_as_text(prompt: Any) -> str:
    """A string prompt as it is, chat messages as their contents joined by blank lines."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(str(m.get("content", "")) for m in prompt)


def completion_as_text(completion: Any) -> str:
    """A completion as a string: TRL passes conversational completions (chat prompts) as a list of messages."""
    return completion if isinstance(completion, str) else prompt_as_text(completion)


class RewardModelReward:
    """``reward = RM(prompt, completion)``: the reward model's scalar logit for the exchange.

    Args:
        model_id: hub id or folder of an ``AutoModelForSequenceClassification`` with one output.
        batch_size: completions scored per forward pass.
        device, dtype: where and how to load it (default: the policy's device is not known here, so
            ``"cuda"`` if available, else CPU; ``torch.bfloat16`` on CUDA).
    """

    __name__ = "reward_model"

    def __init__(self, model_id: str = RM_GEMMA_2B, batch_size: int = 16, device: Any = None, dtype: Any = None):
        self.model_id, self.batch_size, self.device, self.dtype = model_id, batch_size, device, dtype
        self._model = self._tokenizer = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from adrpo_nb.utils.hub import ModelLoadError

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = self.dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            self._model = AutoModelForSequenceClassification.from_pretrained(self.model_id, dtype=dtype)
        except (OSError, ValueError) as err:
            first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelLoadError(f"could not load the reward model {self.model_id!r}: {first_line}") from err
        self._model.to(device).eval().requires_grad_(False)

    def __call__(self, prompts: Sequence, completions: Sequence[str], completion_ids=None, **columns) -> list[float]:
        import torch

        if self._model is None:
            self._load()
        texts = [
            self._tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt_as_text(p)},
                 {"role": "assistant", "content": completion_as_text(c)}], tokenize=False
            )
            for p, c in zip(prompts, completions, strict=True)
        ]
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            enc = self._tokenizer(texts[start : start + self.batch_size], return_tensors="pt", padding=True,
                                  truncation=True, add_special_tokens=False).to(self._model.device)  # fmt: skip
            with torch.no_grad():
                scores += self._model(**enc).logits[:, 0].float().tolist()
        return scores


def gsm8k_answer_value(answer: str) -> str:
    """The final number of a GSM8K solution (after ``####``), without thousands separators."""
    return answer.split("####")[-1].strip().replace(",", "")


def gsm8k_correct(prompts: Sequence, completions: Sequence[str], completion_ids=None, *, answer_value=None,
                  **columns) -> list[float | None]:  # fmt: skip
    """1.0 when the completion's answer equals ``answer_value`` (the number in ``<answer>`` or its last number)."""
    if answer_value is None:
        return [None] * len(completions)
    out: list[float | None] = []
    for text, gold in zip(map(completion_as_text, completions), answer_value, strict=True):
        tagged = re.search(r"<answer>(.*?)</answer>", text, re.S)
        numbers = _NUMBER.findall(tagged.group(1) if tagged else text)
        guess = numbers[-1].replace(",", "").rstrip(".") if numbers else None
        out.append(float(guess is not None and _same_number(guess, gold)))
    return out


def _same_number(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-6
    except ValueError:
        return a == b
