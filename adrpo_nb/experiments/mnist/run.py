"""MNIST experiments: the family's hooks (build, evaluate, record) and its command line. Evaluation of the shipped
model is in family.py, pretraining in pretrain.py, learning from failures in failures.py.

Command line (each prints where it wrote and what it measured; ``--help`` lists every flag)::

    python -m adrpo_nb.experiments.mnist pretrain            # ~7 min on 2 CPU cores -> runs/pretrain/mnist/
    python -m adrpo_nb.experiments.mnist train --method adrpo --beta0 0.05   # one run, ~1.5 min
    python -m adrpo_nb.experiments.mnist sweep               # all methods × β0 × seeds -> runs/results/
    python -m adrpo_nb.experiments.mnist evaluate            # the base model's metrics

Add ``--smoke`` to any of them for a seconds-long version (what CI runs; it writes only under ``runs/*-smoke/``).
Nothing is written into ``data/`` unless ``--out`` says so: the committed files were made with
``pretrain --out data/checkpoints/mnist`` and ``sweep --out data/results/mnist_sweep.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import torch

from adrpo_nb.experiments import cli, runner
from adrpo_nb.experiments.family import Family, RunSpec, Settings, model_fingerprint
from adrpo_nb.experiments.mnist.family import diversity, evaluate_velocity, even_digits, target_digit
from adrpo_nb.experiments.mnist.pretrain import pretrain
from adrpo_nb.experiments.summaries import describe_result, select_runs, summarize_sweep
from adrpo_nb.models.mnist import CHECKPOINT_DIR, LatentFlowAdapter, load_base_model
from adrpo_nb.rewards.mnist import ClassProbabilityReward
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.types import FlowSamples
from adrpo_nb.utils.paths import data_path
from adrpo_nb.utils.validate import ConfigError, check_int
from adrpo_nb.viz.images import png_base64

__all__ = [
    "FAMILY",
    "SWEEP_BETAS",
    "SWEEP_METHODS",
    "MnistFamily",
    "MnistSettings",
    "batch_metrics",
    "book_run",
    "book_run_config",
    "make_trainer",
    "run_rl",
    "select_runs",
    "smoke_config",
]

SWEEP_METHODS = ("none", "fixed", "orw", "adrpo")
SWEEP_BETAS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
SNAPSHOT_ITERATIONS = (1, 10, 50, 150, 300)  # the sweep's ADRPO seed-0 runs record β_eff and samples here
DIVERSITY_KEYS = ("even_entropy_norm", "pairwise_distance")
#: the rewards a run may name: the classifier's P(even digit), or P(k) for one digit k
REWARDS = ("even_digits", *(f"digit_{k}" for k in range(10)))


def reward_named(name: str) -> ClassProbabilityReward:
    """The reward a run's ``settings.reward`` names (:data:`REWARDS`)."""
    return even_digits if name == "even_digits" else target_digit(int(name.removeprefix("digit_")))


@dataclass
class MnistSettings(Settings):
    """What an MNIST run's result depends on beside the trainer's config.

    ``reward``: one of :data:`REWARDS`; ``eval_samples``: digits of the final evaluation (one fixed noise batch);
    ``snapshots``: iterations at which β_eff and a grid of the batch are recorded.
    """

    reward: str = "even_digits"
    eval_samples: int = 1024
    snapshots: tuple[int, ...] = ()

    LEGACY: ClassVar = {"beta_eff_snapshots": "snapshots"}

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ConfigError(f"reward must be one of {REWARDS}, got reward={self.reward!r}")
        self.eval_samples = check_int("eval_samples", self.eval_samples, minimum=2)
        self.snapshots = tuple(check_int("snapshots", s, minimum=1) for s in self.snapshots)


def batch_metrics(samples: FlowSamples, rewards: torch.Tensor, info: dict[str, Any]) -> dict[str, float]:
    """The trainer's ``metrics_fn``: diversity of each training batch (from the classifier's labels and features)."""
    return diversity(labels=info["labels"], features=info["features"])


# ----------------------------------------------------------------------------- the family
class MnistFamily(Family):
    """The shipped latent flow on MNIST, rewarded by the classifier (P(even digit) by default)."""

    name = "mnist"
    config_class = FlowMatchingRLConfig
    settings_class = MnistSettings
    unfingerprinted_results_valid = True  # the MNIST models and data are unchanged since its first runs
    methods = ("adrpo", "fixed", "none", "orw", "dpo")
    smoke: ClassVar = {"iterations": 8, "samples_per_iteration": 64, "minibatch_size": 64, "updates_per_iteration": 2,
                       "checkpoint_every": 4, "eval_samples": 256}  # fmt: skip
    curve_keys = (
        "reward", "reward_std", "even_entropy_norm", "class_entropy_norm", "pairwise_distance", "w2",
        "beta_eff/mean", "beta_eff/min", "beta_eff/max", "beta_eff/frac_negative", "rl_term", "w2_term", "grad_norm",
    )  # fmt: skip
    record_kinds = ("samples_during_training",)
    cli_aliases: ClassVar = {"learning_rate": ("--lr",), "scale_rewards": ("--scale-advantages",)}
    sweep_methods, sweep_betas = SWEEP_METHODS, SWEEP_BETAS
    pretrain_name = "mnist"

    def legacy_settings(self, result: dict[str, Any]) -> dict[str, Any]:
        recorded = result.get("beta_eff") or result.get("samples_during_training") or {}
        reward = result.get("reward_fn", "even_digits").split("(")[0]
        return {"reward": reward, "snapshots": sorted(int(i) for i in recorded)}

    def book_extras(self, spec: RunSpec) -> dict[str, Any]:
        it = spec.config.iterations
        return {"snapshots": tuple(sorted({1, max(1, it // 10), it // 2, it} - {0}))}

    def make_trainer(self, spec: RunSpec, *, callbacks: Sequence[Any] = ()) -> FlowMatchingRLTrainer:
        """The shipped base model's latent flow, rewarded by ``settings.reward``, with batch diversity logged."""
        reward = reward_named(spec.settings.reward)
        return FlowMatchingRLTrainer(LatentFlowAdapter(load_base_model()), reward.score_with_info, spec.config,
                                     metrics_fn=batch_metrics, callbacks=list(callbacks))  # fmt: skip

    def on_iteration(self, trainer: FlowMatchingRLTrainer, spec: RunSpec, records: Any) -> None:
        if trainer.iteration in spec.settings.snapshots:
            records.put("samples_during_training", trainer.iteration, png_base64(trainer.last_rollout.outputs[:32]))

    def evaluate(self, trainer: FlowMatchingRLTrainer, spec: RunSpec, records: Any) -> dict[str, Any]:
        reward = reward_named(spec.settings.reward)
        policy = trainer.accelerator.unwrap_model(trainer.adapter.policy)
        final, images = evaluate_velocity(trainer.adapter.base, policy, reward, spec.settings.eval_samples)
        return {"final": final, "samples_png": png_base64(images[:64]), "reward_fn": repr(reward),
                "samples_during_training": records.get("samples_during_training")}

    def fingerprints(self, spec: RunSpec) -> dict[str, Any]:
        return {"base_model": model_fingerprint(data_path(*CHECKPOINT_DIR))}

    def base_record(self, spec: RunSpec) -> dict[str, Any]:
        metrics, images = evaluate_velocity(load_base_model(), reward=reward_named(spec.settings.reward),
                                            n=spec.settings.eval_samples)  # fmt: skip
        return {**metrics, "samples_png": png_base64(images[:64])}

    def sweep_specs(self, args: Any, base: RunSpec, shrink: bool) -> tuple[list[RunSpec], str]:
        specs, name = super().sweep_specs(args, base, shrink)
        return [s.replace(snapshots=SNAPSHOT_ITERATIONS) if s.config.method == "adrpo" and s.config.seed == 0 else s
                for s in specs], name  # fmt: skip

    def summarize(self, sweep: dict[str, Any]) -> dict[str, Any]:
        return summarize_sweep(sweep, DIVERSITY_KEYS)

    def describe(self, result: dict[str, Any]) -> str:
        return describe_result(result, "even_entropy_norm")

    def summary_lines(self, sweep: dict[str, Any]) -> list[str]:
        lines = []
        for key, s in sweep["summary"]["by_diversity"].items():
            hv = {m: round(v["hypervolume"], 4) for m, v in s["methods"].items()}
            ratio = s["adrpo_hv_ratio"]
            lines.append(f"hypervolume (reward × {key}): {hv}; ADRPO / best baseline ({s['best_baseline']}) = "
                         f"{ratio if ratio is None else round(ratio, 3)}")  # fmt: skip
        return lines

    def pretrain(self, out: Path, smoke_run: bool, args: Any) -> dict[str, Any]:
        return pretrain(out, smoke_run)


FAMILY = MnistFamily()
make_trainer, run_rl = FAMILY.make_trainer, partial(runner.run_rl, FAMILY)
book_run, book_run_config = runner.bind_book_run(FAMILY)
smoke_config = FAMILY.shrink


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adrpo_nb.experiments.mnist``."""
    return cli.main(FAMILY, argv, __doc__)
