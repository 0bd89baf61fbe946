"""adrpo_nb: Adaptive Divergence Regularized Policy Optimization, as a book and a small library.

The front door: the paper's math (:mod:`adrpo_nb.core`), both trainers with their configs and the
types a model family implements::

    from adrpo_nb import FlowMatchingRLTrainer, FlowMatchingRLConfig, GRPOTrainer, GRPOConfig
    from adrpo_nb import effective_beta, group_advantages, fm_rl_loss, grpo_loss, kl_k3

Layers, top to bottom (a module imports only from layers below it; ``tests/test_layers.py`` checks it):
``experiments`` → ``viz`` → ``trainers`` / ``integrations`` → ``models`` → ``rewards`` / ``tasks`` →
``metrics`` / ``sampling`` / ``notebook`` → ``types`` → ``core`` → ``utils``. What models and trainers share
(samples, the adapter protocols, the reward signatures) is :mod:`adrpo_nb.types`, below both. The TRL
integration is :class:`adrpo_nb.integrations.trl.ADRPOGRPOTrainer` (extra ``adrpo-nb[trl]``).
"""

from adrpo_nb.core import (
    FM_METHODS,
    GRPO_LOSS_TYPES,
    GRPO_METHODS,
    METHODS,
    adaptive_beta,
    clip_advantages,
    diffusion_dpo_loss,
    effective_beta,
    fm_rl_loss,
    group_advantages,
    grpo_loss,
    kl_k3,
    optimal_velocity,
    resolve_clip,
)
from adrpo_nb.trainers import (
    FlowAdapter,
    FlowMatchingRLConfig,
    FlowMatchingRLTrainer,
    FlowSamples,
    GRPOConfig,
    GRPOTrainer,
    LMAdapter,
    Rollout,
)

__version__ = "0.1.0"

__all__ = [
    "FM_METHODS",
    "GRPO_LOSS_TYPES",
    "GRPO_METHODS",
    "METHODS",
    "FlowAdapter",
    "FlowMatchingRLConfig",
    "FlowMatchingRLTrainer",
    "FlowSamples",
    "GRPOConfig",
    "GRPOTrainer",
    "LMAdapter",
    "Rollout",
    "adaptive_beta",
    "clip_advantages",
    "diffusion_dpo_loss",
    "effective_beta",
    "resolve_clip",
    "fm_rl_loss",
    "group_advantages",
    "grpo_loss",
    "kl_k3",
    "optimal_velocity",
    "__version__",
]
