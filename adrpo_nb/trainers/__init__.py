"""Trainers: one per model family, each with the ``method`` switch.

* :class:`FlowMatchingRLTrainer` (``adrpo``, ``fixed``, ``none``, ``orw``, ``dpo``) for flow-matching models
  (the MNIST latent flow, SD3 + LoRA) behind a :class:`~adrpo_nb.types.FlowAdapter`;
* :class:`GRPOTrainer` (``adrpo``, ``fixed``, ``none``) for causal LMs (Qwen, Qwen2-Audio) behind an
  :class:`~adrpo_nb.types.LMAdapter` (:class:`~adrpo_nb.models.causal_lm.CausalLMAdapter` is one).

The types they share with the models live below both, in :mod:`adrpo_nb.types`; no trainer imports a model.
"""

from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer
from adrpo_nb.types import FlowAdapter, FlowSamples, LMAdapter, Rollout

__all__ = [
    "FlowAdapter",
    "FlowMatchingRLConfig",
    "FlowMatchingRLTrainer",
    "FlowSamples",
    "GRPOConfig",
    "GRPOTrainer",
    "LMAdapter",
    "Rollout",
]
