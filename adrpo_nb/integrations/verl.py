r"""ADRPO inside verl 0.9: the actor's loss with a per-token KL coefficient, switched on by configuration.

verl's actor loss (``ppo_loss`` in ``verl/workers/utils/losses.py``) adds ``kl_loss * kl_loss_coef``, one
number for the whole batch. :class:`ADRPOActorLoss` is that loss with the coefficient made per token,

.. math::  \beta_{i,t} = \beta_0 - \operatorname{clip}(A_{i,t}, a_{\min}, a_{\max})

(:func:`adrpo_nb.core.effective_beta`, on verl's own advantages: with GRPO they are one per response,
repeated on its tokens). Everything else is verl's ``ppo_loss`` itself, called with its KL term switched off:
the policy loss of any ``policy_loss.loss_mode``, rollout importance weights, entropy bonus, every
``loss_agg_mode`` and the global-batch normalisation across data-parallel ranks. The KL term is aggregated as
verl aggregates it, written as :math:`\beta_0\cdot\operatorname{agg}\big((\beta_{i,t}/\beta_0)\,k_{i,t}\big)`
(``agg`` is linear, so this is :math:`\operatorname{agg}(\beta_{i,t}\,k_{i,t})`), which with every
:math:`\beta_{i,t} = \beta_0` is verl's ``kl_loss * kl_loss_coef`` to the bit (``tests/test_verl.py``).

Switching it on, on verl's own launcher (``pip install 'adrpo-nb[verl]'``, next to verl)::

    python -m verl.trainer.main_ppo algorithm.adv_estimator=grpo \
        actor_rollout_ref.actor.use_kl_loss=True actor_rollout_ref.actor.kl_loss_type=low_var_kl \
        +adrpo.beta0=0.04 '+adrpo.clip=[-0.04,0.04]' ...

* ``adrpo.beta0``: β0 (default: ``actor_rollout_ref.actor.kl_loss_coef``); it replaces ``kl_loss_coef`` in the
  actor's loss, and verl logs it as ``actor/kl_coef``.
* ``adrpo.clip``: ``auto`` (default) = ``(-beta0, beta0)``, so every β ∈ [0, 2β0]; ``null`` = unclipped;
  or ``[a_min, a_max]``.

How it gets there: this package declares a ``verl.plugins`` entry point (``pyproject.toml``), and ``import verl``
imports every such plug-in in every process, the driver's and each Ray worker's. Importing this module only
registers an import hook (cheap; it imports nothing of verl). When verl's trainer module is imported, the hook
wraps the trainer's initialisation (``PPOTrainer.init`` of the v1 trainers, verl's default, and
``RayPPOTrainer.init_workers`` of the legacy one): with an ``adrpo`` section in the configuration it checks the
settings before any worker starts, and after ``init_model()`` it installs :class:`ADRPOActorLoss` on the actor
workers with ``actor_rollout_wg.set_loss_fn(...)``, as verl's trainer installs the critic's loss. Without an
``adrpo`` section nothing changes. ``VERL_USE_EXTERNAL_PLUGINS=none`` turns every plug-in off.

Logged besides verl's metrics (with verl's ``actor/`` prefix): ``beta_eff/mean``, ``beta_eff/min``,
``beta_eff/max``, ``beta_eff/frac_negative`` over the batch's response tokens; ``kl_loss`` stays verl's
unweighted KL, ``kl_coef`` is β0.

Verified with verl 0.9.1 (``SUPPORTED_VERL``). Not covered: on-policy distillation (``distillation.enabled``,
whose actor loss is another function: refused), and verl's experimental trainers that re-implement worker
initialisation without calling these two methods (``verl.experimental.*``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.abc
import importlib.machinery
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from adrpo_nb.core import beta_eff_stats, check_adrpo_beta0, check_beta0, effective_beta, resolve_clip

__all__ = ["SUPPORTED_VERL", "ADRPOActorLoss", "ADRPOSettings", "adrpo_settings", "install_loss", "install_hooks"]

#: the verl versions this integration was verified against
SUPPORTED_VERL = ">=0.9.1,<0.10"
#: the keys of the configuration's ``adrpo`` section
SETTINGS_KEYS = ("beta0", "clip")
_logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ADRPOSettings:
    """The ``adrpo`` section of a verl configuration, checked: β0 > 0 and the resolved advantage clip."""

    beta0: float
    clip: tuple[float, float] | None


def adrpo_settings(config: Mapping) -> ADRPOSettings | None:
    """The ADRPO settings of a full verl configuration (``DictConfig``), or ``None`` without an ``adrpo`` section.

    Raises ``ValueError`` naming the fix when the run cannot be ADRPO: unknown keys, β0 ≤ 0, a bad clip,
    ``actor_rollout_ref.actor.use_kl_loss`` off (then verl computes no reference log-probs and no KL term), or
    on-policy distillation (another actor loss)."""
    if "adrpo" not in config or config["adrpo"] is None:
        return None
    section = _plain(config["adrpo"])
    if not isinstance(section, dict):
        raise ValueError(f"the adrpo section must be a mapping such as +adrpo.beta0=0.04, got adrpo={section!r}")
    unknown = sorted(set(section) - set(SETTINGS_KEYS))
    if unknown:
        raise ValueError(f"unknown adrpo settings {unknown}; known: {list(SETTINGS_KEYS)}")
    actor = config["actor_rollout_ref"]["actor"]
    if not actor.get("use_kl_loss", False):
        raise ValueError("ADRPO puts its per-sample coefficient on verl's KL loss: set "
                         "actor_rollout_ref.actor.use_kl_loss=True (verl then computes the reference log-probs)")
    distillation = config.get("distillation") or {}
    if distillation.get("enabled", False):
        raise ValueError("ADRPO replaces verl's ppo_loss; with distillation.enabled=True the actor's loss is "
                         "distillation_ppo_loss, which this integration does not cover")  # fmt: skip
    beta0 = section.get("beta0")
    beta0 = check_beta0(actor.get("kl_loss_coef") if beta0 is None else beta0)
    check_adrpo_beta0("adrpo", beta0)
    clip = resolve_clip(_plain(section.get("clip", "auto")), "adrpo", beta0)
    return ADRPOSettings(beta0, clip)


def _plain(node: Any) -> Any:
    """An OmegaConf node as plain Python (dict / list / scalar), resolved; anything else as it is."""
    try:
        from omegaconf import OmegaConf
    except ImportError:  # pragma: no cover - verl always has omegaconf
        return node
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


class ADRPOActorLoss:
    """verl's actor loss with the KL coefficient per token: a drop-in for ``partial(ppo_loss, config=actor_config)``.

    Args:
        config: verl's ``ActorConfig`` of the actor (``use_kl_loss=True``); its ``kl_loss_coef`` is not read.
        beta0: β0 > 0.
        clip: ``(a_min, a_max)`` or ``None``, already resolved (:func:`adrpo_nb.core.resolve_clip`).

    Called as verl's engine calls its loss function: ``loss(model_output, data, dp_group=None)`` →
    ``(loss, metrics)``.
    """

    def __init__(self, config: Any, beta0: float, clip: tuple[float, float] | None):
        if not config.use_kl_loss:
            raise ValueError("ADRPOActorLoss needs an actor config with use_kl_loss=True")
        self.beta0 = check_beta0(beta0)
        check_adrpo_beta0("adrpo", self.beta0)
        self.clip = resolve_clip(clip, "adrpo", self.beta0)
        self.config = config
        # verl's loss without its KL term: everything but the coefficient stays verl's own code
        self.pg_config = dataclasses.replace(config, use_kl_loss=False)

    def __call__(self, model_output: Mapping, data: Any, dp_group: Any = None) -> tuple[Any, dict[str, Any]]:
        from verl.trainer.ppo.core_algos import agg_loss, kl_penalty
        from verl.utils.metric import AggregationType, Metric
        from verl.workers.utils.losses import ppo_loss
        from verl.workers.utils.padding import no_padding_2_padding

        loss, metrics = ppo_loss(self.pg_config, model_output, data, dp_group)  # verl's policy + entropy terms
        batch_info = self.pg_config.global_batch_info  # set by ppo_loss from this micro-batch (dp size, tokens, ...)
        log_prob = no_padding_2_padding(model_output["log_probs"], data)
        fields = data.select("response_mask", "advantages", "ref_log_prob").to_padded_tensor()
        mask = fields["response_mask"].to(bool)
        kld = kl_penalty(logprob=log_prob, ref_logprob=fields["ref_log_prob"], kl_penalty=self.config.kl_loss_type)
        beta = effective_beta("adrpo", fields["advantages"].detach(), self.beta0, self.clip)  # β_{i,t} = β0 − clip(A)
        weight = (beta / self.beta0).to(kld.dtype)  # β_{i,t}/β0: exactly 1 where β_{i,t} = β0
        mode = self.config.loss_agg_mode
        kl_term = agg_loss(loss_mat=kld * weight, loss_mask=mask, loss_agg_mode=mode, **batch_info)
        loss = loss + kl_term * self.beta0  # = agg(β_{i,t} k_{i,t}); verl: kl_loss * kl_loss_coef
        kl_loss = agg_loss(loss_mat=kld.detach(), loss_mask=mask, loss_agg_mode=mode, **batch_info)
        # verl's unweighted KL, logged as ppo_loss logs it (summed over micro-batches when normalised globally)
        metrics["kl_loss"] = Metric(value=kl_loss, aggregation=metrics["actor/pg_loss"].aggregation)
        metrics["kl_coef"] = self.beta0
        aggregations = {"beta_eff/min": AggregationType.MIN, "beta_eff/max": AggregationType.MAX}
        for key, value in beta_eff_stats(beta[mask]).items():
            metrics[key] = Metric(value=value, aggregation=aggregations.get(key, AggregationType.MEAN))
        return loss, metrics

    def __repr__(self) -> str:
        return f"ADRPOActorLoss(beta0={self.beta0}, clip={self.clip}, loss_agg_mode={self.config.loss_agg_mode!r})"


def actor_config(config: Mapping, beta0: float) -> Any:
    """verl's ``ActorConfig`` of the run, built on the driver as the actor worker builds it (``_target_`` of
    ``actor_rollout_ref.actor``), with ``kl_loss_coef = beta0``."""
    from verl.utils.config import omega_conf_to_dataclass

    actor = _plain(config["actor_rollout_ref"]["actor"])
    actor["kl_loss_coef"] = beta0
    return omega_conf_to_dataclass(actor)


def install_loss(actor_rollout_wg: Any, config: Mapping, settings: ADRPOSettings | None = None) -> ADRPOActorLoss:
    """Install :class:`ADRPOActorLoss` on the actor workers: ``actor_rollout_wg.set_loss_fn(loss)`` (call it after
    ``actor_rollout_wg.init_model()``, which installs verl's ``ppo_loss``). Returns the loss."""
    settings = adrpo_settings(config) if settings is None else settings
    if settings is None:
        raise ValueError("install_loss needs ADRPO settings: the configuration has no adrpo section")
    loss = ADRPOActorLoss(actor_config(config, settings.beta0), settings.beta0, settings.clip)
    actor_rollout_wg.set_loss_fn(loss)
    _logger.warning("adrpo_nb: %r installed on the actor workers", loss)
    return loss


# --------------------------------------------------------------------------------------
# the switch: wrap verl's trainer initialisation when its module is imported
# --------------------------------------------------------------------------------------
def _wrap_init(original: Callable) -> Callable:
    """``init`` / ``init_workers`` of a verl trainer, followed by :func:`install_loss` when the run says ``adrpo``."""

    @functools.wraps(original)
    def init(self, *args: Any, **kwargs: Any) -> Any:
        settings = adrpo_settings(self.config)  # checked before any worker starts
        result = original(self, *args, **kwargs)
        if settings is not None:
            install_loss(self.actor_rollout_wg, self.config, settings)
        return result

    init.__adrpo_wrapped__ = True
    return init


def _patch(module: Any, class_name: str, method: str) -> None:
    cls = getattr(module, class_name, None)
    if cls is None or getattr(getattr(cls, method, None), "__adrpo_wrapped__", False):
        return
    setattr(cls, method, _wrap_init(getattr(cls, method)))


#: verl's trainer modules -> (class, method) to wrap
TRAINER_HOOKS = {
    "verl.trainer.ppo.v1.trainer_base": ("PPOTrainer", "init"),
    "verl.trainer.ppo.ray_trainer": ("RayPPOTrainer", "init_workers"),
}


class _PatchingLoader(importlib.abc.Loader):
    """Loads a module with its own loader, then wraps its trainer's initialisation."""

    def __init__(self, loader: Any, fullname: str):
        self.loader, self.fullname = loader, fullname

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        _patch(module, *TRAINER_HOOKS[self.fullname])


class _TrainerFinder(importlib.abc.MetaPathFinder):
    """Finds verl's trainer modules as Python would, and hands them to :class:`_PatchingLoader`."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in TRAINER_HOOKS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


def install_hooks() -> None:
    """Wrap verl's trainers' initialisation: now for the trainer modules already imported, on import for the rest.
    Idempotent; importing this module calls it (the ``verl.plugins`` entry point)."""
    for fullname, (class_name, method) in TRAINER_HOOKS.items():
        if fullname in sys.modules:
            _patch(sys.modules[fullname], class_name, method)
    if not any(isinstance(finder, _TrainerFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TrainerFinder())


install_hooks()
