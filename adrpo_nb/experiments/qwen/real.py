"""The qwen experiment's real path (GPU): Qwen2-0.5B-Instruct or Qwen3-0.6B with a fresh LoRA, rewarded by
RM-Gemma-2B on ``trl-lib/tldr`` (TRL's GRPO example) or by exact match on GSM8K.

``python -m adrpo_nb.experiments.qwen train --model qwen2 --task tldr`` runs :func:`run_real`; :func:`real_setup` gives
the pieces (adapter, reward functions, dataset) to train them another way.
"""

from __future__ import annotations

from typing import Any

import torch

from adrpo_nb.models.causal_lm import CausalLMAdapter
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer

__all__ = ["gsm8k_format", "real_setup"]


def real_setup(model: str = "qwen2", task: str = "tldr", *, lora_rank: int = 16, max_new_tokens: int | None = None,
               dataset_size: int | None = None) -> tuple[CausalLMAdapter, list, Any]:  # fmt: skip
    """The paper-like set-up: ``(adapter, reward_funcs, dataset)`` for a Qwen model with a fresh LoRA.

    ``model``: ``"qwen2"`` (``Qwen/Qwen2-0.5B-Instruct``), ``"qwen3"`` (``Qwen/Qwen3-0.6B``) or a hub id.
    ``task``: ``"tldr"`` (``trl-lib/tldr`` scored by ``weqweasdas/RM-Gemma-2B``, TRL's GRPO example) or
    ``"gsm8k"`` (``openai/gsm8k``, exact match of the final number plus a format reward).
    Needs the hub (or a local cache) and a GPU for reasonable speed.
    """
    from datasets import load_dataset
    from peft import LoraConfig

    from adrpo_nb.experiments.qwen.family import REAL_MODELS
    from adrpo_nb.models.causal_lm import load_causal_lm
    from adrpo_nb.rewards.text import RewardModelReward, gsm8k_answer_value, gsm8k_correct

    model_id = REAL_MODELS.get(model, model)
    if task not in ("tldr", "gsm8k"):
        raise ValueError(f"task must be 'tldr' or 'gsm8k', got task={task!r}")
    device = "cuda" if torch.cuda.is_available() else None
    dtype = torch.bfloat16 if device == "cuda" else None
    lora = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])  # fmt: skip
    adapter = load_causal_lm(model_id, lora=lora, dtype=dtype, device=device,
                             max_new_tokens=max_new_tokens or (64 if task == "tldr" else 256))  # fmt: skip
    if task == "tldr":
        data = load_dataset("trl-lib/tldr", split="train")
        rewards = [RewardModelReward()]
    else:
        system = ("Solve the problem. Think step by step inside <think>...</think>, then give only the final "
                  "number inside <answer>...</answer>.")  # fmt: skip
        data = load_dataset("openai/gsm8k", "main", split="train").map(lambda row: {
            "prompt": [{"role": "system", "content": system}, {"role": "user", "content": row["question"]}],
            "answer_value": gsm8k_answer_value(row["answer"])})  # fmt: skip
        rewards = [gsm8k_correct, gsm8k_format]
    if dataset_size is not None:
        data = data.select(range(min(dataset_size, len(data))))
    return adapter, rewards, data


def gsm8k_format(prompts, completions, completion_ids=None, **columns) -> list[float]:
    """0.2 when the completion has a ``<think>`` block followed by an ``<answer>`` block."""
    import re

    from adrpo_nb.rewards.text import completion_as_text

    return [0.2 * bool(re.search(r"<think>.*?</think>\s*<answer>.*?</answer>", completion_as_text(c), re.S))
            for c in completions]  # fmt: skip


def run_real(model: str, task: str, config: GRPOConfig) -> list[dict[str, float]]:
    """Train the real path and return its history (logged every iteration; checkpoints in ``config.output_dir``)."""
    adapter, rewards, data = real_setup(model, task)
    return GRPOTrainer(adapter, rewards, data, config).train()
