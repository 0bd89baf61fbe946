"""The types models and trainers share: samples, the adapter protocols, the reward signatures (no module code).

This module sits below both ``models`` and ``trainers`` (just above ``core``, see ``tests/test_layers.py``),
so a model family implements a protocol here and never imports a trainer, and a trainer names the protocol
and never imports a model:

* flow models: ``FlowSamples`` and the ``FlowAdapter`` protocol
  (:class:`~adrpo_nb.trainers.flow_matching.FlowMatchingRLTrainer`);
* causal LMs: ``Rollout`` and the ``LMAdapter`` protocol (:class:`~adrpo_nb.trainers.grpo.GRPOTrainer`;
  :class:`~adrpo_nb.models.causal_lm.CausalLMAdapter` implements it for any transformers causal LM);
* the callables the trainers accept: ``FlowRewardFn``, ``TextRewardFn``, ``AdvantageFn``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import torch

__all__ = ["AdvantageFn", "FlowAdapter", "FlowRewardFn", "FlowSamples", "LMAdapter", "Rollout", "TextRewardFn"]


@dataclass
class FlowSamples:
    """A batch drawn from the policy: what is trained on (``latents``) and what is scored (``outputs``)."""

    latents: torch.Tensor
    outputs: Any
    prompts: list[str] | None = None
    metadata: list[dict] | None = None
    conditioning: Any = None  # per-sample conditioning the adapter's velocity needs (e.g. prompt embeddings)

    def __len__(self) -> int:
        return self.latents.shape[0]


class FlowAdapter(Protocol):
    """What the trainer needs from a model family. ``policy`` is the trainable ``nn.Module``.

    The interpolation convention is the adapter's: MNIST's latent flow runs from noise (t = 0) to
    data (t = 1) with target ``x1 − x0``; SD3 from data (σ = 0) to noise (σ = 1) with target
    ``noise − x0`` and timestep ``σ·1000``. The trainer only pairs ``v`` with ``u``.
    """

    policy: torch.nn.Module

    def to(self, device: torch.device) -> FlowAdapter: ...

    def sample(self, n: int, generator: torch.Generator, group_size: int | None = None) -> FlowSamples:
        """Draw ``n`` samples from the current policy (no gradients), ``group_size`` per prompt."""

    def draw_noise_and_time(
        self, latents: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh noise like ``latents`` and one time per sample, drawn with ``generator``."""

    def interpolate(
        self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_t, u)``: the point on the path from ``latents`` to ``noise`` at ``t`` and its target velocity."""

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, conditioning: Any = None) -> torch.Tensor:
        """The policy's velocity (with gradients)."""

    def reference_velocity(self, x_t: torch.Tensor, t: torch.Tensor, conditioning: Any = None) -> torch.Tensor:
        """The frozen reference's velocity (no gradients)."""

    def select(self, samples: FlowSamples, index: torch.Tensor) -> Any:
        """The conditioning of the samples at ``index`` (``None`` for unconditional models)."""


@dataclass
class Rollout:
    """Completions sampled for a batch of prompts, K per prompt, laid out prompt by prompt.

    ``prompt_ids`` are left-padded, ``completion_ids`` right-padded; ``completion_mask`` is 1 on
    the completion's tokens up to and including its end-of-text token. ``prompts`` and ``columns``
    hold one entry per completion (each prompt's row repeated K times), as TRL passes them to rewards.
    """

    prompts: list[Any]
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    completions: list[str]
    columns: dict[str, list] = field(default_factory=dict)
    model_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    truncated: torch.Tensor | None = None  # True where a completion was cut at max_new_tokens (no end-of-text)

    def __len__(self) -> int:
        return self.completion_ids.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        """Number of tokens of each completion (its end-of-text token included)."""
        return self.completion_mask.sum(dim=1)

    def select(self, index: torch.Tensor) -> Rollout:
        """The rollout restricted to the rows in ``index`` (a 1-D long tensor)."""
        rows = index.tolist()
        picked = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                picked[f.name] = value[index.to(value.device)]
            elif isinstance(value, dict):
                picked[f.name] = {k: (v[index.to(v.device)] if isinstance(v, torch.Tensor) else [v[i] for i in rows])
                                  for k, v in value.items()}  # fmt: skip
            elif value is None:
                picked[f.name] = None
            else:
                picked[f.name] = [value[i] for i in rows]
        return Rollout(**picked)


class LMAdapter(Protocol):
    """What :class:`~adrpo_nb.trainers.grpo.GRPOTrainer` needs from a causal LM. ``policy`` is the trainable module.

    :class:`~adrpo_nb.models.causal_lm.CausalLMAdapter` implements it for any transformers causal LM (LoRA or
    full fine-tuning); :class:`~adrpo_nb.models.audio_lm.AudioLMAdapter` subclasses that for audio LLMs.
    """

    policy: torch.nn.Module
    max_new_tokens: int  # the longest completion (the ``dr_grpo`` loss normalises by it)

    def to(self, device: torch.device | str) -> LMAdapter: ...

    def generate(self, prompts: Sequence[Any], num_generations: int, generator: torch.Generator,
                 columns: dict[str, list] | None = None) -> Rollout:  # fmt: skip
        """``num_generations`` completions per prompt, prompt-major, sampled without gradients from ``generator``;
        ``columns`` (one list entry per prompt) come back repeated per completion in ``Rollout.columns``."""

    def logprobs(self, rollout: Rollout, *, with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-token log-probs ``(N, C)`` of the completions under the policy (with gradients; 0 on padding)
        and, when asked, their token entropies ``(N, C)`` (detached), else ``None``."""

    def reference_logprobs(self, rollout: Rollout) -> torch.Tensor:
        """Per-token log-probs ``(N, C)`` under the frozen reference (no gradients)."""

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters that train (a LoRA policy: its adapter weights), what a checkpoint stores."""

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`trainable_state_dict` output; a ``KeyError`` names missing or unexpected tensors."""


#: a flow model's reward: ``reward(outputs) -> Tensor[N]`` or, for prompted models,
#: ``reward(outputs, prompts, metadata) -> (scores, info)`` (``None`` entries: not applicable)
FlowRewardFn = Callable[..., Any]
#: a reward in TRL's signature: ``reward(prompts, completions, completion_ids, **columns) -> list[float | None]``
TextRewardFn = Callable[..., Sequence[float | None]]
#: ``advantage_fn(rewards, samples_or_rollout) -> Tensor[N]``: replaces the group baseline
AdvantageFn = Callable[[torch.Tensor, Any], torch.Tensor]
