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
    "adaptive_beta",
    "clip_advantages",
    "diffusion_dpo_loss",
    "fm_rl_loss",
    "group_advantages",
    "optimal_velocity",
]

FM_METHODS = ("adrpo", "fixed", "none", "orw")
FMMethod = Literal["adrpo", "fixed", "none", "orw"]
Clip = tuple[float, float] | Sequence[float] | None


# --------------------------------------------------------------------------------------
# validation helpers (errors name the offending value)
# --------------------------------------------------------------------------------------
def _check_beta0(beta0: float) -> float:
    beta0 = float(beta0)
    if not math.isfinite(beta0) or beta0 < 0:
        raise ValueError(f"beta0 must be a finite number >= 0, got beta0={beta0!r}")
    return beta0


def _check_clip(clip: Clip) -> tuple[float, float] | None:
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


def _check_finite(name: str, x: torch.Tensor) -> None:
    bad = ~torch.isfinite(x)
    if bad.any():
        idx = int(bad.nonzero()[0, 0] if x.dim() else 0)
        value = x.reshape(-1)[idx].item()
        raise ValueError(f"{name} must be finite, found {value!r} at index {idx} (of {x.numel()})")


def _as_1d(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of one value per sample, got shape {tuple(x.shape)}")
    return x


# --------------------------------------------------------------------------------------
# advantages and the adaptive coefficient
# --------------------------------------------------------------------------------------
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
    beta0 = _check_beta0(beta0)
    return beta0 - clip_advantages(advantages, clip)


def clip_advantages(advantages: torch.Tensor, clip: Clip = None) -> torch.Tensor:
    """``advantages.clamp(a_min, a_max)`` after checking the bounds and that every advantage is finite."""
    bounds = _check_clip(clip)
    advantages = torch.as_tensor(advantages)
    _check_finite("advantages", advantages)
    return advantages if bounds is None else advantages.clamp(*bounds)


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: bool = False, eps: float = 1e-6
) -> torch.Tensor:
    r"""Advantage of each sample against the other samples generated for the same prompt.

    ``rewards`` is laid out as contiguous groups of ``group_size`` samples (all completions of
    prompt 0, then of prompt 1, ...). For sample ``i`` of group ``g``

    .. math::  A_i = r_i - \bar r_g \quad\text{or, with } \texttt{scale=True},\quad
               A_i = \frac{r_i - \bar r_g}{\operatorname{std}_g(r) + \epsilon}

    (GRPO's normalisation; the population std, ``unbiased=False``, as in DeepSeekMath).

    Raises:
        ValueError: ``group_size < 1``, ``len(rewards)`` not a multiple of ``group_size``,
            or a NaN/inf reward (the message names the value and its index).
    """
    rewards = _as_1d("rewards", rewards)
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got group_size={group_size!r}")
    if rewards.numel() == 0 or rewards.numel() % group_size != 0:
        raise ValueError(
            f"len(rewards)={rewards.numel()} is not a positive multiple of group_size={group_size}"
        )
    _check_finite("rewards", rewards)
    groups = rewards.reshape(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (groups.std(dim=1, unbiased=False, keepdim=True) + eps)
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
        beta0: base coefficient :math:`\beta_0 \ge 0` (ignored by ``none``).
        clip: ``(a_min, a_max)`` for ``adrpo`` only.
        rewards: ``(N,)`` raw rewards, required by ``orw`` (and only used by it).
        orw_temperature: :math:`\tau` of ORW's weights :math:`e^{\tau r}`.

    Returns:
        ``(loss, stats)``: the scalar loss and a dict of floats with ``rl_term``, ``w2_term``
        (means of the two weighted terms), ``fm`` and ``w2`` (unweighted means),
        ``beta_eff/mean|min|max``, ``beta_eff/frac_negative``, ``adv/frac_clipped``.
    """
    if method not in FM_METHODS:
        raise ValueError(f"method must be one of {FM_METHODS}, got method={method!r}")
    beta0 = _check_beta0(beta0)
    bounds = _check_clip(clip)
    if bounds is not None and method != "adrpo":
        raise ValueError(f"clip is only used by method='adrpo', got clip={clip!r} with method={method!r}")
    if v.shape != u.shape or v.shape != v_ref.shape:
        raise ValueError(
            f"v, u and v_ref must have one shape, got {tuple(v.shape)}, {tuple(u.shape)}, {tuple(v_ref.shape)}"
        )
    n = v.shape[0]

    if method == "orw":
        if advantages is not None:
            raise ValueError("method='orw' weights raw rewards, not advantages: pass advantages=None, rewards=...")
        if rewards is None:
            raise ValueError("method='orw' needs rewards=... (raw rewards, one per sample)")
        signal = _as_1d("rewards", rewards).to(v.dtype)
        _check_finite("rewards", signal)
    else:
        if advantages is None:
            raise ValueError(f"method={method!r} needs advantages (one per sample), got None")
        signal = _as_1d("advantages", advantages).to(v.dtype)
        _check_finite("advantages", signal)
    if signal.numel() != n:
        raise ValueError(f"need one advantage/reward per sample: got {signal.numel()} for batch size {n}")

    fm = _per_sample_mse(v, u)
    w2 = _per_sample_mse(v, v_ref.detach())
    signal = signal.detach()

    if method == "adrpo":
        a_hat = signal if bounds is None else signal.clamp(*bounds)
        rl_weight, beta = a_hat, beta0 - a_hat
    elif method == "fixed":
        rl_weight, beta = signal, torch.full_like(signal, beta0)
    elif method == "none":
        rl_weight, beta = signal, torch.zeros_like(signal)
    else:  # orw
        rl_weight, beta = torch.exp(orw_temperature * signal), torch.full_like(signal, beta0)

    rl_term = rl_weight * fm
    w2_term = beta * w2
    loss = (rl_term + w2_term).mean()

    clipped = 0.0
    if method == "adrpo" and bounds is not None:
        clipped = ((signal < bounds[0]) | (signal > bounds[1])).float().mean().item()
    stats = {
        "loss": loss.item(),
        "rl_term": rl_term.mean().item(),
        "w2_term": w2_term.mean().item(),
        "fm": fm.mean().item(),
        "w2": w2.mean().item(),
        "beta_eff/mean": beta.mean().item(),
        "beta_eff/min": beta.min().item(),
        "beta_eff/max": beta.max().item(),
        "beta_eff/frac_negative": (beta < 0).float().mean().item(),
        "adv/frac_clipped": clipped,
    }
    return loss, stats


def optimal_velocity(
    u: torch.Tensor, v_ref: torch.Tensor, advantages: torch.Tensor, beta0: float, clip: Clip = None
) -> torch.Tensor:
    r"""Per-sample minimiser of ADRPO-FM: :math:`v^* = v^{\text{ref}} + (\hat A/\beta_0)(u - v^{\text{ref}})`.

    It interpolates between the reference (``A = 0``) and the sample's target ``u``
    (``A = beta0``), extrapolates past ``u`` when ``A > beta0`` and points away from ``u`` when
    ``A < 0``. Needs ``beta0 > 0``.
    """
    beta0 = _check_beta0(beta0)
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
    ranks right), ``dpo/model_diff`` and ``dpo/ref_diff``.
    """
    beta = _check_beta0(beta)
    shapes = {tuple(t.shape) for t in (v_win, v_lose, v_ref_win, v_ref_lose, u_win, u_lose)}
    if len(shapes) != 1:
        raise ValueError(f"all six tensors need one shape (pairs × ...), got {sorted(shapes)}")
    model_diff = _per_sample_mse(v_win, u_win) - _per_sample_mse(v_lose, u_lose)
    ref_diff = _per_sample_mse(v_ref_win.detach(), u_win) - _per_sample_mse(v_ref_lose.detach(), u_lose)
    inside = -0.5 * beta * (model_diff - ref_diff)
    loss = -torch.nn.functional.logsigmoid(inside).mean()
    stats = {
        "loss": loss.item(),
        "dpo/implicit_acc": (inside > 0).float().mean().item(),
        "dpo/model_diff": model_diff.mean().item(),
        "dpo/ref_diff": ref_diff.mean().item(),
        "w2": _per_sample_mse(torch.cat([v_win, v_lose]), torch.cat([v_ref_win, v_ref_lose]).detach()).mean().item(),
    }
    return loss, stats
