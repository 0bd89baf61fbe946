"""Online RL fine-tuning of flow-matching models: one trainer, a ``method`` switch.

Each iteration

1. samples a batch from the *current* policy (``adapter.sample``, no gradients),
2. scores it with the reward (``reward(outputs) -> Tensor[N]`` or, for prompted models,
   ``reward(outputs, prompts, metadata) -> (scores, info)``),
3. turns rewards into advantages (group mean baseline, see :func:`adrpo_nb.group_advantages`,
   or any ``advantage_fn`` you pass: the documented extension point),
4. takes ``updates_per_iteration`` passes of :func:`adrpo_nb.fm_rl_loss` over that batch, each
   minibatch with fresh noise and times for the interpolants and the reference's velocity
   (``method="dpo"``: :func:`adrpo_nb.diffusion_dpo_loss` on each group's best-vs-worst pair,
   both noised alike).

The model family is hidden behind a :class:`FlowAdapter` (MNIST latent flow, SD3 + LoRA, ...).
Runs are deterministic on CPU for a seed (each iteration draws from its own generator, seeded by
``(seed, iteration, process)``), checkpoint atomically and resume bit-identically.
Scale-out: the trainer is built on 🤗 Accelerate, so ``accelerate launch script.py`` runs it on
several GPUs (each process samples its own batch; gradients are averaged by Accelerate).
"""

from __future__ import annotations

import math
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from adrpo_nb.core import FM_METHODS, diffusion_dpo_loss, effective_beta, fm_rl_loss, group_advantages
from adrpo_nb.trainers.base import (
    OPTIMIZERS,
    RLConfig,
    RLTrainer,
    check_state_fits,
    iteration_generator,
    merge_step_stats,
    reward_list,
)
from adrpo_nb.types import FlowAdapter, FlowRewardFn, FlowSamples
from adrpo_nb.utils.validate import ConfigError, check_bool, check_choice, check_float, check_int

__all__ = [
    "FLOW_METHODS",
    "FlowAdapter",
    "FlowMatchingRLConfig",
    "FlowMatchingRLTrainer",
    "FlowSamples",
    "iteration_generator",
    "preference_pairs",
]

#: every method of the trainer: fm_rl_loss's four, plus Diffusion-DPO on best/worst pairs of each group
FLOW_METHODS = (*FM_METHODS, "dpo")
def preference_pairs(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``(P, 2)`` indices ``(best, worst)`` of every group whose rewards are not all equal."""
    groups = rewards.reshape(-1, group_size)
    best, worst = groups.argmax(dim=1), groups.argmin(dim=1)
    offset = torch.arange(groups.shape[0]) * group_size
    keep = groups.max(dim=1).values > groups.min(dim=1).values
    return torch.stack([best + offset, worst + offset], dim=1)[keep]


@dataclass
class FlowMatchingRLConfig(RLConfig):
    """Settings of :class:`FlowMatchingRLTrainer`. Defaults are the MNIST chapter's. The fields both trainers
    share, their checks and :meth:`to_dict` / :meth:`from_dict` are :class:`~adrpo_nb.trainers.base.RLConfig`'s;
    every field is checked at construction and an error names it.

    Args:
        method: ``"adrpo"`` (β_eff = β0 − clip(A)), ``"fixed"`` (β0), ``"none"`` (β = 0), ``"orw"``
            (ORW-CFM-W2: samples weighted by exp(τ·r) of their raw rewards, W2 coefficient ``beta0``, the book's
            α) or ``"dpo"`` (Diffusion-DPO on each group's best-vs-worst pair; ``beta0`` is its β).
        beta0: β0 >= 0: ADRPO's base coefficient (> 0 for ``"adrpo"``), the fixed coefficient of ``"fixed"`` and
            ``"orw"``, Diffusion-DPO's β for ``"dpo"``.
        clip: ``(a_min, a_max)``, the clip of the advantage inside β_eff (``"adrpo"`` only); ``None`` for no
            clip; ``"auto"`` for ``(-beta0, beta0)``. Stored resolved.
        num_generations: samples per prompt (G, TRL's name), compared with each other for the advantages;
            ``None`` makes the whole batch one group (an unconditional model). ``"dpo"`` needs >= 2.
        scale_rewards: divide advantages by their group's standard deviation (GRPO's normalisation; off in the
            paper's flow-matching form).
        advantage_std: that standard deviation: ``"unbiased"`` (divide by G − 1, TRL's) or ``"population"``.
        iterations: iterations of sample, score and update.
        updates_per_iteration: passes over each iteration's batch (TRL's ``num_iterations``, μ).
        minibatch_size: samples per optimizer step (``"dpo"``: half as many pairs).
        learning_rate: the optimizer's learning rate.
        max_grad_norm: gradient norm clip of each step; ``None`` for none.
        reward_weights: one weight per reward function (the reward is their weighted sum); ``None``: 1 each.
        seed: seeds every iteration's random generator (runs are deterministic on CPU for a seed).
        checkpoint_every: iterations between checkpoints (in ``output_dir``; the last iteration always saves).
        output_dir: where ``checkpoint.pt`` is written and resumed from; ``None``: no checkpoints.
        progress: show a progress bar.
        extra: free-form JSON-safe settings saved with the config (e.g. the task's name).
        orw_temperature: τ of ORW-CFM-W2's weights exp(τ·r) (``"orw"`` only).
        shared_noise: noise the samples of one group with the same (t, noise) in each update (common random
            numbers; needs ``num_generations``): the advantages sum to 0 in a group, so the loss's dependence on
            t cancels from the advantage-weighted sum instead of adding noise to its gradient.
        samples_per_iteration: samples drawn from the policy per iteration (per process); a multiple of
            ``num_generations``.
        optimizer: ``"adam"``, ``"adamw"`` or ``"adam8bit"`` (bitsandbytes on a GPU: a memory saver for big
            models).
    """

    # the shared fields (RLConfig) with this trainer's defaults
    beta0: float = 0.05
    clip: Any = None  # (a_min, a_max), None, or "auto" = (-beta0, beta0) for adrpo (as GRPOConfig)
    num_generations: int | None = None  # samples per prompt (TRL's name); None = the whole batch is one group
    scale_rewards: bool = False  # divide by the group std (GRPO; TRL's name); off in the paper's flow-matching form
    iterations: int = 300
    updates_per_iteration: int = 4
    minibatch_size: int = 256
    learning_rate: float = 3e-4
    # this trainer's own fields
    orw_temperature: float = 0.5
    #: noise the samples of one group with the same (t, noise) in each update (common random numbers;
    #: needs num_generations). Σ A_i = 0 in a group, so the loss's dependence on t then cancels from the
    #: advantage-weighted sum instead of adding noise to its gradient. ("dpo" always noises a pair alike.)
    shared_noise: bool = False
    samples_per_iteration: int = 256
    optimizer: str = "adam"  # "adam", "adamw", or "adam8bit" (bitsandbytes, GPU: a memory saver for big models)

    METHODS: ClassVar[tuple[str, ...]] = FLOW_METHODS
    RENAMED: ClassVar[types.MappingProxyType] = types.MappingProxyType(
        {"group_size": "num_generations", "scale_advantages": "scale_rewards"})

    def __post_init__(self) -> None:
        """The shared checks (:meth:`RLConfig.__post_init__`), then this trainer's fields; errors name the field."""
        super().__post_init__()
        self.orw_temperature = check_float("orw_temperature", self.orw_temperature, minimum=0.0)
        self.shared_noise = check_bool("shared_noise", self.shared_noise)
        self.samples_per_iteration = check_int("samples_per_iteration", self.samples_per_iteration, minimum=1)
        self.num_generations = k = check_int("num_generations", self.num_generations, minimum=1, optional=True)
        self.optimizer = check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if k is not None and self.samples_per_iteration % k:
            raise ConfigError(
                f"samples_per_iteration={self.samples_per_iteration} must be a multiple of num_generations={k!r}"
            )
        if self.shared_noise and k is None:
            raise ConfigError("shared_noise=True noises each group alike: it needs num_generations (per prompt)")
        if self.method == "dpo" and (k is None or k < 2):
            raise ConfigError(f"method='dpo' needs groups of at least 2 samples per prompt, got num_generations={k!r}")
        if self.method == "dpo" and self.beta0 == 0:  # −log σ(−β/2 · Δ) is log 2 for every Δ at β = 0
            raise ConfigError("method='dpo' with beta0=0 has a zero gradient (Diffusion-DPO's loss is "
                              "−log σ(−β/2 · Δ)): choose beta0 > 0 (the SD3 sweeps use 100 and 1000)")


def _reward_name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def reward_scores(out: Any, n: int, name: str = "reward") -> tuple[torch.Tensor, dict]:
    """A flow reward's return value as ``(scores [n] float32 on CPU, info)``, or a ``ValueError`` naming ``name``.

    The two documented conventions: ``n`` numbers (a 1-D tensor, array or sequence; ``None`` entries mean
    "not applicable" and come back as NaN), or a 2-tuple ``(scores, info_dict)``. Any other tuple, a shape
    other than ``(n,)``, a non-number, NaN or inf is refused.
    """
    info: dict = {}
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        out, info = out
    elif isinstance(out, tuple) and not all(v is None or isinstance(v, (int, float)) for v in out):
        raise ValueError(f"{name} returned a tuple of {len(out)} items; a reward returns {n} scores or a 2-tuple "
                         f"(scores, info_dict), got types {[type(v).__name__ for v in out][:4]}")  # fmt: skip
    if isinstance(out, (list, tuple)) and any(v is None for v in out):
        if len(out) != n:
            raise ValueError(f"{name} returned {len(out)} scores for {n} samples")
        # every given value is checked here, so the only NaN left mark the None entries
        return torch.tensor([float("nan") if v is None else _score_value(v, i, name) for i, v in enumerate(out)],
                            dtype=torch.float32), info  # fmt: skip
    try:
        scores = torch.as_tensor(out, dtype=torch.float32).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must return {n} numbers, got {type(out).__name__} ({err})") from None
    if scores.shape != (n,):
        raise ValueError(f"{name} must return one score per sample, shape ({n},); got shape {tuple(scores.shape)}")
    if not torch.isfinite(scores).all():
        bad = int((~torch.isfinite(scores)).nonzero()[0, 0])
        raise ValueError(f"{name} returned a non-finite score {scores[bad].item()!r} at index {bad}")
    return scores, info


def _score_value(v: Any, i: int, name: str) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} returned {v!r} at index {i}: not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} returned a non-finite score {v!r} at index {i} (return None for 'not applicable')")
    return v

AdvantageFn = Callable[[torch.Tensor, FlowSamples], torch.Tensor]
MetricsFn = Callable[[FlowSamples, torch.Tensor, dict], dict[str, float]]
Callback = Callable[["FlowMatchingRLTrainer", dict[str, float]], None]


class FlowMatchingRLTrainer(RLTrainer):
    """Online RL for a flow model with ``method ∈ {adrpo, fixed, none, orw, dpo}`` (see :class:`FlowMatchingRLConfig`).

    Args:
        adapter: the model family (policy, reference, sampling, interpolation convention).
        reward_funcs: one reward callable or several (weighted by ``config.reward_weights`` and summed), each
            ``reward(outputs) -> Tensor[N]`` or, for prompted models, ``reward(outputs, prompts, metadata)
            -> (scores, info)`` (the DDPO / flow_grpo convention; ``info`` is passed on to ``metrics_fn``).
        config: a :class:`FlowMatchingRLConfig`.
        metrics_fn: optional ``metrics_fn(samples, rewards, info) -> dict`` logged every iteration
            (e.g. class entropy, pairwise diversity).
        advantage_fn: optional ``advantage_fn(rewards, samples) -> Tensor[N]`` replacing the group-mean
            baseline — the extension point for other advantage estimators.
        callbacks: called as ``cb(trainer, logs)`` after each iteration, before its checkpoint.
        accelerator: an ``accelerate.Accelerator``; one is made if ``None``.
    """

    CHECKPOINT_FORMAT = "adrpo_nb.flow_matching/1"
    PROGRESS_KEYS = ("reward", "w2", "beta_eff/frac_negative")

    def __init__(
        self,
        adapter: FlowAdapter,
        reward_funcs: FlowRewardFn | Sequence[FlowRewardFn],
        config: FlowMatchingRLConfig,
        *,
        metrics_fn: MetricsFn | None = None,
        advantage_fn: AdvantageFn | None = None,
        callbacks: Sequence[Callback] = (),
        accelerator: Any = None,
    ):
        self.reward_funcs, self.reward_weights = reward_list(reward_funcs, config.reward_weights)
        self.metrics_fn = metrics_fn
        self.advantage_fn = advantage_fn
        if advantage_fn is not None and config.method in ("orw", "dpo"):
            raise ValueError(f"advantage_fn is not used by method={config.method!r} ("
                             + ("ORW weights the raw rewards by exp(τ·r)" if config.method == "orw" else
                                "Diffusion-DPO pairs each group's best and worst sample")
                             + "): drop it, or use method 'adrpo', 'fixed' or 'none'")  # fmt: skip
        super().__init__(adapter, config, callbacks=callbacks, accelerator=accelerator, optimizer=config.optimizer)
        self._weights_note = ""
        group = config.num_generations or config.samples_per_iteration * self.accelerator.num_processes
        if advantage_fn is None and config.method in ("adrpo", "fixed", "none") and group == 1:
            name = "num_generations" if config.num_generations else "samples_per_iteration"
            raise ValueError(f"{name}={getattr(config, name)} makes groups of one sample: every advantage would be "
                             "0 (a group needs a baseline) and nothing would train; use groups of at least 2")

    # ------------------------------------------------------------------ checkpointed weights
    def _trainable_parameters(self) -> dict[str, torch.nn.Parameter]:
        """The parameters being trained (all of a small MLP, only the LoRA of SD3): what a checkpoint keeps."""
        policy = self.accelerator.unwrap_model(self.adapter.policy)
        return {name: p for name, p in policy.named_parameters() if p.requires_grad}

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self._trainable_parameters().items()}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor], path: Path) -> None:
        trainable = self._trainable_parameters()
        check_state_fits(state, trainable, path)
        with torch.no_grad():
            for name, param in trainable.items():
                param.copy_(state[name])

    # ------------------------------------------------------------------ one iteration
    def _score_one(self, fn: FlowRewardFn, samples: FlowSamples) -> tuple[torch.Tensor, dict]:
        """One reward function's scores ``[N]`` (NaN where it returned ``None``: not applicable) and its info."""
        prompted = samples.prompts is not None
        out = fn(samples.outputs, samples.prompts, samples.metadata) if prompted else fn(samples.outputs)
        return reward_scores(out, len(samples), _reward_name(fn))

    def _score(self, samples: FlowSamples) -> tuple[torch.Tensor, dict]:
        """The weighted sum of every reward function's scores, and their infos merged (``per_func`` added when
        there are several). As TRL: a ``None`` score drops that function from the sample's sum; a sample no
        function scores is an error."""
        total, info, per_func = torch.zeros(len(samples)), {}, {}
        applies = torch.zeros(len(samples), dtype=torch.bool)
        for fn, w in zip(self.reward_funcs, self.reward_weights, strict=True):
            scores, fn_info = self._score_one(fn, samples)
            known = ~torch.isnan(scores)
            total += torch.where(known, w * scores, torch.zeros_like(scores))
            applies |= known
            info.update(fn_info)
            per_func[_reward_name(fn)] = scores
        if not applies.all():
            i = int((~applies).nonzero()[0, 0])
            raise ValueError(f"every reward function returned None for sample {i}: no reward applies to it")
        if len(self.reward_funcs) > 1:
            info["per_func"] = per_func
        return total, info

    def _advantages(self, rewards: torch.Tensor, samples: FlowSamples) -> torch.Tensor | None:
        if self.config.method in ("orw", "dpo"):
            return None
        if self.advantage_fn is not None:
            adv = torch.as_tensor(self.advantage_fn(rewards, samples), dtype=torch.float32)
            if adv.shape != rewards.shape:
                raise ValueError(f"advantage_fn must return one advantage per sample, shape ({len(samples)},); "
                                 f"got shape {tuple(adv.shape)}")  # fmt: skip
            if not torch.isfinite(adv).all():
                bad = int((~torch.isfinite(adv)).nonzero()[0, 0])
                raise ValueError(f"advantage_fn returned a non-finite advantage {adv[bad].item()!r} at index {bad}")
            return adv
        if self.config.num_generations is not None:
            return group_advantages(rewards, self.config.num_generations, scale=self.config.scale_rewards,
                                    std=self.config.advantage_std)  # fmt: skip
        # the whole batch is one group; with several processes it is the global batch
        everything = self.accelerator.gather(rewards.to(self.accelerator.device)).cpu()
        adv = group_advantages(everything, everything.numel(), scale=self.config.scale_rewards,
                               std=self.config.advantage_std)  # fmt: skip
        start = self.accelerator.process_index * rewards.numel()
        return adv[start : start + rewards.numel()]

    def _minibatches(self, n: int, gen: torch.Generator) -> list[torch.Tensor]:
        """Shuffled sample indices in minibatches; with ``shared_noise``, whole groups stay together."""
        cfg = self.config
        if not cfg.shared_noise:
            order = torch.randperm(n, generator=gen)
            return list(order.split(cfg.minibatch_size))
        g = cfg.num_generations
        groups = torch.randperm(n // g, generator=gen)
        order = (groups[:, None] * g + torch.arange(g)).reshape(-1)
        return list(order.split(max(g, cfg.minibatch_size - cfg.minibatch_size % g)))

    def _training_pair(self, latents: torch.Tensor, gen: torch.Generator):
        if self.config.shared_noise:  # one (noise, t) per group, repeated for its samples
            g = self.config.num_generations
            noise, t = self.adapter.draw_noise_and_time(latents[::g], gen)
            noise, t = noise.repeat_interleave(g, dim=0), t.repeat_interleave(g, dim=0)
        else:
            noise, t = self.adapter.draw_noise_and_time(latents, gen)
        x_t, u = self.adapter.interpolate(latents, noise, t)
        return x_t, t, u

    def _velocities(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with self.accelerator.autocast():
            v = self.adapter.velocity(x_t, t, cond)
            v_ref = self.adapter.reference_velocity(x_t, t, cond)
        if v.shape != x_t.shape or v_ref.shape != x_t.shape:
            raise ValueError(f"the adapter's velocity and reference velocity must have x_t's shape {tuple(x_t.shape)}, "
                             f"got {tuple(v.shape)} and {tuple(v_ref.shape)}")  # fmt: skip
        return v.float(), v_ref.float()

    def _optimizer_step(self, loss: torch.Tensor, st: dict) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss {loss.item()} at iteration {self.iteration}: the policy diverged "
                f"(lower learning_rate, raise beta0, or set max_grad_norm){self._weights_note}"
            )
        self.accelerator.backward(loss)
        if self.config.max_grad_norm is not None:
            norm = self.accelerator.clip_grad_norm_(self.adapter.policy.parameters(), self.config.max_grad_norm)
            st["grad_norm"] = float(norm)
            if not math.isfinite(st["grad_norm"]):  # clipping would zero (or NaN) this update without a word
                raise FloatingPointError(f"non-finite gradient norm {st['grad_norm']} at iteration {self.iteration}"
                                         f"{self._weights_note}; rescale the reward (or advantage_fn)")  # fmt: skip
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _update(self, samples: FlowSamples, rewards: torch.Tensor, adv: torch.Tensor | None, gen) -> list[dict]:
        weights = rewards if adv is None else adv
        self._weights_note = f" ({'advantages' if adv is not None else 'rewards'} in [{weights.min().item():.3g}, " \
                             f"{weights.max().item():.3g}])"  # fmt: skip
        if self.config.method == "dpo":
            return self._update_dpo(samples, rewards, gen)
        cfg, device = self.config, self.accelerator.device
        self.adapter.policy.train()
        stats = []
        for _ in range(cfg.updates_per_iteration):
            for idx in self._minibatches(len(samples), gen):
                x_t, t, u = self._training_pair(samples.latents[idx.to(samples.latents.device)], gen)
                v, v_ref = self._velocities(x_t, t, self.adapter.select(samples, idx))
                loss, st = fm_rl_loss(
                    v, u.float(), v_ref,
                    None if adv is None else adv[idx].to(device),
                    rewards=rewards[idx].to(device) if cfg.method == "orw" else None,
                    method=cfg.method, beta0=cfg.beta0, clip=cfg.clip, orw_temperature=cfg.orw_temperature,
                    validate=False,  # the config is checked, and so are the advantages (step) and shapes (_velocities)
                )  # fmt: skip
                self._optimizer_step(loss, st)
                stats.append(st)
        return stats

    def _update_dpo(self, samples: FlowSamples, rewards: torch.Tensor, gen) -> list[dict]:
        """Diffusion-DPO on (best, worst) of each group, winner and loser noised with the same noise and time."""
        cfg = self.config
        pairs = preference_pairs(rewards, cfg.num_generations)
        if len(pairs) == 0:  # every group tied: nothing to prefer
            return [{"loss": 0.0, "dpo/pairs": 0.0}]
        self.adapter.policy.train()
        stats, per_batch = [], max(1, cfg.minibatch_size // 2)
        for _ in range(cfg.updates_per_iteration):
            order = torch.randperm(len(pairs), generator=gen)
            for start in range(0, len(pairs), per_batch):
                win, lose = pairs[order[start : start + per_batch]].unbind(dim=1)
                x_win = samples.latents[win.to(samples.latents.device)]
                x_lose = samples.latents[lose.to(samples.latents.device)]
                noise, t = self.adapter.draw_noise_and_time(x_win, gen)
                xt_win, u_win = self.adapter.interpolate(x_win, noise, t)
                xt_lose, u_lose = self.adapter.interpolate(x_lose, noise, t)
                cond = self.adapter.select(samples, torch.cat([win, lose]))
                v, v_ref = self._velocities(torch.cat([xt_win, xt_lose]), torch.cat([t, t]), cond)
                (v_w, v_l), (r_w, r_l) = v.chunk(2), v_ref.chunk(2)
                loss, st = diffusion_dpo_loss(v_w, v_l, r_w, r_l, u_win.float(), u_lose.float(), cfg.beta0,
                                              validate=False)  # fmt: skip
                st["dpo/pairs"] = float(len(pairs))
                self._optimizer_step(loss, st)
                stats.append(st)
        return stats

    def step(self) -> dict[str, float]:
        """Run one iteration (sample, score, advantages, updates) and return its logs."""
        cfg = self.config
        gen = iteration_generator(cfg.seed, self.iteration, self.accelerator.process_index)
        t0 = time.perf_counter()
        self.adapter.policy.eval()
        samples = self.adapter.sample(cfg.samples_per_iteration, gen, group_size=cfg.num_generations)
        if not torch.isfinite(samples.latents).all():  # before the reward is blamed for what it was given
            raise FloatingPointError(f"the policy's samples are not finite at iteration {self.iteration}: its weights "
                                     f"diverged (learning_rate={cfg.learning_rate:g}; lower it)")  # fmt: skip
        t1 = time.perf_counter()
        rewards, info = self._score(samples)
        adv = self._advantages(rewards, samples)
        if cfg.method == "orw" and not torch.isfinite(torch.exp(cfg.orw_temperature * rewards)).all():
            raise ValueError(f"ORW's weights exp(orw_temperature · reward) overflow float32: orw_temperature="
                             f"{cfg.orw_temperature:g} × reward up to {rewards.max().item():.3g} > 88; lower "
                             "orw_temperature or rescale the reward")  # fmt: skip
        beta = None if cfg.method == "dpo" else effective_beta(cfg.method, rewards if adv is None else adv, cfg.beta0,
                                                                cfg.clip)  # fmt: skip
        t2 = time.perf_counter()
        stats = self._update(samples, rewards, adv, gen)
        t3 = time.perf_counter()

        logs: dict[str, float] = {"iteration": self.iteration + 1}
        logs["reward"] = rewards.mean().item()
        logs["reward_std"] = rewards.std(unbiased=False).item()
        if cfg.num_generations is not None:
            group_std = rewards.reshape(-1, cfg.num_generations).std(dim=1, unbiased=False)
            logs["frac_reward_zero_std"] = (group_std < 1e-8).float().mean().item()
        for name, values in (info.get("components") or {}).items():
            logs[f"reward/{name}"] = torch.as_tensor(values, dtype=torch.float32).mean().item()
        for name, values in (info.get("per_func") or {}).items():
            logs[f"rewards/{name}/mean"] = values.mean().item()
        logs.update(merge_step_stats(stats))
        if self.metrics_fn is not None:
            logs.update(self.metrics_fn(samples, rewards, info))
        logs.update({"time/sample": t1 - t0, "time/reward": t2 - t1, "time/update": t3 - t2})
        self.iteration += 1
        self.history.append(logs)
        self.last_rollout, self.last_rewards, self.last_advantages, self.last_beta_eff = samples, rewards, adv, beta
        return logs
