r"""ADRPO inside TRL: :class:`ADRPOGRPOTrainer`, a ``trl.GRPOTrainer`` whose KL coefficient is per sample.

TRL's loss adds ``self.beta * per_token_kl`` to the clipped policy-gradient term. This subclass
replaces the scalar ``self.beta`` by :class:`PerSampleBeta`, an object that multiplies each row of
``per_token_kl`` by its own

.. math::  \beta_i = \beta_0 - \operatorname{clip}(A_i, a_{\min}, a_{\max})

(:func:`adrpo_nb.adaptive_beta`, with TRL's own group-normalised advantages of the batch), set
just before TRL computes the loss. Everything else is TRL's: vLLM generation, DeepSpeed/FSDP,
multi-node, every ``loss_type``, importance-sampling corrections, logging. Install with
``pip install adrpo-nb[trl]``.

Three of TRL's behaviours to know:

* TRL's ``GRPOConfig.beta`` **defaults to 0.0**, and at β0 = 0 ADRPO's default clip makes every
  β_i zero: ``method="adrpo"`` with ``beta0 = 0`` (also when it comes from ``args.beta``) is a
  ``ValueError`` (:func:`adrpo_nb.core.check_adrpo_beta0`), not a silent β = 0 run. So TRL, which
  builds a reference model only when ``beta != 0``, always builds one for ADRPO (``args.beta = beta0``,
  set on the trainer's copy of ``args``: the caller's ``GRPOConfig`` is left as it was).
* TRL 1.16's ``use_bias_correction_kl`` **defaults to True**: its KL term is k3 times the importance ratio
  (value 1 on-policy, but the ratio's gradient adds ``k3 * grad log pi``), so the gradients are those of
  :func:`adrpo_nb.grpo_loss` only with ``GRPOConfig(use_bias_correction_kl=False)``. Left as TRL has it:
  β_i multiplies whichever KL term TRL computes.
* With a **pretrained PEFT adapter** (a ``PeftModel`` passed in), TRL's reference is a frozen
  clone of the adapter named ``"ref"`` (created because ``beta != 0``), so the reference is the
  adapter you started from, not the base model.

Verified with ``trl>=1.16,<1.17`` (the ``trl`` extra pins that range): the integration relies on the
line ``per_token_loss + self.beta * per_token_kl`` of ``GRPOTrainer._compute_loss`` and checks at
construction that it is still there.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any

import torch

from adrpo_nb.core import (
    GRPO_METHODS,
    beta_eff_stats,
    check_adrpo_beta0,
    check_beta0,
    check_clip,
    effective_beta,
    resolve_clip,
)

try:
    import trl
    from trl import GRPOConfig, GRPOTrainer
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("adrpo_nb.integrations.trl needs TRL: pip install 'adrpo-nb[trl]'") from err

__all__ = ["SUPPORTED_TRL", "ADRPOGRPOTrainer", "PerSampleBeta"]

#: the TRL versions this integration was verified against
SUPPORTED_TRL = ">=1.16,<1.17"
_HOOKS = ("self.beta * per_token_kl", "if self.beta != 0.0:")


class PerSampleBeta:
    """The per-sample coefficient standing in for TRL's scalar ``beta``.

    ``beta * per_token_kl`` multiplies row ``i`` by ``β_i``; comparisons with a number say
    "not zero" (so TRL always computes the reference's log-probs and logs ``kl``); ``float(beta)``
    is ``beta0``. :meth:`set_advantages` must be called with the batch's advantages first.
    """

    __hash__ = object.__hash__

    def __init__(self, beta0: float, clip: tuple[float, float] | None):
        self.beta0, self.clip = check_beta0(beta0), check_clip(clip)
        self.values: torch.Tensor | None = None

    def set_advantages(self, advantages: torch.Tensor) -> torch.Tensor:
        """Compute and keep ``β_i = beta0 − clip(A_i)`` for the batch about to be scored; returns them."""
        if advantages.dim() != 1:
            raise ValueError(f"ADRPO needs one advantage per completion, got advantages of shape "
                             f"{tuple(advantages.shape)}")  # fmt: skip
        self.values = effective_beta("adrpo", advantages.detach().float(), self.beta0, self.clip)
        return self.values

    def __mul__(self, other: torch.Tensor) -> torch.Tensor:
        if self.values is None:
            raise RuntimeError("PerSampleBeta used before set_advantages(): no batch's coefficients are known")
        if not isinstance(other, torch.Tensor) or other.shape[0] != self.values.shape[0]:
            shape = tuple(other.shape) if isinstance(other, torch.Tensor) else type(other).__name__
            raise ValueError(f"per-sample beta has {self.values.shape[0]} rows, the KL term has shape {shape}")
        values = self.values.to(device=other.device, dtype=other.dtype)
        return values.reshape(-1, *([1] * (other.dim() - 1))) * other

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        return other is self

    def __ne__(self, other: object) -> bool:
        return other is not self

    def __float__(self) -> float:
        return self.beta0

    def __repr__(self) -> str:
        return f"PerSampleBeta(beta0={self.beta0}, clip={self.clip})"


def _check_trl() -> None:
    source = inspect.getsource(GRPOTrainer._compute_loss) + inspect.getsource(GRPOTrainer)
    missing = [hook for hook in _HOOKS if hook not in source]
    if missing:
        raise RuntimeError(
            f"trl {trl.__version__}'s GRPOTrainer no longer contains {missing}; adrpo_nb.integrations.trl was "
            f"verified with trl{SUPPORTED_TRL} and would silently train with a scalar beta. Install that range."
        )
    from packaging.version import Version

    if not (Version("1.16") <= Version(trl.__version__) < Version("1.17")):
        warnings.warn(f"adrpo_nb.integrations.trl was verified with trl{SUPPORTED_TRL}, found {trl.__version__}",
                      stacklevel=3)  # fmt: skip


class ADRPOGRPOTrainer(GRPOTrainer):
    """``trl.GRPOTrainer`` with ``method ∈ {adrpo, fixed, none}`` and a per-sample KL coefficient for ``adrpo``.

    Takes every argument of ``trl.GRPOTrainer`` plus, keyword-only:

    Args:
        method: ``"adrpo"`` (β_i = β0 − clip(A_i)), ``"fixed"`` (stock GRPO with β0), ``"none"`` (β = 0,
            no reference model).
        beta0: β0; default ``args.beta`` (TRL's default 0.0 is refused for ``adrpo``: pass ``beta0`` or
            ``GRPOConfig(beta=...)``).
        clip: ``"auto"`` = ``(-beta0, beta0)`` for ``adrpo`` (β_i ∈ [0, 2β0]), ``None`` = unclipped (β_i
            may be negative for good samples), or ``(a_min, a_max)``.

    Logs TRL's metrics plus ``beta_eff/mean``, ``beta_eff/min``, ``beta_eff/max``, ``beta_eff/frac_negative``
    (``adrpo``). ``last_beta_eff``: the β_i of the last batch this process scored (1-D, one per completion, in
    the order of that batch's ``advantages``), as :class:`~adrpo_nb.trainers.grpo.GRPOTrainer` keeps it;
    ``None`` before the first.
    """

    def __init__(self, model: Any, reward_funcs: Any = None, args: GRPOConfig | None = None, *positional: Any,
                 method: str = "adrpo", beta0: float | None = None, clip: Any = "auto", **kwargs: Any):  # fmt: skip
        _check_trl()
        if method not in GRPO_METHODS:
            raise ValueError(f"method must be one of {GRPO_METHODS}, got method={method!r}")
        if args is None:
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "model")
            args = GRPOConfig(f"{str(name).split('/')[-1]}-ADRPO")
        beta0 = check_beta0(args.beta if beta0 is None else beta0)
        check_adrpo_beta0(method, beta0)
        clip = resolve_clip(clip, method, beta0)
        self.method, self.beta0, self.adrpo_clip = method, beta0, clip
        self.last_beta_eff: torch.Tensor | None = None
        # TRL builds the reference (a model copy, or the "ref" clone of a pretrained adapter) when beta != 0:
        # always for adrpo (beta0 > 0), never for none. On a copy: the caller's args keep their beta (a method="none"
        # trainer must not turn a later method="fixed" trainer on the same args into a beta = 0 run).
        args = copy.copy(args)
        args.beta = beta0 if method != "none" else 0.0
        super().__init__(model, reward_funcs, args, *positional, **kwargs)
        if method == "adrpo":
            self.beta = PerSampleBeta(beta0, clip)
        else:
            self.beta = beta0 if method == "fixed" else 0.0

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        if isinstance(self.beta, PerSampleBeta):
            self.last_beta_eff = self.beta.set_advantages(inputs["advantages"])
            self._log_beta_eff(self.last_beta_eff)
        else:
            self.last_beta_eff = effective_beta(self.method, inputs["advantages"].detach(), self.beta0)
        return super()._compute_loss(model, inputs)

    def _log_beta_eff(self, beta: torch.Tensor) -> None:
        mode = "train" if self.model.training else "eval"
        everything = self.accelerator.gather(beta.to(self.accelerator.device))
        for key, value in beta_eff_stats(everything).items():
            self._metrics[mode][key].append(value)
