"""Learning from failures (chapter 3.3, the bidirectional signal): fine-tune the shipped flow on the base model's
*poor* samples only, and measure how far each method moves the digits away from them (:func:`learning_from_failures`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from adrpo_nb.core import group_advantages
from adrpo_nb.experiments.mnist.family import evaluate_velocity, even_digits
from adrpo_nb.models.mnist import LatentFlowAdapter, load_base_model
from adrpo_nb.rewards.mnist import EVEN_DIGITS
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.types import FlowSamples

__all__ = ["learning_from_failures"]


def learning_from_failures(
    method: str = "adrpo", beta0: float = 0.05, iterations: int = 30, n: int = 512, seed: int = 0,
    eval_samples: int = 1024,
) -> dict[str, Any]:
    """Fine-tune on the base model's *poor* samples only (advantage < 0, mostly odd digits).

    The same batch is reused every iteration (a fixed-batch adapter) with its advantages against
    the full batch (the ``advantage_fn`` hook). Methods with a signed advantage (``adrpo``,
    ``fixed``) push the policy away from these samples, so the share of even digits rises although
    no good sample was ever shown; ``orw``'s positive weights exp(τ·r) can only pull toward them.
    Returns the class histograms before and after, and the share of even digits.
    """
    base = load_base_model()
    gen = torch.Generator().manual_seed(seed)
    latents = base.sample_latents(n, gen)
    images = base.decode(latents)
    advantages = group_advantages(even_digits(images), n)
    poor = advantages < 0
    batch = FlowSamples(latents=latents[poor], outputs=images[poor])

    class FixedBatchAdapter(LatentFlowAdapter):
        def sample(self, n: int, generator: torch.Generator, group_size: int | None = None) -> FlowSamples:
            return batch

    cfg = FlowMatchingRLConfig(method=method, beta0=beta0, iterations=iterations, samples_per_iteration=len(batch),
                               minibatch_size=len(batch), updates_per_iteration=1, seed=seed,
                               progress=False)  # fmt: skip
    adapter = FixedBatchAdapter(base)
    signed = method not in ("orw", "dpo")  # orw weighs the raw rewards; it takes no advantage_fn
    FlowMatchingRLTrainer(adapter, even_digits, cfg, advantage_fn=(lambda r, s: advantages[poor]) if signed else None
                          ).train()  # fmt: skip
    before, _ = evaluate_velocity(base, n=eval_samples)
    after, _ = evaluate_velocity(base, adapter.policy, n=eval_samples)
    even = list(EVEN_DIGITS)
    return {
        "method": method, "beta0": beta0, "iterations": iterations, "poor_samples": int(poor.sum()),
        "poor_share_even": float(np.isin(np.argmax(_probs(images[poor]), 1), even).mean()),
        "before": before["class_histogram"], "after": after["class_histogram"],
        "even_share_before": float(np.sum(np.array(before["class_histogram"])[even])),
        "even_share_after": float(np.sum(np.array(after["class_histogram"])[even])),
        "reward_before": before["reward"], "reward_after": after["reward"],
    }  # fmt: skip


def _probs(images: torch.Tensor) -> np.ndarray:
    return even_digits.score_with_info(images)[1]["probs"].numpy()
