"""MNIST experiments: the family's hooks (build, evaluate, record), learning from failures, pretraining.

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

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from adrpo_nb.core import group_advantages
from adrpo_nb.experiments import cli, runner
from adrpo_nb.experiments.family import Family, RunSpec, Settings, model_fingerprint
from adrpo_nb.experiments.mnist.family import diversity, even_digits, target_digit
from adrpo_nb.experiments.summaries import describe_result, select_runs, summarize_sweep
from adrpo_nb.models.mnist import CHECKPOINT_DIR, LatentFlowAdapter, LatentFlowModel, load_base_model
from adrpo_nb.rewards.mnist import EVEN_DIGITS, ClassProbabilityReward
from adrpo_nb.tasks.mnist import load_mnist
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.types import FlowSamples
from adrpo_nb.utils.checkpoints import save_module, weights_sha256
from adrpo_nb.utils.paths import atomic_write_json, data_path
from adrpo_nb.utils.provenance import git_commit, provenance
from adrpo_nb.utils.validate import ConfigError, check_int
from adrpo_nb.viz.images import png_base64

__all__ = [
    "EVAL_SEED",
    "FAMILY",
    "SWEEP_BETAS",
    "SWEEP_METHODS",
    "MnistFamily",
    "MnistSettings",
    "batch_metrics",
    "book_run",
    "book_run_config",
    "evaluate_velocity",
    "learning_from_failures",
    "make_trainer",
    "run_rl",
    "select_runs",
    "smoke_config",
]

EVAL_SEED = 20251023  # one fixed noise batch for every evaluation: paired comparisons across runs
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


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_velocity(
    base: LatentFlowModel,
    velocity: torch.nn.Module | None = None,
    reward: ClassProbabilityReward = even_digits,
    n: int = 1024,
    steps: int = 20,
    seed: int = EVAL_SEED,
) -> tuple[dict[str, Any], torch.Tensor]:
    """Metrics of ``velocity`` (default: the base model) on ``n`` samples from a fixed noise batch.

    Returns ``(metrics, images)``. ``w2`` is the regulariser's quantity: the mean squared
    difference between ``velocity`` and the base velocity on interpolants of these samples
    (it bounds the squared W2 distance of the two sample distributions up to a constant).
    """
    velocity = velocity or base.velocity
    was_training = velocity.training
    velocity.eval()
    gen = torch.Generator().manual_seed(seed)
    latents = base.sample_latents(n, gen, steps, velocity=velocity)
    images = base.decode(latents)
    rewards, info = reward.score_with_info(images)
    noise = torch.randn(latents.shape, generator=gen).to(latents.device)
    t = torch.rand(n, generator=gen).to(latents.device)
    x_t = (1 - t[:, None]) * noise + t[:, None] * latents
    gap = (velocity(x_t, t) - base.velocity(x_t, t)).pow(2).mean().item()
    velocity.train(was_training)
    hist = torch.bincount(info["labels"].cpu(), minlength=10).float() / n
    metrics = {
        "reward": rewards.mean().item(),
        "reward_std": rewards.std(unbiased=False).item(),
        "max_prob": info["probs"].max(dim=1).values.mean().item(),
        **diversity(labels=info["labels"], features=info["features"]),
        "w2": gap,
        "class_histogram": [round(v, 4) for v in hist.tolist()],
    }
    return metrics, images


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


def learning_from_failures(
    method: str = "adrpo", beta0: float = 0.05, iterations: int = 30, n: int = 512, seed: int = 0,
    eval_samples: int = 1024,
) -> dict[str, Any]:
    """Fine-tune on the base model's *poor* samples only (advantage < 0, mostly odd digits).

    The same batch is reused every iteration (a fixed-batch adapter) with its advantages against
    the full batch (the ``advantage_fn`` hook). Methods with a signed advantage (``adrpo``,
    ``fixed``) push the policy away from these samples, so the share of even digits rises although
    no good sample was ever shown; ``orw``'s positive weights exp(τ·r) can only pull toward them.
    Returns the class histograms before and after, and the share of even digits.
    """
    base = load_base_model()
    gen = torch.Generator().manual_seed(seed)
    latents = base.sample_latents(n, gen)
    images = base.decode(latents)
    advantages = group_advantages(even_digits(images), n)
    poor = advantages < 0
    batch = FlowSamples(latents=latents[poor], outputs=images[poor])

    class FixedBatchAdapter(LatentFlowAdapter):
        def sample(self, n: int, generator: torch.Generator, group_size: int | None = None) -> FlowSamples:
            return batch

    cfg = FlowMatchingRLConfig(method=method, beta0=beta0, iterations=iterations, samples_per_iteration=len(batch),
                               minibatch_size=len(batch), updates_per_iteration=1, seed=seed,
                               progress=False)  # fmt: skip
    adapter = FixedBatchAdapter(base)
    signed = method not in ("orw", "dpo")  # orw weighs the raw rewards; it takes no advantage_fn
    FlowMatchingRLTrainer(adapter, even_digits, cfg, advantage_fn=(lambda r, s: advantages[poor]) if signed else None
                          ).train()  # fmt: skip
    before, _ = evaluate_velocity(base, n=eval_samples)
    after, _ = evaluate_velocity(base, adapter.policy, n=eval_samples)
    even = list(EVEN_DIGITS)
    return {
        "method": method, "beta0": beta0, "iterations": iterations, "poor_samples": int(poor.sum()),
        "poor_share_even": float(np.isin(np.argmax(_probs(images[poor]), 1), even).mean()),
        "before": before["class_histogram"], "after": after["class_histogram"],
        "even_share_before": float(np.sum(np.array(before["class_histogram"])[even])),
        "even_share_after": float(np.sum(np.array(after["class_histogram"])[even])),
        "reward_before": before["reward"], "reward_after": after["reward"],
    }  # fmt: skip


def _probs(images: torch.Tensor) -> np.ndarray:
    return even_digits.score_with_info(images)[1]["probs"].numpy()


# ----------------------------------------------------------------------------- pretraining
def pretrain(out_dir: Path, smoke_run: bool = False, log=print) -> dict[str, Any]:
    """Train classifier, autoencoder and base flow; write safetensors + ``pretrain.json`` to ``out_dir``."""
    from adrpo_nb.experiments.mnist.pretrain import PretrainConfig, train_autoencoder, train_classifier, train_flow

    cfg = PretrainConfig.smoke() if smoke_run else PretrainConfig()
    start, commit = time.perf_counter(), git_commit()
    images, labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    if cfg.train_subset:
        images, labels = images[: cfg.train_subset], labels[: cfg.train_subset]
    classifier, clf_metrics = train_classifier(images, labels, test_images, test_labels, cfg, log)
    save_module(classifier, out_dir / "classifier.safetensors", {"channels": [32, 64], "hidden": 128})
    ae, ae_metrics = train_autoencoder(images, test_images, test_labels, classifier, cfg, log)
    save_module(ae, out_dir / "autoencoder.safetensors", {"latent_dim": cfg.latent_dim, "channels": [32, 64]})
    flow, flow_metrics = train_flow(images, ae, cfg, log)
    save_module(flow.velocity, out_dir / "flow.safetensors",
                {"dim": cfg.latent_dim, "width": cfg.flow_width, "depth": cfg.flow_depth})  # fmt: skip
    base_metrics = _evaluate_with(flow, classifier)
    log(f"base model: reward {base_metrics['reward']:.3f}, mean max-prob {base_metrics['max_prob']:.3f}, "
        f"class entropy {base_metrics['class_entropy_norm']:.3f}·ln10")  # fmt: skip
    report = {
        "classifier": clf_metrics,
        "autoencoder": ae_metrics,
        "flow": flow_metrics,
        "base_samples": base_metrics,
        "config": vars(cfg),
        "provenance": provenance(time.perf_counter() - start, "cpu",
                                 "python -m adrpo_nb.experiments.mnist pretrain" + (" --smoke" if smoke_run else ""),
                                 commit),
    }  # fmt: skip
    report["sha256"] = weights_sha256(out_dir)  # verified on every load
    atomic_write_json(out_dir / "pretrain.json", report)
    return report


@torch.no_grad()
def _evaluate_with(flow: LatentFlowModel, classifier, n: int = 2048) -> dict[str, Any]:
    images = flow.sample(n, torch.Generator().manual_seed(EVAL_SEED))
    features = classifier.features(images)
    probs = classifier.head(features).softmax(1)
    labels = probs.argmax(1)
    return {"n": n, "reward": probs[:, [0, 2, 4, 6, 8]].sum(1).mean().item(),
            "max_prob": probs.max(1).values.mean().item(), **diversity(labels=labels, features=features)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adrpo_nb.experiments.mnist``."""
    return cli.main(FAMILY, argv, __doc__)
