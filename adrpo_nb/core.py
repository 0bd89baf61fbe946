r"""The paper's math as pure torch functions: no model, no trainer, no data.

ADRPO (Fan et al., NeurIPS 2025) replaces the fixed divergence coefficient of RL fine-tuning
by a per-sample one,

.. math::

    \mathcal L_{\text{ADRPO}} = \mathcal L_{\text{RL}} + (\beta_0 - \hat A)\,\mathcal L_D,
    \qquad \beta_{\text{eff}} = \beta_0 - \operatorname{clip}(A, A_{\min}, A_{\max}),

so that samples that beat their group (A > 0) are regularised less and poor ones (A < 0) more.

Sign conventions used everywhere in this package

* An *advantage* ``A`` is "how much better than its group": positive is good.
* ``beta_eff = beta0 - A_clipped``; it may be negative for very good samples when the clip
  range allows ``A > beta0`` (the function reports how often that happens).
* Every loss is something to **minimise**.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

__all__ = [
    "FM_METHODS",
    "METHODS",
    "check_adrpo_beta0",
    "check_advantage_std",
    "beta_eff_stats",
    "check_beta0",
    "check_clip",
    "check_completion_mask",
    "check_dpo_inputs",
    "check_finite",
    "check_fm_inputs",
    "check_grpo_inputs",
    "check_settings",
    "effective_beta",
    "resolve_clip",
    "ADVANTAGE_STDS",
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
    "orw_loss",
]

#: every method of this package: the adaptive coefficient, a fixed one, none, ORW-CFM-W2, Diffusion-DPO
METHODS = ("adrpo", "fixed", "none", "orw", "dpo")
FM_METHODS = ("adrpo", "fixed", "none", "orw")
FMMethod = Literal["adrpo", "fixed", "none", "orw"]
#: the group standard deviations :func:`group_advantages` can divide by (``"unbiased"`` = TRL's, the default)
ADVANTAGE_STDS = ("unbiased", "population")
Clip = tuple[float, float] | Sequence[float] | None


# --------------------------------------------------------------------------------------
# validation helpers (errors name the offending value)
# --------------------------------------------------------------------------------------
def check_beta0(beta0: float) -> float:
    """``beta0`` as a float; ``ValueError`` naming it unless it is a finite number ``>= 0``."""
    if isinstance(beta0, (str, bytes, bool)):
        raise TypeError(f"beta0 must be a number, got beta0={beta0!r}")
    try:
        beta0 = float(beta0)
    except (TypeError, ValueError):  # None, a list, ...
        raise TypeError(f"beta0 must be a number, got beta0={beta0!r} ({type(beta0).__name__})") from None
    if not math.isfinite(beta0) or beta0 < 0:
        raise ValueError(f"beta0 must be a finite number >= 0, got beta0={beta0!r}")
    return beta0


def check_clip(clip: Clip) -> tuple[float, float] | None:
    """``clip`` as ``None`` or a float pair ``(a_min, a_max)`` with ``a_min <= a_max``; ``ValueError`` otherwise."""
    if clip is None:
        return None
    try:
        a_min, a_max = (float(c) for c in clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip must be None or a pair (a_min, a_max), got clip={clip!r}") from None
    if math.isnan(a_min) or math.isnan(a_max):
        raise ValueError(f"clip bounds must not be NaN, got clip={clip!r}")
    if a_min > a_max:
        raise ValueError(f"clip needs a_min <= a_max, got a_min={a_min!r} > a_max={a_max!r}")
    return a_min, a_max


def check_finite(name: str, x: torch.Tensor) -> None:
    """``ValueError`` naming ``name``, the first non-finite value and its index (a tuple for N-D tensors)."""
    bad = ~torch.isfinite(x)
    if bad.any():
        flat = int(bad.reshape(-1).nonzero()[0, 0])
        value = x.reshape(-1)[flat].item()
        where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), x.shape)) if x.dim() > 1 else flat
        raise ValueError(f"{name} must be finite, found {value!r} at index {where} (of {x.numel()})")


def _as_1d(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of one value per sample, got shape {tuple(x.shape)}")
    return x


def resolve_clip(clip: Clip | str, method: str, beta0: float) -> tuple[float, float] | None:
    """The advantage clip a run uses: ``"auto"`` is ``(-beta0, beta0)`` for ``adrpo`` (β_eff ∈ [0, 2β0]) and
    ``None`` for every other method; a pair or ``None`` is checked and returned. A clip with a method other
    than ``adrpo`` is an error (no other method reads it)."""
    if isinstance(clip, str):
        if clip != "auto":
            raise ValueError(f"clip must be 'auto', None or a pair (a_min, a_max), got clip={clip!r}")
        return (-float(beta0), float(beta0)) if method == "adrpo" else None
    bounds = check_clip(clip)
    if bounds is not None and method != "adrpo":
        raise ValueError(f"clip is only used by method='adrpo', got clip={clip!r} with method={method!r}")
    return bounds


def check_adrpo_beta0(method: str, beta0: float) -> None:
    """ADRPO needs ``beta0 > 0``: at 0 its default clip makes every β_i zero (plain β = 0 labelled ADRPO), and
    without a clip the flow-matching loss is linear in v (no minimum)."""
    if method == "adrpo" and beta0 == 0:
        raise ValueError("method='adrpo' needs beta0 > 0, got beta0=0.0: with beta0 = 0 every β_i is 0 under the "
                         "default clip (this is method='none'); pass beta0 > 0 or method='none'")


def check_settings(method: str, beta0: float, clip: Clip, methods: Sequence[str] = METHODS
                   ) -> tuple[float, tuple[float, float] | None]:  # fmt: skip
    """The checks of ``(method, beta0, clip)`` every loss makes once: ``method`` one of ``methods``, ``beta0`` a
    finite number ``>= 0`` (``> 0`` for ``adrpo``), ``clip`` ``None`` or a pair, and only with ``adrpo``.
    Returns ``(beta0, clip)`` as floats."""
    if method not in methods:
        raise ValueError(f"method must be one of {tuple(methods)}, got method={method!r}")
    beta0 = check_beta0(beta0)
    check_adrpo_beta0(method, beta0)
    bounds = check_clip(clip)
    if bounds is not None and method != "adrpo":
        raise ValueError(f"clip is only used by method='adrpo', got clip={clip!r} with method={method!r}")
    return beta0, bounds


# --------------------------------------------------------------------------------------
# advantages and the adaptive coefficient
# --------------------------------------------------------------------------------------
def effective_beta(method: str, advantages: torch.Tensor, beta0: float, clip: Clip = None) -> torch.Tensor:
    r"""The per-sample divergence coefficient of every method: the ONE β rule of this package.

    * ``adrpo``: :math:`\beta_i = \beta_0 - \operatorname{clip}(A_i, a_{\min}, a_{\max})`
    * ``fixed``, ``orw``, ``dpo``: :math:`\beta_i = \beta_0`
    * ``none``: :math:`\beta_i = 0`

    Args:
        method: one of :data:`METHODS`.
        advantages: ``(N,)`` advantages (any shape; only ``adrpo`` reads their values).
        beta0: :math:`\beta_0 \ge 0`.
        clip: ``(a_min, a_max)`` or ``None`` (already resolved: see :func:`resolve_clip`); ``adrpo`` only.

    Returns:
        A float tensor shaped like ``advantages``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got method={method!r}")
    advantages = torch.as_tensor(advantages)
    beta0 = check_beta0(beta0)
    if method == "adrpo":
        clip = check_clip(clip)
        check_finite("advantages", advantages)
    return _effective_beta(method, advantages, beta0, clip)


def _effective_beta(method: str, advantages: torch.Tensor, beta0: float, clip: tuple[float, float] | None
                    ) -> torch.Tensor:  # fmt: skip
    """:func:`effective_beta` on inputs already checked (the losses' path: their checker ran once before)."""
    if method == "adrpo":
        return beta0 - (advantages if clip is None else advantages.clamp(*clip))
    return torch.full(advantages.shape, 0.0 if method == "none" else beta0, dtype=torch.float32,
                      device=advantages.device)  # fmt: skip


def beta_eff_stats(beta: torch.Tensor) -> dict[str, float]:
    """What every loss, trainer and integration logs of a batch's coefficients β_i: ``beta_eff/mean``,
    ``beta_eff/min``, ``beta_eff/max`` and ``beta_eff/frac_negative`` (the share of β_i < 0)."""
    return {
        "beta_eff/mean": beta.mean().item(),
        "beta_eff/min": beta.min().item(),
        "beta_eff/max": beta.max().item(),
        "beta_eff/frac_negative": (beta < 0).float().mean().item(),
    }


def _frac_clipped(advantages: torch.Tensor, clip: tuple[float, float] | None) -> float:
    """Share of advantages outside ``clip`` (0 without one): the ``adv/frac_clipped`` of the losses' stats."""
    if clip is None:
        return 0.0
    return ((advantages < clip[0]) | (advantages > clip[1])).float().mean().item()


def adaptive_beta(advantages: torch.Tensor, beta0: float, clip: Clip = None) -> torch.Tensor:
    r"""The per-sample coefficient :math:`\beta_{\text{eff}} = \beta_0 - \operatorname{clip}(A, a_{\min}, a_{\max})`.

    Args:
        advantages: tensor of advantages ``A`` (any shape; positive = better than the group).
        beta0: the base coefficient :math:`\beta_0 \ge 0`.
        clip: ``(a_min, a_max)`` bounds for the advantage, or ``None`` for no clipping.
            With ``clip=(-beta0, beta0)`` the result lies in ``[0, 2*beta0]``.

    Returns:
        A tensor like ``advantages``. It is negative wherever the clipped advantage exceeds ``beta0``.

    Raises:
        ValueError: ``beta0 < 0``, ``a_min > a_max``, or a non-finite advantage.
    """
    beta0 = check_beta0(beta0)
    return beta0 - clip_advantages(advantages, clip)


def clip_advantages(advantages: torch.Tensor, clip: Clip = None) -> torch.Tensor:
    """``advantages.clamp(a_min, a_max)`` after checking the bounds and that every advantage is finite."""
    bounds = check_clip(clip)
    advantages = torch.as_tensor(advantages)
    check_finite("advantages", advantages)
    return advantages if bounds is None else advantages.clamp(*bounds)


def check_advantage_std(std: str) -> str:
    """``std`` if it is one of :data:`ADVANTAGE_STDS`; ``ValueError`` naming it otherwise."""
    if std not in ADVANTAGE_STDS:
        raise ValueError(f"std must be one of {ADVANTAGE_STDS}, got std={std!r}")
    return std


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: bool = False, eps: float = 1e-6, std: str = "unbiased"
) -> torch.Tensor:
    r"""Advantage of each sample against the other samples generated for the same prompt.

    ``rewards`` is laid out as contiguous groups of ``group_size`` samples (all completions of
    prompt 0, then of prompt 1, ...). For sample ``i`` of group ``g``

    .. math::  A_i = r_i - \bar r_g \quad\text{or, with } \texttt{scale=True},\quad
               A_i = \frac{r_i - \bar r_g}{\operatorname{std}_g(r) + \epsilon}

    (GRPO's normalisation). ``std`` picks the standard deviation: ``"unbiased"`` (default; Bessel's
    correction, divide by K − 1) is what TRL's ``GRPOTrainer`` computes (``trl.trainer.utils.nanstd``,
    with ε = 1e-4), ``"population"`` (divide by K) is this package's earlier choice, kept for the
    committed results made with it (×√((K−1)/K): at K = 8 the unbiased advantages are 0.935× the
    population ones). DeepSeekMath (Shao et al., 2024, §4.1.2) writes ``std(r)`` of the group's rewards
    without saying which; its reference implementation is not public. With ``group_size = 1`` every
    advantage is 0 (no baseline to compare with).

    Raises:
        ValueError: ``group_size < 1``, ``len(rewards)`` not a multiple of ``group_size``, an unknown
            ``std``, a NaN/inf reward (the message names the value and its index), or rewards so large that
            their advantages overflow float32 (it names their range).
    """
    rewards = _as_1d("rewards", rewards)
    check_advantage_std(std)
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got group_size={group_size!r}")
    if rewards.numel() == 0 or rewards.numel() % group_size != 0:
        raise ValueError(
            f"len(rewards)={rewards.numel()} is not a positive multiple of group_size={group_size}"
        )
    check_finite("rewards", rewards)
    groups = rewards.reshape(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale and group_size > 1:
        centred = centred / (groups.std(dim=1, unbiased=std == "unbiased", keepdim=True) + eps)
    if not torch.isfinite(centred).all():
        low, high = rewards.min().item(), rewards.max().item()
        raise ValueError(f"the group advantages of these rewards overflow float32 (rewards in [{low:.3g}, "
                         f"{high:.3g}]): rescale the reward")
    return centred.reshape(-1)


# --------------------------------------------------------------------------------------
# flow matching
# --------------------------------------------------------------------------------------
def _per_sample_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).flatten(1).mean(dim=1)


def fm_rl_loss(
    v: torch.Tensor,
    u: torch.Tensor,
    v_ref: torch.Tensor,
    advantages: torch.Tensor | None,
    *,
    method: FMMethod,
    beta0: float,
    clip: Clip = None,
    rewards: torch.Tensor | None = None,
    orw_temperature: float = 0.5,
    validate: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    r"""RL fine-tuning loss for a flow-matching (velocity) model, one of four methods.

    Per sample ``i`` (mean over all non-batch dimensions, ``v_ref`` detached):

    .. math::
        \text{fm}_i = \overline{(v_i - u_i)^2},\qquad \text{w2}_i = \overline{(v_i - v^{\text{ref}}_i)^2}

    and, with :math:`\hat A_i = \operatorname{clip}(A_i, a_{\min}, a_{\max})` (or :math:`A_i` if
    ``clip is None``):

    ==========  ====================================================================
    ``adrpo``   :math:`\hat A_i\,\text{fm}_i + (\beta_0 - \hat A_i)\,\text{w2}_i`  (ADRPO-FM)
    ``fixed``   :math:`A_i\,\text{fm}_i + \beta_0\,\text{w2}_i`
    ``none``    :math:`A_i\,\text{fm}_i`   (:math:`\beta = 0`)
    ``orw``     :math:`e^{\tau r_i}\,\text{fm}_i + \beta_0\,\text{w2}_i`  (ORW-CFM-W2, raw reward)
    ==========  ====================================================================

    The loss is the batch mean. Signs: ``A > 0`` pulls ``v`` toward the sample's conditional
    velocity ``u``; ``A < 0`` pushes it *away* (the bidirectional signal). ADRPO uses the
    clipped advantage in both terms, so a tight clip also dampens that signal.

    Per sample, for ``beta0 > 0``, the ADRPO loss is
    :math:`\beta_0\,\overline{(v - v^*)^2} + \text{const}` with
    :math:`v^* = v^{\text{ref}} + (\hat A/\beta_0)(u - v^{\text{ref}})` (see :func:`optimal_velocity`):
    convex with curvature :math:`\beta_0` whatever the sign of :math:`\beta_{\text{eff}}`.

    Args:
        v: policy velocity, shape ``(N, ...)`` (requires grad).
        u: conditional target velocity of each sample, same shape.
        v_ref: reference velocity, same shape (detached inside).
        advantages: ``(N,)`` advantages for ``adrpo``/``fixed``/``none``; must be ``None`` for ``orw``.
        method: ``"adrpo" | "fixed" | "none" | "orw"``.
        beta0: base coefficient :math:`\beta_0 \ge 0` (ignored by ``none``; ``adrpo`` needs
            :math:`\beta_0 > 0`, a ``ValueError`` otherwise: see :func:`check_adrpo_beta0`).
        clip: ``(a_min, a_max)`` for ``adrpo`` only.
        rewards: ``(N,)`` raw rewards, required by ``orw`` (and only used by it).
        orw_temperature: :math:`\tau` of ORW's weights :math:`e^{\tau r}` (``orw`` is :func:`orw_loss`).
        validate: check the inputs first (:func:`check_fm_inputs`: every error below names the bad value);
            ``False`` is for a caller that checked them once already (the trainer: its config and batch).

    Returns:
        ``(loss, stats)``: the scalar loss and a dict of floats with ``rl_term``, ``w2_term``
        (means of the two weighted terms), ``fm`` and ``w2`` (unweighted means),
        ``beta_eff/mean|min|max``, ``beta_eff/frac_negative`` (:func:`beta_eff_stats`), ``adv/frac_clipped``.

    Raises:
        ValueError: an unknown method, ``beta0 < 0`` (or 0 with ``adrpo``), ``clip`` with a method other than
            ``adrpo``, shapes that differ, a missing/extra signal for the method, a non-finite advantage or reward.
    """
    if validate:  # the checks, once (chapters show this source: lines ≤ 88)
        beta0, clip, advantages, rewards = check_fm_inputs(
            v, u, v_ref, advantages, method=method, beta0=beta0, clip=clip,
            rewards=rewards)  # fmt: skip
    if method == "orw":
        return orw_loss(v, u, v_ref, rewards, beta0=beta0, temperature=orw_temperature,
                        validate=False)  # fmt: skip
    a = advantages.detach().to(v.dtype)
    a_hat = a if clip is None else a.clamp(*clip)  # Â_i = clip(A_i, A_min, A_max)
    beta = _effective_beta(method, a, beta0, clip).to(a)  # β_i = β0 − Â_i | β0 | 0
    fm = _per_sample_mse(v, u)  # ‖v_i − u_i‖²
    w2 = _per_sample_mse(v, v_ref.detach())  # ‖v_i − v_ref,i‖²
    rl_term, w2_term = a_hat * fm, beta * w2
    loss = (rl_term + w2_term).mean()  # L = E[Â·‖v − u‖²] + E[β·‖v − v_ref‖²]
    clipped = _frac_clipped(a, clip)  # share of advantages outside the clip
    return loss, _fm_stats(loss, rl_term, w2_term, fm, w2, beta, clipped)


def orw_loss(
    v: torch.Tensor,
    u: torch.Tensor,
    v_ref: torch.Tensor,
    rewards: torch.Tensor,
    *,
    beta0: float,
    temperature: float = 0.5,
    validate: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    r"""ORW-CFM-W2 (Fan et al., ICLR 2025): reward-weighted flow matching with a fixed :math:`W_2` bound.

    .. math::
        \mathcal L_{\text{ORW}} = \mathbb E\big[e^{\tau r_i}\,\|v_i - u_i\|^2\big]
                               + \beta_0\,\mathbb E\big[\|v_i - v^{\text{ref}}_i\|^2\big]

    on *raw* rewards :math:`r` (no baseline: every sample is pulled toward its target, the good ones harder).
    ``fm_rl_loss(..., method="orw", rewards=r, orw_temperature=τ)`` is this loss; its stats are those of
    :func:`fm_rl_loss` (``adv/frac_clipped`` is 0). ``validate=False`` skips :func:`check_fm_inputs`.
    """
    if validate:  # the checks, once (chapters show this source: lines ≤ 88)
        beta0, _, _, rewards = check_fm_inputs(
            v, u, v_ref, None, method="orw", beta0=beta0, rewards=rewards
        )
    r = rewards.detach().to(v.dtype)
    weight = torch.exp(temperature * r)  # e^{τ r_i}
    beta = _effective_beta("orw", r, beta0, None).to(r)  # β_i = β0
    fm = _per_sample_mse(v, u)  # ‖v_i − u_i‖²
    w2 = _per_sample_mse(v, v_ref.detach())  # ‖v_i − v_ref,i‖²
    rl_term, w2_term = weight * fm, beta * w2
    loss = (rl_term + w2_term).mean()  # L = E[e^{τr}·‖v − u‖²] + β0·E[‖v − v_ref‖²]
    return loss, _fm_stats(loss, rl_term, w2_term, fm, w2, beta, 0.0)


def check_fm_inputs(
    v: torch.Tensor,
    u: torch.Tensor,
    v_ref: torch.Tensor,
    advantages: torch.Tensor | None,
    *,
    method: str,
    beta0: float,
    clip: Clip = None,
    rewards: torch.Tensor | None = None,
) -> tuple[float, tuple[float, float] | None, torch.Tensor | None, torch.Tensor | None]:
    """Every check of :func:`fm_rl_loss`'s (and :func:`orw_loss`'s) inputs, made once before the math.

    Returns ``(beta0, clip, advantages, rewards)`` as the loss reads them: floats, a float pair or ``None``, and
    1-D tensors in ``v``'s dtype (``rewards`` only for ``orw``, ``advantages`` for every other method).
    """
    beta0, bounds = check_settings(method, beta0, clip, FM_METHODS)
    if v.shape != u.shape or v.shape != v_ref.shape:
        raise ValueError(
            f"v, u and v_ref must have one shape, got {tuple(v.shape)}, {tuple(u.shape)}, {tuple(v_ref.shape)}"
        )
    if method == "orw":
        if advantages is not None:
            raise ValueError("method='orw' weights raw rewards, not advantages: pass advantages=None, rewards=...")
        if rewards is None:
            raise ValueError("method='orw' needs rewards=... (raw rewards, one per sample)")
        name, signal = "rewards", rewards
    else:
        if advantages is None:
            raise ValueError(f"method={method!r} needs advantages (one per sample), got None")
        name, signal = "advantages", advantages
    signal = _as_1d(name, signal).to(v.dtype)
    check_finite(name, signal)
    if signal.numel() != v.shape[0]:
        raise ValueError(f"need one advantage/reward per sample: got {signal.numel()} for batch size {v.shape[0]}")
    return (beta0, bounds, None, signal) if method == "orw" else (beta0, bounds, signal, None)


def _fm_stats(loss: torch.Tensor, rl_term: torch.Tensor, w2_term: torch.Tensor, fm: torch.Tensor, w2: torch.Tensor,
              beta: torch.Tensor, frac_clipped: float) -> dict[str, float]:  # fmt: skip
    """The statistics of :func:`fm_rl_loss` and :func:`orw_loss` (per-sample terms averaged over the batch)."""
    return {
        "loss": loss.item(),
        "rl_term": rl_term.mean().item(),
        "w2_term": w2_term.mean().item(),
        "fm": fm.mean().item(),
        "w2": w2.mean().item(),
        **beta_eff_stats(beta),
        "adv/frac_clipped": frac_clipped,
    }


def optimal_velocity(
    u: torch.Tensor, v_ref: torch.Tensor, advantages: torch.Tensor, beta0: float, clip: Clip = None
) -> torch.Tensor:
    r"""Per-sample minimiser of ADRPO-FM: :math:`v^* = v^{\text{ref}} + (\hat A/\beta_0)(u - v^{\text{ref}})`.

    It interpolates between the reference (``A = 0``) and the sample's target ``u``
    (``A = beta0``), extrapolates past ``u`` when ``A > beta0`` and points away from ``u`` when
    ``A < 0``. Needs ``beta0 > 0``.
    """
    beta0 = check_beta0(beta0)
    if beta0 == 0:
        raise ValueError("optimal_velocity needs beta0 > 0: at beta0 = 0 the ADRPO loss has no minimiser")
    a_hat = clip_advantages(advantages, clip)
    shape = (-1,) + (1,) * (u.dim() - 1)
    return v_ref + (a_hat.reshape(shape) / beta0) * (u - v_ref)


def diffusion_dpo_loss(
    v_win: torch.Tensor,
    v_lose: torch.Tensor,
    v_ref_win: torch.Tensor,
    v_ref_lose: torch.Tensor,
    u_win: torch.Tensor,
    u_lose: torch.Tensor,
    beta: float,
    *,
    validate: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    r"""Diffusion-DPO (Wallace et al., CVPR 2024, Eq. 14) written for velocity prediction.

    For a preference pair (winner ``w``, loser ``l``) noised with the *same* noise and time,

    .. math::
        \Delta_\theta = \|v_\theta(x^w_t) - u^w\|^2 - \|v_\theta(x^l_t) - u^l\|^2,\qquad
        \Delta_{\text{ref}} = \|v_{\text{ref}}(x^w_t) - u^w\|^2 - \|v_{\text{ref}}(x^l_t) - u^l\|^2,

    .. math::
        \mathcal L_{\text{DPO}} = -\log\sigma\big(-\tfrac{\beta}{2}\,(\Delta_\theta - \Delta_{\text{ref}})\big),

    squared norms being means over the non-batch dimensions. This is the ε-prediction loss of the
    paper with the flow-matching target :math:`u = \text{noise} - x_0` in place of ε (as in
    diffusers' ``train_diffusion_dpo.py``, whose ``-0.5 * beta_dpo * (model_diff - ref_diff)`` it
    matches); β is a *fixed* regularisation strength toward the reference, typically in the
    hundreds to thousands for per-element means. Lower loss = the policy improves on the reference
    more for the winner than for the loser. ``v_ref_*`` are detached.

    Returns ``(loss, stats)`` with ``dpo/implicit_acc`` (fraction of pairs the policy already
    ranks right), ``dpo/model_diff``, ``dpo/ref_diff`` and ``w2`` (the policy's distance to the reference).
    ``validate=False`` skips :func:`check_dpo_inputs` (for a caller that checked ``beta`` and the shapes once).
    """
    if validate:
        beta = check_dpo_inputs(v_win, v_lose, v_ref_win, v_ref_lose, u_win, u_lose, beta=beta)
    model_diff = _per_sample_mse(v_win, u_win) - _per_sample_mse(v_lose, u_lose)  # Δ_θ
    ref_diff = _per_sample_mse(v_ref_win.detach(), u_win) - _per_sample_mse(v_ref_lose.detach(), u_lose)  # Δ_ref
    inside = -0.5 * beta * (model_diff - ref_diff)  # −β/2 · (Δ_θ − Δ_ref)
    loss = -torch.nn.functional.logsigmoid(inside).mean()  # L = −log σ(·)
    stats = {
        "loss": loss.item(),
        "dpo/implicit_acc": (inside > 0).float().mean().item(),
        "dpo/model_diff": model_diff.mean().item(),
        "dpo/ref_diff": ref_diff.mean().item(),
        "w2": _per_sample_mse(torch.cat([v_win, v_lose]), torch.cat([v_ref_win, v_ref_lose]).detach()).mean().item(),
    }
    return loss, stats


def check_dpo_inputs(*tensors: torch.Tensor, beta: float) -> float:
    """The checks of :func:`diffusion_dpo_loss`: ``beta`` a finite number ``>= 0`` (returned as a float) and its
    six tensors of one shape."""
    beta = check_beta0(beta)
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"all six tensors need one shape (pairs × ...), got {sorted(shapes)}")
    return beta


# --------------------------------------------------------------------------------------
# GRPO for language models (token-level policy gradient + per-sample KL coefficient)
# --------------------------------------------------------------------------------------
GRPO_METHODS = ("adrpo", "fixed", "none")
GRPO_LOSS_TYPES = ("grpo", "dapo", "dr_grpo")
GRPOMethod = Literal["adrpo", "fixed", "none"]


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    r"""Per-token KL estimate "k3" of :math:`\mathrm{KL}(\pi_\theta\,\|\,\pi_{\text{ref}})` (Schulman, 2020).

    .. math::  k_3 = e^{\,\log\pi_{\text{ref}} - \log\pi_\theta} - (\log\pi_{\text{ref}} - \log\pi_\theta) - 1

    evaluated at tokens sampled from :math:`\pi_\theta`: unbiased, and :math:`\ge 0` for every token
    (as :math:`e^x - x - 1 \ge 0`), zero exactly where the two log-probabilities agree. It is the
    estimator of GRPO (DeepSeekMath) and TRL. ``ref_logp`` is used as given (detach it yourself
    if it carries gradients; the reference never should).
    """
    if logp.shape != ref_logp.shape:
        raise ValueError(f"logp and ref_logp must have one shape, got {tuple(logp.shape)} and {tuple(ref_logp.shape)}")
    diff = ref_logp - logp
    return torch.exp(diff) - diff - 1


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    method: GRPOMethod,
    beta0: float,
    clip: Clip = None,
    eps_clip: float = 0.2,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
    validate: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    r"""GRPO's clipped token-level objective with a KL penalty whose coefficient is fixed, adaptive or zero.

    Per token :math:`t` of completion :math:`i`, with :math:`\rho_{i,t} = e^{\log\pi_\theta - \log\pi_{\text{old}}}`:

    .. math::
        \ell_{i,t} = -\min\big(\rho_{i,t} A_i,\ \operatorname{clip}(\rho_{i,t}, 1-\epsilon, 1+\epsilon)\,A_i\big)
                     + \beta_i\,k_3(\log\pi_\theta, \log\pi_{\text{ref}})_{i,t}

    ==========  ===================================================================
    ``adrpo``   :math:`\beta_i = \beta_0 - \operatorname{clip}(A_i, a_{\min}, a_{\max})` (:func:`adaptive_beta`)
    ``fixed``   :math:`\beta_i = \beta_0` (GRPO as in DeepSeekMath / TRL)
    ``none``    :math:`\beta_i = 0` (no reference needed: ``ref_logp`` may be ``None``)
    ==========  ===================================================================

    The ``clip`` bounds only the advantage *inside* :math:`\beta_i`; the policy-gradient term keeps
    GRPO's own advantage (the ratio clipping already bounds its step). Why a clip by default in the
    trainer: with std-scaled group advantages (:math:`|A|` up to ≈ 2.5 for a group of 8) and
    :math:`\beta_0 \approx 0.04`, an unclipped :math:`\beta_i` is *negative* for most good samples,
    which rewards moving away from the reference without bound (:math:`k_3` is unbounded above).
    ``clip=(-beta0, beta0)`` keeps :math:`\beta_i \in [0, 2\beta_0]`; ``clip=None`` is allowed, and
    ``stats`` always report how many coefficients fell below zero.

    Aggregation over tokens (``mask`` = 1 on completion tokens, 0 on padding), as TRL's ``loss_type``:

    * ``"grpo"``: mean over each completion's tokens, then mean over completions;
    * ``"dapo"``: one mean over every token of the batch (TRL's default since 2025; long
      completions weigh more);
    * ``"dr_grpo"``: sum over the batch's tokens divided by ``num_completions × max_completion_length``
      (a constant, so no length bias; default length = ``mask.shape[1]``).

    Args:
        logp: ``(N, T)`` log-probs of the sampled tokens under the policy (with gradients).
        old_logp: ``(N, T)`` under the policy that sampled them (detached inside); ``logp.detach()``
            when each batch is used for one step (then :math:`\rho = 1`).
        ref_logp: ``(N, T)`` under the reference (detached inside), or ``None`` for ``method="none"``.
        advantages: ``(N,)`` one advantage per completion.
        mask: ``(N, T)`` 1 for tokens of the completion, 0 for padding.
        method: ``"adrpo" | "fixed" | "none"``.
        beta0: :math:`\beta_0 \ge 0`.
        clip: ``(a_min, a_max)`` for ``adrpo`` only (a ``ValueError`` with any other method).
        eps_clip: :math:`\epsilon` of the ratio clipping.
        loss_type: ``"grpo" | "dapo" | "dr_grpo"``.
        max_completion_length: the constant of ``dr_grpo``.
        validate: check the inputs first (:func:`check_grpo_inputs`); ``False`` is for a caller that checked
            them once already (the trainer: its config, and each batch's advantages and masks).

    Returns:
        ``(loss, stats)`` with ``stats`` floats: ``loss``, ``policy_loss`` (the clipped term alone, same
        aggregation), ``kl`` (token mean of :math:`k_3`, as TRL logs it), ``beta_eff/mean|min|max``,
        ``beta_eff/frac_negative`` (:func:`beta_eff_stats`), ``adv/frac_clipped``,
        ``clip_ratio/low_mean|high_mean|region_mean``.

    Raises:
        ValueError: unknown method/loss type, ``beta0 < 0``, ``beta0 = 0`` with ``adrpo``
            (:func:`check_adrpo_beta0`), ``clip`` with a method other than
            ``adrpo``, mismatched shapes, a completion with no token, a non-finite advantage.
    """
    if validate:  # the checks, once (chapters show this source: lines ≤ 88)
        beta0, clip, advantages = check_grpo_inputs(
            logp, old_logp, ref_logp, advantages, mask, method=method, beta0=beta0,
            clip=clip, eps_clip=eps_clip, loss_type=loss_type,
            max_completion_length=max_completion_length)  # fmt: skip
    adv = advantages.detach().to(logp.dtype)[:, None]  # A_i, for each token of o_i
    ratio = torch.exp(logp - old_logp.detach())  # ρ_{i,t} = π_θ / π_old
    clipped_ratio = ratio.clamp(1 - eps_clip, 1 + eps_clip)
    per_token_pg = -torch.min(ratio * adv, clipped_ratio * adv)  # −min(ρA, clip(ρ)A)
    beta = _effective_beta(method, adv[:, 0], beta0, clip).to(adv)  # β0 − Â_i | β0 | 0
    kl = kl_k3(logp, ref_logp.detach()) if ref_logp is not None else None  # k3_{i,t}
    per_token = per_token_pg
    if kl is not None and method != "none":
        per_token = per_token_pg + beta[:, None] * kl  # + β_i·k3_{i,t}
    mask = mask.to(logp.dtype)
    aggregate = _token_aggregator(mask, loss_type, max_completion_length)
    loss = aggregate(per_token)  # over the completions' tokens, as loss_type says
    stats = {"loss": loss.item(), "policy_loss": aggregate(per_token_pg).item(),
             **beta_eff_stats(beta), "adv/frac_clipped": _frac_clipped(adv[:, 0], clip),
             **_ratio_clip_stats(ratio, adv, eps_clip, mask)}  # fmt: skip
    if kl is not None:
        stats["kl"] = _token_mean(kl.detach(), mask)
    return loss, stats


def check_grpo_inputs(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    method: str,
    beta0: float,
    clip: Clip = None,
    eps_clip: float = 0.2,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
) -> tuple[float, tuple[float, float] | None, torch.Tensor]:
    """Every check of :func:`grpo_loss`'s inputs, made once before the math; returns ``(beta0, clip, advantages)``
    as the loss reads them (floats, a float pair or ``None``, a 1-D tensor)."""
    beta0, bounds = check_settings(method, beta0, clip, GRPO_METHODS)
    if loss_type not in GRPO_LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {GRPO_LOSS_TYPES}, got loss_type={loss_type!r}")
    if not (eps_clip > 0 and math.isfinite(eps_clip)):
        raise ValueError(f"eps_clip must be > 0, got eps_clip={eps_clip!r}")
    if logp.dim() != 2 or logp.shape[1] == 0:
        raise ValueError(f"logp must be (num_completions, num_tokens) with num_tokens >= 1, got {tuple(logp.shape)}")
    for name, t in (("old_logp", old_logp), ("mask", mask), ("ref_logp", ref_logp)):
        if t is not None and t.shape != logp.shape:
            raise ValueError(f"{name} must have logp's shape {tuple(logp.shape)}, got {tuple(t.shape)}")
    if ref_logp is None and method != "none":
        raise ValueError(f"method={method!r} needs ref_logp (the reference's log-probs); only 'none' runs without")
    advantages = _as_1d("advantages", advantages)
    if advantages.numel() != logp.shape[0]:
        raise ValueError(f"need one advantage per completion: got {advantages.numel()} for {logp.shape[0]} completions")
    check_finite("advantages", advantages)
    check_completion_mask(mask)
    if loss_type == "dr_grpo" and max_completion_length is not None and max_completion_length < mask.shape[1]:
        raise ValueError(f"max_completion_length={max_completion_length} is shorter than the completions "
                         f"({mask.shape[1]} tokens)")  # fmt: skip
    return beta0, bounds, advantages


def check_completion_mask(mask: torch.Tensor) -> None:
    """``ValueError`` listing the completions with no unmasked token (every completion needs >= 1)."""
    lengths = mask.sum(dim=1)
    if (lengths <= 0).any():
        empty = (lengths <= 0).nonzero()[:, 0].tolist()
        raise ValueError(f"empty completions (no unmasked token) at indices {empty}: every completion needs >= 1 token")


def _token_mean(x: torch.Tensor, mask: torch.Tensor) -> float:
    return ((x * mask).sum() / mask.sum()).item()


def _ratio_clip_stats(ratio: torch.Tensor, adv: torch.Tensor, eps_clip: float, mask: torch.Tensor
                      ) -> dict[str, float]:  # fmt: skip
    """Share of tokens whose ratio left the trust region where it matters (TRL's ``clip_ratio/*``)."""
    low = ((ratio < 1 - eps_clip) & (adv < 0)).to(mask.dtype)
    high = ((ratio > 1 + eps_clip) & (adv > 0)).to(mask.dtype)
    return {"clip_ratio/low_mean": _token_mean(low, mask), "clip_ratio/high_mean": _token_mean(high, mask),
            "clip_ratio/region_mean": _token_mean(torch.maximum(low, high), mask)}  # fmt: skip


def _token_aggregator(mask: torch.Tensor, loss_type: str, max_completion_length: int | None):
    """The reduction of per-token losses ``(N, T) -> scalar`` that ``loss_type`` names."""
    if loss_type == "grpo":
        return lambda x: ((x * mask).sum(dim=1) / mask.sum(dim=1)).mean()
    if loss_type == "dapo":
        return lambda x: (x * mask).sum() / mask.sum()
    length = mask.shape[1] if max_completion_length is None else int(max_completion_length)
    return lambda x: (x * mask).sum() / (mask.shape[0] * length)
