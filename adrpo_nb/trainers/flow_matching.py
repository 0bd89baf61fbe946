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

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from adrpo_nb.core import FM_METHODS, check_beta0, diffusion_dpo_loss, fm_rl_loss, group_advantages, resolve_clip
from adrpo_nb.trainers.base import OPTIMIZERS, iteration_generator, make_optimizer
from adrpo_nb.trainers.types import FlowAdapter, FlowSamples
from adrpo_nb.utils.checkpoints import CheckpointError, read_trainer_state, write_trainer_state

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
class FlowMatchingRLConfig:
    """Settings of :class:`FlowMatchingRLTrainer`. Defaults are the MNIST chapter's.

    ``method``: ``adrpo`` (β_eff = β0 − clip(A)), ``fixed`` (β0), ``none`` (β = 0), ``orw``
    (ORW-CFM-W2: weights exp(τ·r) on raw rewards, fixed β0), ``dpo`` (Diffusion-DPO on each
    group's best-vs-worst pair; ``beta0`` is DPO's β and ``group_size`` ≥ 2 is required).
    """

    method: str = "adrpo"
    beta0: float = 0.05
    clip: Any = None  # (a_min, a_max), None, or "auto" = (-beta0, beta0) for adrpo (as GRPOConfig)
    orw_temperature: float = 0.5
    scale_advantages: bool = False  # divide by the group std (GRPO); off in the paper's flow-matching form
    group_size: int | None = None  # samples per prompt; None = the whole batch is one group
    #: noise the samples of one group with the same (t, noise) in each update (common random numbers;
    #: needs group_size). Σ A_i = 0 in a group, so the loss's dependence on t then cancels from the
    #: advantage-weighted sum instead of adding noise to its gradient. ("dpo" always noises a pair alike.)
    shared_noise: bool = False
    iterations: int = 300
    samples_per_iteration: int = 256
    updates_per_iteration: int = 4
    minibatch_size: int = 256
    learning_rate: float = 3e-4
    optimizer: str = "adam"  # "adam", "adamw", or "adam8bit" (bitsandbytes, GPU: a memory saver for big models)
    max_grad_norm: float | None = 1.0
    seed: int = 0
    checkpoint_every: int = 25
    output_dir: str | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, saved with the run (e.g. task name)

    #: fields that may differ between a checkpoint and the run that resumes it
    RESUMABLE_CHANGES = ("iterations", "checkpoint_every", "output_dir", "progress")

    def __post_init__(self) -> None:
        if self.method not in FLOW_METHODS:
            raise ValueError(f"method must be one of {FLOW_METHODS}, got method={self.method!r}")
        self.beta0 = check_beta0(self.beta0)
        self.clip = resolve_clip(self.clip, self.method, self.beta0)
        positive = ("iterations", "samples_per_iteration", "updates_per_iteration", "minibatch_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {name}={value!r}")
        if self.group_size is not None and (self.group_size < 1 or self.samples_per_iteration % self.group_size):
            raise ValueError(
                f"samples_per_iteration={self.samples_per_iteration} must be a multiple of group_size={self.group_size}"
            )
        if self.shared_noise and self.group_size is None:
            raise ValueError("shared_noise=True noises each group alike: it needs group_size (samples per prompt)")
        if self.method == "dpo" and (self.group_size is None or self.group_size < 2):
            raise ValueError(
                f"method='dpo' needs groups of at least 2 samples per prompt, got group_size={self.group_size!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got optimizer={self.optimizer!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be > 0, got learning_rate={self.learning_rate!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["clip"] = list(self.clip) if self.clip is not None else None
        return d


RewardFn = Callable[..., Any]
AdvantageFn = Callable[[torch.Tensor, FlowSamples], torch.Tensor]
MetricsFn = Callable[[FlowSamples, torch.Tensor, dict], dict[str, float]]
Callback = Callable[["FlowMatchingRLTrainer", dict[str, float]], None]


class FlowMatchingRLTrainer:
    """Online RL for a flow model with ``method ∈ {adrpo, fixed, none, orw}`` (see :class:`FlowMatchingRLConfig`).

    Args:
        adapter: the model family (policy, reference, sampling, interpolation convention).
        reward_fn: ``reward(outputs) -> Tensor[N]`` or ``reward(outputs, prompts, metadata) -> (scores, info)``
            (the DDPO / flow_grpo convention; ``info`` is passed on to ``metrics_fn``).
        config: a :class:`FlowMatchingRLConfig`.
        metrics_fn: optional ``metrics_fn(samples, rewards, info) -> dict`` logged every iteration
            (e.g. class entropy, pairwise diversity).
        advantage_fn: optional ``advantage_fn(rewards, samples) -> Tensor[N]`` replacing the group-mean
            baseline — the extension point for other advantage estimators.
        callbacks: called as ``cb(trainer, logs)`` after each iteration (and its checkpoint).
        accelerator: an ``accelerate.Accelerator``; one is made if ``None``.
    """

    def __init__(
        self,
        adapter: FlowAdapter,
        reward_fn: RewardFn,
        config: FlowMatchingRLConfig,
        *,
        metrics_fn: MetricsFn | None = None,
        advantage_fn: AdvantageFn | None = None,
        callbacks: Sequence[Callback] = (),
        accelerator: Any = None,
    ):
        from accelerate import Accelerator

        self.config = config
        self.accelerator = accelerator or Accelerator()
        self.adapter = adapter.to(self.accelerator.device)
        self.reward_fn = reward_fn
        self.metrics_fn = metrics_fn
        self.advantage_fn = advantage_fn
        self.callbacks = list(callbacks)
        params = [p for p in adapter.policy.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the adapter's policy has no trainable parameters")
        optimizer = make_optimizer(config.optimizer, params, config.learning_rate)
        self.adapter.policy, self.optimizer = self.accelerator.prepare(adapter.policy, optimizer)
        self.iteration = 0
        self.history: list[dict[str, float]] = []
        self.last_samples: FlowSamples | None = None  # of the latest iteration, for callbacks
        self.last_rewards: torch.Tensor | None = None
        self.last_advantages: torch.Tensor | None = None

    # ------------------------------------------------------------------ paths and checkpoints
    @property
    def output_dir(self) -> Path | None:
        return Path(self.config.output_dir) if self.config.output_dir else None

    @property
    def checkpoint_path(self) -> Path | None:
        return self.output_dir / "checkpoint.pt" if self.output_dir else None

    def save_checkpoint(self) -> None:
        """Atomically write trainable weights, optimizer, iteration, history and config to ``checkpoint.pt``."""
        if self.checkpoint_path is None or not self.accelerator.is_main_process:
            return
        state = {
            "format": "adrpo_nb.flow_matching/1",
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "policy": {k: v.detach().cpu() for k, v in self._trainable_parameters().items()},
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
        }
        write_trainer_state(self.checkpoint_path, state)

    def load_checkpoint(self, path: str | Path | None = None) -> bool:
        """Resume from ``path`` (default ``output_dir/checkpoint.pt``); returns False if there is none.

        Raises:
            CheckpointError: the file is not a trainer checkpoint, or its config differs from this
                run's in a field that changes the result (the message lists them).
        """
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or not path.exists():
            return False
        state = read_trainer_state(path, "adrpo_nb.flow_matching/1", "FlowMatchingRLTrainer", self.config.to_dict(),
                                   self.config.RESUMABLE_CHANGES)  # fmt: skip
        trainable = self._trainable_parameters()
        if state["policy"].keys() != trainable.keys():
            missing = sorted(trainable.keys() - state["policy"].keys())[:5]
            extra = sorted(state["policy"].keys() - trainable.keys())[:5]
            raise CheckpointError(f"{path} does not fit this policy: missing {missing}, unexpected {extra}")
        with torch.no_grad():
            for name, param in trainable.items():
                if param.shape != state["policy"][name].shape:
                    raise CheckpointError(f"{path}: {name} has shape {tuple(state['policy'][name].shape)}, "
                                          f"the policy's is {tuple(param.shape)}")  # fmt: skip
                param.copy_(state["policy"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.history = list(state["history"])
        return True

    def _trainable_parameters(self) -> dict[str, torch.nn.Parameter]:
        """The parameters being trained (all of a small MLP, only the LoRA of SD3): what a checkpoint keeps."""
        policy = self.accelerator.unwrap_model(self.adapter.policy)
        return {name: p for name, p in policy.named_parameters() if p.requires_grad}

    # ------------------------------------------------------------------ one iteration
    def _score(self, samples: FlowSamples) -> tuple[torch.Tensor, dict]:
        if samples.prompts is None:
            out = self.reward_fn(samples.outputs)
        else:
            out = self.reward_fn(samples.outputs, samples.prompts, samples.metadata)
        scores, info = out if isinstance(out, tuple) else (out, {})
        scores = torch.as_tensor(scores, dtype=torch.float32).detach().reshape(-1).cpu()
        if scores.numel() != len(samples):
            raise ValueError(f"reward returned {scores.numel()} scores for {len(samples)} samples")
        if not torch.isfinite(scores).all():
            bad = int((~torch.isfinite(scores)).nonzero()[0, 0])
            raise ValueError(f"reward returned a non-finite score {scores[bad].item()!r} at index {bad}")
        return scores, info

    def _advantages(self, rewards: torch.Tensor, samples: FlowSamples) -> torch.Tensor | None:
        if self.config.method in ("orw", "dpo"):
            return None
        if self.advantage_fn is not None:
            return torch.as_tensor(self.advantage_fn(rewards, samples), dtype=torch.float32).reshape(-1)
        if self.config.group_size is not None:
            return group_advantages(rewards, self.config.group_size, scale=self.config.scale_advantages)
        # the whole batch is one group; with several processes it is the global batch
        everything = self.accelerator.gather(rewards.to(self.accelerator.device)).cpu()
        adv = group_advantages(everything, everything.numel(), scale=self.config.scale_advantages)
        start = self.accelerator.process_index * rewards.numel()
        return adv[start : start + rewards.numel()]

    def _minibatches(self, n: int, gen: torch.Generator) -> list[torch.Tensor]:
        """Shuffled sample indices in minibatches; with ``shared_noise``, whole groups stay together."""
        cfg = self.config
        if not cfg.shared_noise:
            order = torch.randperm(n, generator=gen)
            return list(order.split(cfg.minibatch_size))
        g = cfg.group_size
        groups = torch.randperm(n // g, generator=gen)
        order = (groups[:, None] * g + torch.arange(g)).reshape(-1)
        return list(order.split(max(g, cfg.minibatch_size - cfg.minibatch_size % g)))

    def _training_pair(self, latents: torch.Tensor, gen: torch.Generator):
        if self.config.shared_noise:  # one (noise, t) per group, repeated for its samples
            g = self.config.group_size
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
        return v.float(), v_ref.float()

    def _optimizer_step(self, loss: torch.Tensor, st: dict) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss {loss.item()} at iteration {self.iteration}: the policy diverged "
                "(lower learning_rate, raise beta0, or set max_grad_norm)"
            )
        self.accelerator.backward(loss)
        if self.config.max_grad_norm is not None:
            norm = self.accelerator.clip_grad_norm_(self.adapter.policy.parameters(), self.config.max_grad_norm)
            st["grad_norm"] = float(norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _update(self, samples: FlowSamples, rewards: torch.Tensor, adv: torch.Tensor | None, gen) -> list[dict]:
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
                )  # fmt: skip
                self._optimizer_step(loss, st)
                stats.append(st)
        return stats

    def _update_dpo(self, samples: FlowSamples, rewards: torch.Tensor, gen) -> list[dict]:
        """Diffusion-DPO on (best, worst) of each group, winner and loser noised with the same noise and time."""
        cfg = self.config
        pairs = preference_pairs(rewards, cfg.group_size)
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
                loss, st = diffusion_dpo_loss(v_w, v_l, r_w, r_l, u_win.float(), u_lose.float(), cfg.beta0)
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
        samples = self.adapter.sample(cfg.samples_per_iteration, gen, group_size=cfg.group_size)
        t1 = time.perf_counter()
        rewards, info = self._score(samples)
        adv = self._advantages(rewards, samples)
        t2 = time.perf_counter()
        stats = self._update(samples, rewards, adv, gen)
        t3 = time.perf_counter()

        logs: dict[str, float] = {"iteration": self.iteration + 1}
        logs["reward"] = rewards.mean().item()
        logs["reward_std"] = rewards.std(unbiased=False).item()
        if cfg.group_size is not None:
            group_std = rewards.reshape(-1, cfg.group_size).std(dim=1, unbiased=False)
            logs["frac_reward_zero_std"] = (group_std < 1e-8).float().mean().item()
        for name, values in (info.get("components") or {}).items():
            logs[f"reward/{name}"] = torch.as_tensor(values, dtype=torch.float32).mean().item()
        for key in stats[0]:
            values = [s[key] for s in stats]
            if key == "beta_eff/min":
                logs[key] = min(values)
            elif key == "beta_eff/max":
                logs[key] = max(values)
            else:
                logs[key] = float(np.mean(values))
        if self.metrics_fn is not None:
            logs.update(self.metrics_fn(samples, rewards, info))
        logs.update({"time/sample": t1 - t0, "time/reward": t2 - t1, "time/update": t3 - t2})
        self.iteration += 1
        self.history.append(logs)
        self.last_samples, self.last_rewards, self.last_advantages = samples, rewards, adv
        return logs

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool = True) -> list[dict[str, float]]:
        """Run until ``config.iterations``; resumes from ``output_dir`` if a checkpoint is there."""
        if resume:
            self.load_checkpoint()
        cfg = self.config
        bar = tqdm(
            total=cfg.iterations, initial=self.iteration, desc=f"{cfg.method} β0={cfg.beta0:g}",
            disable=not (cfg.progress and self.accelerator.is_main_process), leave=False,
        )  # fmt: skip
        while self.iteration < cfg.iterations:
            logs = self.step()
            bar.update(1)
            bar.set_postfix({k: f"{logs[k]:.3g}" for k in ("reward", "w2", "beta_eff/frac_negative") if k in logs})
            if self.iteration % cfg.checkpoint_every == 0 or self.iteration == cfg.iterations:
                self.save_checkpoint()
            for callback in self.callbacks:
                callback(self, logs)
        bar.close()
        return self.history
