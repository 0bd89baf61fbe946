"""Online GRPO / ADRPO-GRPO for causal language models: one trainer, a ``method`` switch.

Each iteration

1. draws ``prompts_per_iteration`` rows of the dataset and samples ``num_generations`` (K)
   completions per prompt from the *current* policy (``adapter.generate``),
2. scores them with reward callables in TRL's signature
   ``reward(prompts, completions, completion_ids, **columns) -> list[float | None]`` (several
   rewards are weighted and summed; ``None`` = not applicable to that sample),
3. turns rewards into advantages: GRPO's group-normalised ``(r - mean_g) / (std_g + eps)``
   (:func:`adrpo_nb.group_advantages` with ``scale=True``; ``std_g`` Bessel-corrected as in TRL unless
   ``advantage_std="population"``) or any ``advantage_fn`` you pass,
4. takes ``updates_per_iteration`` passes of :func:`adrpo_nb.grpo_loss` over the completions in
   minibatches, with the per-sample coefficient β_i of ``method``: ``adrpo`` (β0 − clip(A)),
   ``fixed`` (β0) or ``none`` (0).

The model family is hidden behind an :class:`~adrpo_nb.types.LMAdapter` (the protocol; this module imports
no model): :class:`~adrpo_nb.models.causal_lm.CausalLMAdapter` implements it for any transformers causal LM,
LoRA or full fine-tuning, and other families subclass that. Runs are
deterministic on CPU for a seed (each iteration draws from its own generator), checkpoint
atomically (only the trainable weights: a LoRA run stores its adapter) and resume bit-identically.
Scale-out: built on 🤗 Accelerate (each process samples its own prompts; groups never cross
processes, so advantages stay local; gradients are averaged by Accelerate). For vLLM generation,
DeepSpeed/FSDP and multi-node runs use the TRL integration, :mod:`adrpo_nb.integrations.trl`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from adrpo_nb.core import (
    GRPO_LOSS_TYPES,
    GRPO_METHODS,
    check_completion_mask,
    check_finite,
    effective_beta,
    group_advantages,
    grpo_loss,
)
from adrpo_nb.metrics import distinct_n, self_bleu
from adrpo_nb.trainers.base import RLConfig, RLTrainer, iteration_generator, merge_step_stats, reward_list
from adrpo_nb.types import LMAdapter, Rollout, TextRewardFn
from adrpo_nb.utils.checkpoints import CheckpointError
from adrpo_nb.utils.validate import ConfigError, check_bool, check_choice, check_float, check_float_list, check_int

__all__ = ["GRPOConfig", "GRPOTrainer", "score_completions"]

AdvantageFn = Callable[[torch.Tensor, Rollout], torch.Tensor]
MetricsFn = Callable[[Rollout, torch.Tensor], dict[str, float]]
Callback = Callable[["GRPOTrainer", dict[str, float]], None]


@dataclass
class GRPOConfig(RLConfig):
    """Settings of :class:`GRPOTrainer`. Defaults are the Qwen chapter's CPU run. The fields both trainers
    share, their checks and :meth:`to_dict` / :meth:`from_dict` are :class:`~adrpo_nb.trainers.base.RLConfig`'s;
    every field is checked at construction and an error names it.

    Args:
        method: ``"adrpo"`` (β_i = β0 − clip(A_i)), ``"fixed"`` (β0: GRPO with a KL penalty) or ``"none"``
            (β = 0).
        beta0: β0 >= 0: ADRPO's base coefficient (> 0 for ``"adrpo"``), GRPO's fixed KL coefficient for
            ``"fixed"``.
        clip: ``(a_min, a_max)``, the clip of the advantage inside β_i (``"adrpo"`` only). ``"auto"`` (the
            default) is ``(-beta0, beta0)`` for ``"adrpo"`` (β_i ∈ [0, 2β0]) and ``None`` otherwise; pass
            ``None`` for the unclipped coefficient (negative for good samples where A > β0). Stored resolved.
        num_generations: completions per prompt (G, TRL's name), >= 2: each group is its own baseline.
        scale_rewards: divide advantages by their group's standard deviation (GRPO); ``False`` centres only
            (Dr. GRPO).
        advantage_std: that standard deviation: ``"unbiased"`` (divide by G − 1, TRL's) or ``"population"``.
        iterations: iterations of sample, score and update.
        updates_per_iteration: passes over each iteration's completions (TRL's ``num_iterations``, μ).
        minibatch_size: completions per optimizer step.
        learning_rate: AdamW's learning rate.
        max_grad_norm: gradient norm clip of each step; ``None`` for none.
        reward_weights: one weight per reward function (the reward is their weighted sum; CESAR's λ are
            these); ``None``: 1 each.
        seed: seeds every iteration's random generator (runs are deterministic on CPU for a seed).
        checkpoint_every: iterations between checkpoints (in ``output_dir``; the last iteration always saves).
        output_dir: where ``checkpoint.pt`` is written and resumed from; ``None``: no checkpoints.
        progress: show a progress bar.
        extra: free-form JSON-safe settings saved with the config (e.g. the task's name).
        prompts_per_iteration: dataset rows drawn per iteration; each is sampled ``num_generations`` times.
        eps_clip: ε of GRPO's ratio clip, [1 − ε, 1 + ε].
        loss_type: how token losses are averaged: ``"grpo"`` (per completion, then over completions),
            ``"dapo"`` (over all tokens of the batch) or ``"dr_grpo"`` (by a fixed length).
        reference_kl_for_none: also run the reference for ``method="none"``, so its KL is logged.
    """

    # the shared fields (RLConfig) with this trainer's defaults
    beta0: float = 0.04
    clip: Any = "auto"
    num_generations: int = 8  # K completions per prompt (TRL's name), >= 2
    scale_rewards: bool = True  # divide advantages by the group std (GRPO); False = Dr. GRPO's centring only
    iterations: int = 200
    updates_per_iteration: int = 1  # passes over each batch (TRL's num_iterations, μ)
    minibatch_size: int = 64  # completions per optimizer step
    learning_rate: float = 1e-4
    # this trainer's own fields
    prompts_per_iteration: int = 8
    eps_clip: float = 0.2
    loss_type: str = "grpo"
    reference_kl_for_none: bool = True  # also compute the reference for method='none' (logs its KL)

    METHODS: ClassVar[tuple[str, ...]] = GRPO_METHODS

    def __post_init__(self) -> None:
        """The shared checks (:meth:`RLConfig.__post_init__`), then this trainer's fields; errors name the field."""
        super().__post_init__()
        for name in ("num_generations", "prompts_per_iteration"):
            setattr(self, name, check_int(name, getattr(self, name), minimum=1))
        if self.num_generations < 2:
            raise ConfigError(f"num_generations must be >= 2 (a group needs a baseline), got {self.num_generations}")
        self.loss_type = check_choice("loss_type", self.loss_type, GRPO_LOSS_TYPES)
        self.eps_clip = check_float("eps_clip", self.eps_clip, positive=True)
        self.reference_kl_for_none = check_bool("reference_kl_for_none", self.reference_kl_for_none)

    @property
    def samples_per_iteration(self) -> int:
        """Completions per iteration: ``prompts_per_iteration × num_generations``."""
        return self.prompts_per_iteration * self.num_generations


def _reward_name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def score_completions(reward_fns: Sequence[TextRewardFn], weights: Sequence[float], rollout: Rollout
                      ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Every reward function on a rollout: ``(weighted total [N], per-function values [N, F] with NaN for None)``.

    As in TRL the total is the weighted sum over the functions that apply to a sample (``None``
    skipped). Unlike TRL, which gives a sample no function applies to a zero advantage, this is an
    error here (it usually means a dataset column is missing); so is a NaN/inf value, a list of the
    wrong length, or a reward that is not a number.
    """
    weights = check_float_list("reward_weights", list(weights))  # a NaN weight would drop its reward silently
    if len(weights) != len(reward_fns):
        raise ValueError(f"reward_weights has {len(weights)} entries for {len(reward_fns)} reward functions")
    n = len(rollout)
    per_func = torch.full((n, len(reward_fns)), float("nan"))
    ids = [row[mask.bool()].tolist() for row, mask in zip(rollout.completion_ids, rollout.completion_mask,
                                                          strict=True)]  # fmt: skip
    for j, fn in enumerate(reward_fns):
        out = fn(prompts=rollout.prompts, completions=rollout.completions, completion_ids=ids, **rollout.columns)
        try:
            values = None if isinstance(out, (str, bytes, dict)) else list(out)
        except TypeError:  # a number, a 0-d tensor: one value for the whole batch
            values = None
        if values is None:
            raise ValueError(f"reward {_reward_name(fn)!r} must return a list of {n} values (one per completion, "
                             f"None where it does not apply), got {type(out).__name__} {str(out)[:80]}")  # fmt: skip
        if len(values) != n:
            raise ValueError(f"reward {_reward_name(fn)!r} returned {len(values)} values for {n} completions")
        for i, v in enumerate(values):
            if v is None:
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"reward {_reward_name(fn)!r} returned {v!r} at index {i}: not a number") from None
            if not math.isfinite(v):
                raise ValueError(f"reward {_reward_name(fn)!r} returned a non-finite value {v!r} at index {i} "
                                 f"(return None for 'not applicable')")  # fmt: skip
            per_func[i, j] = v
    unscored = torch.isnan(per_func).all(dim=1)
    if unscored.any():
        i = int(unscored.nonzero()[0, 0])
        raise ValueError(f"every reward function returned None for completion {i} (prompt {rollout.prompts[i]!r}): "
                         "no reward applies to it; check the dataset's columns")  # fmt: skip
    total = (per_func * torch.tensor(list(weights), dtype=torch.float32)).nansum(dim=1)
    return total, per_func


class GRPOTrainer(RLTrainer):
    """Online GRPO with ``method ∈ {adrpo, fixed, none}`` for a causal LM (see :class:`GRPOConfig`).

    Args:
        adapter: the policy, its reference and how to sample (an :class:`~adrpo_nb.types.LMAdapter`).
        reward_funcs: one reward callable or several (TRL's signature; TRL's own reward functions plug in).
        train_dataset: rows (dicts, or a 🤗 ``datasets.Dataset``) with a ``"prompt"`` (a string or chat
            messages) and any other columns, which reach the rewards as keyword lists.
        config: a :class:`GRPOConfig`.
        metrics_fn: optional ``metrics_fn(rollout, rewards) -> dict`` logged every iteration.
        advantage_fn: optional ``advantage_fn(rewards, rollout) -> Tensor[N]`` replacing the group
            normalisation — the extension point for other advantage estimators.
        callbacks: called as ``cb(trainer, logs)`` after each iteration, before its checkpoint.
        accelerator: an ``accelerate.Accelerator``; one is made if ``None``.
    """

    CHECKPOINT_FORMAT = "adrpo_nb.grpo/1"
    PROGRESS_KEYS = ("reward", "kl", "entropy")

    def __init__(
        self,
        adapter: LMAdapter,
        reward_funcs: TextRewardFn | Sequence[TextRewardFn],
        train_dataset: Sequence[dict],
        config: GRPOConfig,
        *,
        metrics_fn: MetricsFn | None = None,
        advantage_fn: AdvantageFn | None = None,
        callbacks: Sequence[Callback] = (),
        accelerator: Any = None,
    ):
        self.reward_funcs, self.reward_weights = reward_list(reward_funcs, config.reward_weights)
        if len(train_dataset) == 0:
            raise ValueError("train_dataset is empty")
        if "prompt" not in train_dataset[0]:
            raise ValueError(f"dataset rows need a 'prompt' column, got columns {sorted(train_dataset[0])}")
        self.dataset = train_dataset
        self.metrics_fn, self.advantage_fn = metrics_fn, advantage_fn
        super().__init__(adapter, config, callbacks=callbacks, accelerator=accelerator, optimizer="adamw",
                         weight_decay=0.0)

    # ------------------------------------------------------------------ checkpointed weights
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return self.adapter.trainable_state_dict()

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor], path: Path) -> None:
        try:
            self.adapter.load_trainable_state_dict(state)
        except KeyError as err:
            raise CheckpointError(f"{path} does not fit this policy: {err}") from None

    # ------------------------------------------------------------------ one iteration
    def _prompt_rows(self, gen: torch.Generator) -> list[dict]:
        index = torch.randint(len(self.dataset), (self.config.prompts_per_iteration,), generator=gen)
        return [dict(self.dataset[int(i)]) for i in index]

    def _rollout(self, gen: torch.Generator) -> Rollout:
        rows = self._prompt_rows(gen)
        columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != "prompt"}
        return self.adapter.generate([r["prompt"] for r in rows], self.config.num_generations, gen, columns)

    def _advantages(self, rewards: torch.Tensor, rollout: Rollout) -> torch.Tensor:
        if self.advantage_fn is not None:
            adv = torch.as_tensor(self.advantage_fn(rewards, rollout), dtype=torch.float32)
            if adv.shape != rewards.shape:  # a (K, P) or (P, K) matrix would need guessing its layout: refused
                raise ValueError(f"advantage_fn must return one advantage per completion, shape ({len(rollout)},) in "
                                 f"the rewards' order (prompt-major: completion j of prompt i at i·K + j); got shape "
                                 f"{tuple(adv.shape)}")  # fmt: skip
            check_finite("advantages", adv)
            return adv
        return group_advantages(rewards, self.config.num_generations, scale=self.config.scale_rewards, eps=1e-4,
                                std=self.config.advantage_std)  # fmt: skip

    def _minibatches(self, n: int, gen: torch.Generator | None) -> list[torch.Tensor]:
        order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
        return [order[s : s + self.config.minibatch_size] for s in range(0, n, self.config.minibatch_size)]

    @torch.no_grad()
    def _frozen_logprobs(self, rollout: Rollout, reference: bool) -> torch.Tensor:
        parts = torch.zeros(rollout.completion_ids.shape, device=rollout.completion_ids.device)
        for idx in self._minibatches(len(rollout), None):
            sub = rollout.select(idx)
            parts[idx] = (self.adapter.reference_logprobs(sub) if reference else
                          self.adapter.logprobs(sub)[0]).float()  # fmt: skip
        return parts

    def _non_finite_loss(self, loss: torch.Tensor, adv: torch.Tensor, rescaled: torch.Tensor) -> FloatingPointError:
        """The error of a non-finite loss, naming its cause: the advantages' size when the same loss with them
        rescaled to [-1, 1] is finite (before: every such loss blamed the learning rate), else the policy."""
        cause = "the advantages are too large for float32: rescale the reward (or advantage_fn)"
        if not torch.isfinite(rescaled):
            cause = "the policy diverged: lower learning_rate or raise beta0"
        return FloatingPointError(f"non-finite loss {loss.item()} at iteration {self.iteration} (advantages in "
                                  f"[{adv.min().item():.3g}, {adv.max().item():.3g}]): {cause}")  # fmt: skip

    def _update(self, rollout: Rollout, adv: torch.Tensor, gen: torch.Generator) -> list[dict]:
        cfg = self.config
        needs_ref = cfg.method != "none" or cfg.reference_kl_for_none
        ref_logp = self._frozen_logprobs(rollout, reference=True) if needs_ref else None
        steps_per_batch = cfg.updates_per_iteration * len(self._minibatches(len(rollout), None))
        self.adapter.policy.eval()  # dropout off: log-probs of the sampling policy (as TRL's disable_dropout)
        old_logp = self._frozen_logprobs(rollout, reference=False) if steps_per_batch > 1 else None
        stats = []
        for _ in range(cfg.updates_per_iteration):
            for idx in self._minibatches(len(rollout), gen):
                sub = rollout.select(idx)
                logp, entropy = self.adapter.logprobs(sub, with_entropy=True)
                mask = sub.completion_mask
                loss_of = partial(
                    grpo_loss, logp, logp.detach() if old_logp is None else old_logp[idx], None if ref_logp is None
                    else ref_logp[idx], mask=mask, method=cfg.method, beta0=cfg.beta0, clip=cfg.clip,
                    eps_clip=cfg.eps_clip, loss_type=cfg.loss_type, max_completion_length=self.adapter.max_new_tokens,
                    validate=False,  # the config is checked, and so are the advantages and the masks (step)
                )  # fmt: skip
                sub_adv = adv[idx].to(logp.device)
                loss, st = loss_of(sub_adv)
                if not torch.isfinite(loss):
                    raise self._non_finite_loss(loss, adv, loss_of(sub_adv / sub_adv.abs().max().clamp(min=1))[0])
                self.accelerator.backward(loss)
                if cfg.max_grad_norm is not None:
                    st["grad_norm"] = float(self.accelerator.clip_grad_norm_(self.adapter.policy.parameters(),
                                                                            cfg.max_grad_norm))  # fmt: skip
                    if not math.isfinite(st["grad_norm"]):  # clipping would zero (or NaN) this update silently
                        raise FloatingPointError(
                            f"non-finite gradient norm {st['grad_norm']} at iteration {self.iteration} (advantages in "
                            f"[{adv.min().item():.3g}, {adv.max().item():.3g}]); rescale the reward (or advantage_fn)")
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                st["entropy"] = ((entropy * mask).sum() / mask.sum()).item()
                stats.append(st)
        return stats

    def step(self) -> dict[str, float]:
        """Run one iteration (sample, score, advantages, updates) and return its logs."""
        cfg = self.config
        gen = iteration_generator(cfg.seed, self.iteration, self.accelerator.process_index)
        t0 = time.perf_counter()
        try:
            rollout = self._rollout(gen)
        except RuntimeError as err:  # sampling from non-finite logits: name the cause, not torch.multinomial
            if self.iteration == 0 or "probability tensor" not in str(err):
                raise
            raise FloatingPointError(f"the policy's logits are not finite at iteration {self.iteration}: its weights "
                                     f"diverged (learning_rate={cfg.learning_rate:g}; lower it)") from err
        t1 = time.perf_counter()
        rewards, per_func = score_completions(self.reward_funcs, self.reward_weights, rollout)
        adv = self._advantages(rewards, rollout)
        beta = effective_beta(cfg.method, adv, cfg.beta0, cfg.clip)
        check_completion_mask(rollout.completion_mask)  # the loss's one check of a batch (the config did the rest)
        t2 = time.perf_counter()
        stats = self._update(rollout, adv, gen)
        t3 = time.perf_counter()

        logs = {"iteration": self.iteration + 1, **self._reward_logs(rewards, per_func),
                **merge_step_stats(stats), **self._completion_logs(rollout)}  # fmt: skip
        if self.metrics_fn is not None:
            logs.update(self.metrics_fn(rollout, rewards))
        logs.update({"time/generate": t1 - t0, "time/reward": t2 - t1, "time/update": t3 - t2})
        self.iteration += 1
        self.history.append(logs)
        self.last_rollout, self.last_rewards, self.last_advantages, self.last_beta_eff = rollout, rewards, adv, beta
        return logs

    def _reward_logs(self, rewards: torch.Tensor, per_func: torch.Tensor) -> dict[str, float]:
        k = self.config.num_generations
        group_std = rewards.reshape(-1, k).std(dim=1, unbiased=False)
        logs = {"reward": rewards.mean().item(), "reward_std": rewards.std(unbiased=False).item(),
                "frac_reward_zero_std": (group_std < 1e-6).float().mean().item()}  # fmt: skip
        for j, fn in enumerate(self.reward_funcs):
            logs[f"rewards/{_reward_name(fn)}/mean"] = torch.nanmean(per_func[:, j]).item()
        return logs

    def _completion_logs(self, rollout: Rollout) -> dict[str, float]:
        lengths = rollout.lengths.float()
        k = self.config.num_generations
        seqs = [[row[m.bool()].tolist() for row, m in zip(rollout.completion_ids[i : i + k],
                                                           rollout.completion_mask[i : i + k], strict=True)]
                for i in range(0, len(rollout), k)]  # fmt: skip
        return {
            "completions/mean_length": lengths.mean().item(),
            "completions/min_length": lengths.min().item(),
            "completions/max_length": lengths.max().item(),
            "completions/clipped_ratio": rollout.truncated.float().mean().item() if rollout.truncated is not None
            else 0.0,
            "diversity/distinct_1": float(np.mean([distinct_n(g, 1) for g in seqs])),
            "diversity/distinct_2": float(np.mean([distinct_n(g, 2) for g in seqs])),
            "diversity/self_bleu": float(np.mean([self_bleu(g) for g in seqs])),
        }  # fmt: skip
