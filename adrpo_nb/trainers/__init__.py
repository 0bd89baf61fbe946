"""Trainers: one per model family, each with the ``method`` switch.

* :class:`FlowMatchingRLTrainer` (``adrpo``, ``fixed``, ``none``, ``orw``, ``dpo``) for flow-matching models
  (the MNIST latent flow, SD3 + LoRA) behind a :class:`~adrpo_nb.trainers.types.FlowAdapter`;
* :class:`GRPOTrainer` (``adrpo``, ``fixed``, ``none``) for causal LMs (Qwen, Qwen2-Audio) behind a
  :class:`~adrpo_nb.models.causal_lm.CausalLMAdapter`.
"""

from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.trainers.grpo import GRPOConfig, GRPOTrainer
from adrpo_nb.trainers.types import FlowAdapter, FlowSamples, Rollout

__all__ = [
    "FlowAdapter",
    "FlowMatchingRLConfig",
    "FlowMatchingRLTrainer",
    "FlowSamples",
    "GRPOConfig",
    "GRPOTrainer",
    "Rollout",
]
