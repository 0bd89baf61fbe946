"""MNIST experiments: pretraining, one RL run, the β0 sweep, evaluation.

Command line (each prints where it wrote and what it measured)::

    python -m adrpo_nb.experiments.mnist pretrain            # ~7 min on 2 CPU cores -> runs/pretrain/mnist/
    python -m adrpo_nb.experiments.mnist train --method adrpo --beta0 0.05   # one run, ~1.5 min
    python -m adrpo_nb.experiments.mnist sweep               # all methods × β0 × seeds -> runs/results/
    python -m adrpo_nb.experiments.mnist evaluate            # the base model's metrics

Add ``--smoke`` to any of them for a seconds-long version (what CI runs; it writes only under ``runs/*-smoke/``).
Nothing is written into ``data/`` unless ``--out`` says so: the committed files were made with
``pretrain --out data/checkpoints/mnist`` and ``sweep --out data/results/mnist_sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adrpo_nb.core import group_advantages
from adrpo_nb.experiments.book import book_command, committed_book_result
from adrpo_nb.experiments.mnist.family import diversity, even_digits
from adrpo_nb.experiments.runner import (
    book_config,
    check_output,
    default_output,
    describe_result,
    finished_result,
    run_flow_experiment,
    run_folder,
    run_jobs,
    run_name,
    select_runs,
    smoke,
    summarize_sweep,
    sweep_provenance,
)
from adrpo_nb.models.mnist import LatentFlowAdapter, LatentFlowModel, load_base_model
from adrpo_nb.rewards.mnist import EVEN_DIGITS, ClassProbabilityReward
from adrpo_nb.tasks.mnist import load_mnist
from adrpo_nb.trainers.flow_matching import FlowMatchingRLConfig, FlowMatchingRLTrainer
from adrpo_nb.types import FlowSamples
from adrpo_nb.utils.checkpoints import save_module, weights_sha256
from adrpo_nb.utils.paths import atomic_write_json
from adrpo_nb.utils.provenance import git_commit, portable_paths, provenance
from adrpo_nb.utils.runlock import locks_output_dir
from adrpo_nb.viz.images import png_base64

__all__ = [
    "EVAL_SEED",
    "SWEEP_BETAS",
    "SWEEP_METHODS",
    "batch_metrics",
    "book_run",
    "book_run_config",
    "evaluate_velocity",
    "learning_from_failures",
    "make_trainer",
    "run_rl",
    "select_runs",
    "smoke_config",
    "sweep",
]

EVAL_SEED = 20251023  # one fixed noise batch for every evaluation: paired comparisons across runs
SWEEP_METHODS = ("none", "fixed", "orw", "adrpo")
SWEEP_BETAS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
CURVE_KEYS = (
    "reward", "reward_std", "even_entropy_norm", "class_entropy_norm", "pairwise_distance", "w2",
    "beta_eff/mean", "beta_eff/min", "beta_eff/max", "beta_eff/frac_negative", "rl_term", "w2_term", "grad_norm",
)  # fmt: skip
RESULTS_FILE = ("results", "mnist_sweep.json")
DIVERSITY_KEYS = ("even_entropy_norm", "pairwise_distance")


def smoke_config(config: FlowMatchingRLConfig) -> FlowMatchingRLConfig:
    """The same run, shrunk to seconds: 8 iterations of 64 samples."""
    return replace(config, iterations=8, samples_per_iteration=64, minibatch_size=64, updates_per_iteration=2,
                   checkpoint_every=4)  # fmt: skip


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


def make_trainer(
    config: FlowMatchingRLConfig, reward: ClassProbabilityReward = even_digits, *, base: LatentFlowModel | None = None,
    callbacks: Sequence[Any] = (),
) -> FlowMatchingRLTrainer:
    """The trainer :func:`run_rl` (and so :func:`book_run`) trains: the shipped base model's latent flow,
    rewarded by ``reward`` (the classifier's P(even digit) by default), with batch diversity logged."""
    adapter = LatentFlowAdapter(base or load_base_model())
    return FlowMatchingRLTrainer(
        adapter, reward.score_with_info, config, metrics_fn=batch_metrics, callbacks=list(callbacks)
    )


# ----------------------------------------------------------------------------- one RL run
@locks_output_dir
def run_rl(
    config: FlowMatchingRLConfig,
    reward: ClassProbabilityReward = even_digits,
    *,
    eval_samples: int = 1024,
    beta_eff_snapshots: Sequence[int] = (),
    base: LatentFlowModel | None = None,
    command: str | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Fine-tune the shipped base model with ``config`` and return (and save) a result dict.

    If ``config.output_dir`` holds a finished run's ``result.json`` it is returned as is; an
    interrupted run resumes from its checkpoint. The result has ``config``, ``final`` (metrics
    of :func:`evaluate_velocity`), ``curve`` (logs every few iterations), ``samples_png`` (a base64
    8×8 grid), and at the iterations in ``beta_eff_snapshots``: ``beta_eff`` (per-sample β_eff of
    that iteration's batch) and ``samples_during_training`` (a 4×8 grid of that batch); and ``provenance``.
    Note: a checkpoint-resumed run only has the snapshots taken after it resumed.
    """
    done = finished_result(config)
    if done is not None:
        return done
    commit = git_commit()
    base = base or load_base_model()
    trainer = make_trainer(config, reward, base=base, callbacks=callbacks)
    return run_flow_experiment(
        trainer, lambda policy: evaluate_velocity(base, policy, reward, eval_samples), curve_keys=CURVE_KEYS,
        snapshots=beta_eff_snapshots, command=command, commit=commit, extra={"reward_fn": repr(reward)},
    )  # fmt: skip


def book_run_config(method: str, beta0: float, *, iterations: int | None = None, seed: int = 0,
                    **overrides: Any) -> FlowMatchingRLConfig:  # fmt: skip
    """The config :func:`book_run` trains with: the default :class:`FlowMatchingRLConfig` with ``method``,
    ``beta0``, ``seed`` and ``overrides``, shrunk in smoke mode, writing to ``runs/book[-smoke]/<name>``."""
    return book_config(FlowMatchingRLConfig(method=method, beta0=beta0, seed=seed, **overrides),
                       run_name(method, beta0, seed), smoke_config, iterations)  # fmt: skip


def book_run(
    method: str, beta0: float, *, iterations: int | None = None, seed: int = 0, callbacks: Sequence[Any] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """A chapter's run: the committed ``data/results/book/`` result in full mode (:mod:`adrpo_nb.experiments.book`),
    else ``runs/book[-smoke]/<name>/result.json`` if present, else trains and saves it.

    Smoke mode (``ADRPO_SMOKE=1``) shrinks it with :func:`smoke_config` and keeps it in its own folder,
    so a smoke result never stands in for a full one. β_eff is recorded at a few iterations. The config is
    :func:`book_run_config`'s, the trainer :func:`make_trainer`'s.
    """
    cfg = book_run_config(method, beta0, iterations=iterations, seed=seed, **overrides)
    committed = committed_book_result(cfg, smoke())
    if committed is not None:
        return committed
    marks = sorted({1, max(1, cfg.iterations // 10), cfg.iterations // 2, cfg.iterations} - {0})
    return run_rl(cfg, eval_samples=256 if smoke() else 1024, beta_eff_snapshots=marks, callbacks=callbacks,
                  command=book_command("mnist", f"{method!r}, {beta0!r}, iterations={cfg.iterations}"))


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
    FlowMatchingRLTrainer(adapter, even_digits, cfg, advantage_fn=lambda r, s: advantages[poor]).train()
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


# ----------------------------------------------------------------------------- the sweep
SNAPSHOT_ITERATIONS = (1, 10, 50, 150, 300)


def _sweep_job(args: tuple[dict, str]) -> dict[str, Any]:
    config_dict, command = args
    config_dict = {**config_dict, "clip": tuple(config_dict["clip"]) if config_dict["clip"] else None}
    config = FlowMatchingRLConfig(**config_dict)
    snapshots = SNAPSHOT_ITERATIONS if config.method == "adrpo" and config.seed == 0 else ()
    return run_rl(config, beta_eff_snapshots=snapshots, command=command)


def sweep(
    methods: Sequence[str] = SWEEP_METHODS,
    betas: Sequence[float] = SWEEP_BETAS,
    seeds: Sequence[int] = (0, 1, 2),
    base_config: FlowMatchingRLConfig | None = None,
    runs_dir: str | Path | None = None,
    workers: int = 2,
    log=print,
) -> dict[str, Any]:
    """Run every (method, β0, seed) — ``none`` once per seed — in ``workers`` processes of one thread.

    Each run's folder is ``<runs_dir>/<name>_<hash of its settings>`` (default ``runs/mnist_sweep``). Finished
    runs are skipped and interrupted ones resume, so the sweep can be stopped and rerun.
    Returns the sweep dict: ``base`` (the pretrained model's metrics), ``runs``, ``summary``, ``provenance``.
    """
    start, commit = time.perf_counter(), git_commit()
    base_config = base_config or FlowMatchingRLConfig(progress=False)
    runs_dir = runs_dir or default_output("mnist_sweep")
    jobs, names = [], []
    for method in methods:
        for beta0 in betas if method != "none" else (0.0,):
            for seed in seeds:
                name = run_name(method, beta0, seed)
                cfg = replace(base_config, method=method, beta0=beta0, seed=seed, progress=False)
                cfg = replace(cfg, output_dir=run_folder(runs_dir, name, cfg))
                jobs.append((cfg.to_dict(), f"python -m adrpo_nb.experiments.mnist sweep (run {name})"))
                names.append(name)
    log(f"sweep: {len(jobs)} runs in {workers} worker(s), results under {runs_dir}")
    runs = run_jobs(_sweep_job, jobs, workers, partial(describe_result, diversity_key="even_entropy_norm"), names,
                    log)  # fmt: skip
    base_metrics, base_images = evaluate_velocity(load_base_model())
    base_metrics["samples_png"] = png_base64(base_images[:64])
    result = {"base": base_metrics, "runs": runs}
    result["summary"] = summarize_sweep(result, DIVERSITY_KEYS)
    result["provenance"] = sweep_provenance(start, commit, "adrpo_nb.experiments.mnist", workers)
    return result


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


# ----------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m adrpo_nb.experiments.mnist", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("pretrain", help="train classifier, autoencoder and base flow")
    pre.add_argument("--out", type=Path, default=None,
                     help="default: runs/pretrain[-smoke]/mnist (the shipped models: --out data/checkpoints/mnist)")
    pre.add_argument("--smoke", action="store_true")
    tr = sub.add_parser("train", help="one RL fine-tuning run")
    tr.add_argument("--method", default="adrpo", choices=("adrpo", "fixed", "none", "orw"))
    tr.add_argument("--beta0", type=float, default=FlowMatchingRLConfig.beta0)
    tr.add_argument("--clip", type=float, nargs=2, default=None, metavar=("A_MIN", "A_MAX"))
    tr.add_argument("--iterations", type=int, default=FlowMatchingRLConfig.iterations)
    tr.add_argument("--lr", type=float, default=FlowMatchingRLConfig.learning_rate)
    tr.add_argument("--scale-rewards", "--scale-advantages", dest="scale_rewards", action="store_true")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default=None, help="run folder (checkpoint, history.json, result.json)")
    tr.add_argument("--smoke", action="store_true")
    sw = sub.add_parser("sweep", help="β0 sweep over methods and seeds, written as one JSON")
    sw.add_argument("--methods", nargs="+", default=list(SWEEP_METHODS))
    sw.add_argument("--betas", type=float, nargs="+", default=list(SWEEP_BETAS))
    sw.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sw.add_argument("--workers", type=int, default=2)
    sw.add_argument("--runs-dir", default=None, help="default: runs/mnist_sweep[-smoke]")
    sw.add_argument("--out", type=Path, default=None,
                    help="default: runs/results[-smoke]/mnist_sweep.json (the book's: data/results/mnist_sweep.json)")
    sw.add_argument("--smoke", action="store_true")
    sub.add_parser("evaluate", help="metrics of the shipped base model")
    return p


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    shrink = getattr(args, "smoke", False) or smoke()
    check_output(getattr(args, "out", None), shrink)
    if args.command == "pretrain":
        out = args.out or default_output("pretrain", "mnist", smoke_run=shrink)
        pretrain(out, smoke_run=shrink)
        print(f"wrote {out}")
    elif args.command == "train":
        cfg = FlowMatchingRLConfig(method=args.method, beta0=args.beta0, clip=tuple(args.clip) if args.clip else None,
                                   iterations=args.iterations, learning_rate=args.lr, seed=args.seed,
                                   scale_rewards=args.scale_rewards, output_dir=args.out)  # fmt: skip
        if shrink:
            cfg = smoke_config(cfg)
        result = run_rl(cfg, eval_samples=256 if shrink else 1024)
        if not _is_main_process():
            return 0
        final = result["final"]
        print(json.dumps({k: final[k] for k in ("reward", "even_entropy_norm", "class_entropy_norm",
                                                "pairwise_distance", "w2")}, indent=1))  # fmt: skip
        print(f"{result['provenance']['seconds']} s" + (f"; wrote {args.out}/result.json" if args.out else ""))
    elif args.command == "sweep":
        base_cfg = FlowMatchingRLConfig(progress=False)
        if shrink:
            base_cfg = smoke_config(base_cfg)
        check_output(args.runs_dir, shrink, "--runs-dir")
        runs = args.runs_dir or default_output("mnist_sweep", smoke_run=shrink)
        out = args.out or default_output("results", RESULTS_FILE[-1], smoke_run=shrink)
        result = sweep(args.methods, args.betas, args.seeds, base_cfg, runs, args.workers)
        atomic_write_json(out, portable_paths(result))
        for key, s in result["summary"]["by_diversity"].items():
            hv = {m: round(v["hypervolume"], 4) for m, v in s["methods"].items()}
            print(f"hypervolume (reward × {key}): {hv}; ADRPO / best baseline ({s['best_baseline']}) = "
                  f"{s['adrpo_hv_ratio'] if s['adrpo_hv_ratio'] is None else round(s['adrpo_hv_ratio'], 3)}")
        print(f"wrote {out}")
    elif args.command == "evaluate":
        metrics, _ = evaluate_velocity(load_base_model())
        print(json.dumps(metrics, indent=1))
    return 0
