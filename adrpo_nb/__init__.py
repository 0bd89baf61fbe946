"""adrpo_nb: Adaptive Divergence Regularized Policy Optimization, as a book and a small library.

The paper's math lives in :mod:`adrpo_nb.core` and is re-exported here::

    from adrpo_nb import adaptive_beta, group_advantages, fm_rl_loss, grpo_loss, kl_k3
"""

from adrpo_nb.core import (
    FM_METHODS,
    GRPO_LOSS_TYPES,
    GRPO_METHODS,
    adaptive_beta,
    clip_advantages,
    diffusion_dpo_loss,
    fm_rl_loss,
    group_advantages,
    grpo_loss,
    kl_k3,
    optimal_velocity,
)

__version__ = "0.1.0"

__all__ = [
    "FM_METHODS",
    "GRPO_LOSS_TYPES",
    "GRPO_METHODS",
    "adaptive_beta",
    "clip_advantages",
    "diffusion_dpo_loss",
    "fm_rl_loss",
    "group_advantages",
    "grpo_loss",
    "kl_k3",
    "optimal_velocity",
    "__version__",
]
