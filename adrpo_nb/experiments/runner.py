"""What every flow-matching experiment shares: one run's result file, the sweep's process pool,
the reward–diversity summary (Pareto fronts, hypervolume), and the smoke switch.

A *result* (one run) is a dict with ``config``, ``final`` (evaluation metrics, ``None`` if the
run diverged), ``diverged``, ``curve`` (logs every few iterations), ``samples_png``,
``beta_eff`` and ``samples_during_training`` (at snapshot iterations) and ``provenance``.
A *sweep* is ``{"base": metrics of the pretrained model, "runs": [result, ...], "summary": ...,
"provenance": ...}``; the book's figures and the β0 slider read these dicts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from adrpo_nb.core import effective_beta
from adrpo_nb.metrics import hypervolume_2d, pareto_front
from adrpo_nb.trainers.flow_matching import FLOW_METHODS, FlowMatchingRLTrainer
from adrpo_nb.utils.paths import atomic_write_json, data_dir, read_json, runs_dir
from adrpo_nb.utils.provenance import portable_paths, provenance
from adrpo_nb.utils.runlock import run_lock
from adrpo_nb.viz.images import png_base64

__all__ = [
    "RunRecords",
    "book_config",
    "check_output",
    "default_output",
    "equal_grid_comparison",
    "finished_result",
    "run_flow_experiment",
    "run_jobs",
    "run_folder",
    "run_name",
    "select_runs",
    "settings_digest",
    "smoke",
    "summarize_sweep",
    "sweep_provenance",
]

C = TypeVar("C")  # a trainer config dataclass with ``iterations`` and ``output_dir``
Evaluate = Callable[[torch.nn.Module], tuple[dict[str, Any], torch.Tensor]]


def smoke() -> bool:
    """True when ``ADRPO_SMOKE=1``: every chapter and CLI shrinks its sizes, the code stays the same."""
    return os.environ.get("ADRPO_SMOKE") == "1"


def run_name(method: str, beta0: float, seed: int) -> str:
    """The folder name of one run of a sweep, e.g. ``adrpo_b0.05_s1`` (``none_s1`` for β = 0)."""
    return f"{method}_b{beta0:g}_s{seed}" if method != "none" else f"none_s{seed}"


def settings_digest(config: Any, exclude: Sequence[str] = ("output_dir", "progress", "checkpoint_every",
                                                          "iterations")) -> str:  # fmt: skip
    """8 hex digits of a sha1 over every setting of ``config`` but ``exclude``: a run folder's name carries it, so a
    run with other settings never lands in (and reads) a folder of another. ``iterations`` is left out by default:
    a longer run continues a shorter one's checkpoint."""
    settings = {k: v for k, v in config.to_dict().items() if k not in exclude}
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]


def run_folder(parent: str | Path, name: str, config: Any) -> str:
    """``<parent>/<name>_<settings_digest(config)>``: one run of a sweep."""
    return str(Path(parent) / f"{name}_{settings_digest(config)}")


def default_output(*parts: str, smoke_run: bool = False) -> Path:
    """Where a command writes when no ``--out`` is given: ``runs/<parts>`` (``$ADRPO_RUNS``), the first part with
    ``-smoke`` for a smoke run. Nothing is written into ``data/`` unless ``--out`` says so."""
    first, *rest = parts
    return runs_dir().joinpath(first + ("-smoke" if smoke_run else ""), *rest)


def check_output(path: str | Path | None, smoke_run: bool, what: str = "--out") -> None:
    """A smoke run never writes into the data folder (it would replace committed models or results)."""
    if path is None or not smoke_run:
        return
    resolved, data = Path(path).expanduser().resolve(), data_dir().resolve()
    if resolved == data or data in resolved.parents:
        raise SystemExit(f"{what} {path} is inside the data folder {data}: a smoke run writes only under "
                         f"{runs_dir()} (drop --smoke to remake committed files, or choose another {what})")


def book_config(config: C, name: str, shrink: Callable[[C], C], iterations: int | None = None) -> C:
    """A chapter's run: ``config`` with ``iterations`` if given, shrunk by ``shrink`` in smoke mode, and its
    ``output_dir`` at ``runs/book[-smoke]/<name>_it<N>_<hash>``: the hash of every setting, so a run with
    other settings (an exercise's learning rate, say) never reads a finished run's result, and a smoke
    result never stands in for a full one."""
    if iterations is not None:
        config = replace(config, iterations=iterations)
    if smoke():
        config = shrink(config)
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("output_dir", "progress")}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
    folder = "book-smoke" if smoke() else "book"
    return replace(config, output_dir=str(runs_dir() / folder / f"{name}_it{config.iterations}_{digest}"))




#: config fields that do not change a run's result
RESULT_NEUTRAL = ("output_dir", "progress", "checkpoint_every")


def finished_result(config: Any) -> dict[str, Any] | None:
    """The ``result.json`` of a finished run in ``config.output_dir`` if it was made with this config, else ``None``.

    Reused only when the saved config equals ``config`` (:data:`RESULT_NEUTRAL` fields aside). A finished run
    with fewer ``iterations`` gives ``None``: training resumes from its checkpoint. Any other difference is a
    ``ValueError`` naming each differing field with both values (a result never stands in for another run's).
    """
    path = Path(config.output_dir) / "result.json" if config.output_dir else None
    if path is None or not path.exists():
        return None
    result = read_json(path)
    try:
        saved = type(config).from_dict(result["config"]).to_dict()
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} holds no readable config ({err}); use another output folder") from None
    wanted = config.to_dict()
    diffs = {k: (saved.get(k), v) for k, v in wanted.items() if k not in RESULT_NEUTRAL and saved.get(k) != v}
    if not diffs:
        return result
    if diffs.keys() == {"iterations"} and saved["iterations"] < wanted["iterations"]:
        return None  # a longer run: resume from the checkpoint
    detail = ", ".join(f"{k}: result {a!r} vs now {b!r}" for k, (a, b) in diffs.items())
    raise ValueError(f"{path} is the result of another config ({detail}); use another output folder "
                     "(only more iterations continue a finished run)")  # fmt: skip


def run_flow_experiment(
    trainer: FlowMatchingRLTrainer,
    evaluate: Evaluate,
    *,
    curve_keys: Sequence[str],
    snapshots: Sequence[int] = (),
    command: str | None = None,
    commit: str = "unknown",
    extra: dict[str, Any] | None = None,
    nrow: int = 8,
) -> dict[str, Any]:
    """Train (resuming if a checkpoint is there), evaluate the policy, and return/save the result dict.

    ``evaluate(policy) -> (final_metrics, images)``; a run that diverges (``FloatingPointError``, or
    non-finite metrics) is recorded with ``final = None`` and the reason, so a sweep never stops on it.
    At the iterations in ``snapshots`` the per-sample β_eff and a grid of the batch are kept; image
    grids have ``nrow`` images a row (the group size for prompted models: one prompt a row).
    """
    with run_lock(trainer.config.output_dir):
        return _run_flow_experiment(trainer, evaluate, curve_keys=curve_keys, snapshots=snapshots, command=command,
                                    commit=commit, extra=extra, nrow=nrow)  # fmt: skip


def _run_flow_experiment(trainer: FlowMatchingRLTrainer, evaluate: Evaluate, *, curve_keys: Sequence[str],
                         snapshots: Sequence[int], command: str | None, commit: str, extra: dict[str, Any] | None,
                         nrow: int) -> dict[str, Any]:  # fmt: skip
    start, config = time.perf_counter(), trainer.config
    records = RunRecords(config.output_dir, ("beta_eff", "samples_during_training"))

    def record(tr: FlowMatchingRLTrainer, logs: dict) -> None:
        if tr.iteration not in snapshots:
            return
        records.put("samples_during_training", tr.iteration, png_base64(tr.last_rollout.outputs[:32], nrow))
        if tr.last_advantages is not None:
            beta = effective_beta(config.method, tr.last_advantages, config.beta0, config.clip)
            records.put("beta_eff", tr.iteration, [round(b, 5) for b in beta.tolist()])

    trainer.callbacks.insert(0, record)
    records.resume(trainer.iteration) if trainer.load_checkpoint() else records.fresh()
    diverged = None
    try:
        history = trainer.train(resume=False)
    except FloatingPointError as err:  # e.g. fixed β with a small β0: record it, don't lose the sweep
        diverged, history = str(err), trainer.history
    final, images = evaluate(trainer.accelerator.unwrap_model(trainer.adapter.policy))
    if not all(math.isfinite(v) for v in final.values() if isinstance(v, float)):
        diverged = diverged or "non-finite evaluation metrics"
    stride = max(1, len(history) // 60)
    kept = [h for i, h in enumerate(history) if i % stride == 0 or i == len(history) - 1]
    result = {
        "config": config.to_dict(),
        **(extra or {}),
        "final": None if diverged else final,
        "diverged": diverged,
        "curve": {"iteration": [h["iteration"] for h in kept],
                  **{k: [round(h[k], 5) for h in kept] for k in curve_keys if kept and k in kept[0]}},
        "samples_png": png_base64(images[:64], nrow),
        "beta_eff": records.get("beta_eff"),
        "samples_during_training": records.get("samples_during_training"),
        "provenance": provenance(time.perf_counter() - start, trainer.accelerator.device, command, commit),
    }  # fmt: skip
    result = portable_paths(result)  # what is returned is what the file holds
    if config.output_dir and trainer.accelerator.is_main_process:
        atomic_write_json(Path(config.output_dir) / "result.json", result)
    return result


class RunRecords:
    """What a run records at chosen iterations (evaluations, β_eff, sample grids), kept beside its checkpoint.

    The trainer's checkpoint holds the weights, the optimizer and the training logs; the experiments also
    record things at a few iterations, which a resumed run would otherwise lose (an evaluation at iteration
    30 of a run interrupted at 70 and resumed from its checkpoint at 60). Each :meth:`put` rewrites
    ``records.json`` in ``output_dir`` atomically; :meth:`resume` reloads the records up to the iteration the
    checkpoint resumes from (later ones are recorded again as those iterations are replayed), :meth:`fresh`
    drops a previous attempt's. Without ``output_dir`` nothing is written.

    Args:
        output_dir: the run folder (``None``: in memory only).
        kinds: the names of the records, e.g. ``("evals", "beta_eff")``; each maps ``str(iteration)`` to a value.
    """

    FILE = "records.json"

    def __init__(self, output_dir: str | Path | None, kinds: Sequence[str]):
        self.path = Path(output_dir) / self.FILE if output_dir else None
        self.data: dict[str, dict[str, Any]] = {k: {} for k in kinds}

    def fresh(self) -> RunRecords:
        """Start empty (a run from scratch), removing a previous attempt's file."""
        self.data = {k: {} for k in self.data}
        if self.path is not None and self.path.exists():
            self.path.unlink()
        return self

    def resume(self, iteration: int) -> RunRecords:
        """Reload the records of iterations ``<= iteration`` (the checkpoint's) from a previous attempt."""
        stored = read_json(self.path) if self.path is not None and self.path.exists() else {}
        for kind in self.data:
            self.data[kind] = {i: v for i, v in stored.get(kind, {}).items() if int(i) <= iteration}
        return self

    def put(self, kind: str, iteration: int, value: Any) -> None:
        """Record ``value`` under ``kind`` at ``iteration`` and save."""
        if kind not in self.data:
            raise KeyError(f"no record kind {kind!r}; the kinds are {sorted(self.data)}")
        self.data[kind][str(int(iteration))] = value
        if self.path is not None:
            atomic_write_json(self.path, self.data)

    def get(self, kind: str) -> dict[str, Any]:
        """``{str(iteration): value}`` of ``kind``, in iteration order."""
        return dict(sorted(self.data[kind].items(), key=lambda kv: int(kv[0])))


# ----------------------------------------------------------------------------- sweeps
def _one_thread() -> None:
    torch.set_num_threads(1)


def run_jobs(job: Callable[[Any], dict], jobs: Sequence[Any], workers: int, describe: Callable[[dict], str],
             names: Sequence[str], log=print) -> list[dict]:  # fmt: skip
    """``[job(j) for j in jobs]`` in ``workers`` spawned processes of one thread each, logging each as it ends.

    ``job`` must be importable (module level) for the worker processes.
    """
    results = []
    if workers <= 1:
        for name, j in zip(names, jobs, strict=True):
            results.append(job(j))
            log(f"  done {name}: {describe(results[-1])}")
        return results
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_one_thread) as pool:
        for name, result in zip(names, pool.map(job, jobs), strict=True):
            results.append(result)
            log(f"  done {name}: {describe(result)}")
    return results


def describe_result(result: dict[str, Any], diversity_key: str) -> str:
    """One log line: reward, diversity, W2 and time of a run (or why it diverged)."""
    final = result["final"]
    if final is None:
        return f"diverged ({result['diverged']})"
    return (f"reward {final['reward']:.3f}, {diversity_key} {final[diversity_key]:.3f}, W2 {final['w2']:.4f}, "
            f"{result['provenance']['seconds']:.0f} s")  # fmt: skip


def sweep_provenance(start: float, commit: str, module: str, workers: int) -> dict[str, Any]:
    """Provenance of a whole sweep (the invocation's wall time; each run keeps its own)."""
    return provenance(
        time.perf_counter() - start, "cpu",
        " ".join([f"python -m {module}", *sys.argv[1:]]) if sys.argv else None,
        commit, workers=workers, note="seconds is this invocation's wall time; each run's own provenance has its time",
    )  # fmt: skip


def select_runs(sweep_result: dict[str, Any], method: str | None = None, beta0: float | None = None,
                seed: int | None = None, finished: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """The runs of a sweep dict matching ``method``/``beta0``/``seed`` (``None`` = any); ``finished``
    drops diverged ones."""
    return [
        r for r in sweep_result["runs"]
        if (method is None or r["config"]["method"] == method)
        and (beta0 is None or math.isclose(r["config"]["beta0"], beta0))
        and (seed is None or r["config"]["seed"] == seed)
        and not (finished and r["final"] is None)
    ]  # fmt: skip


def _points(runs: list[dict], key: str) -> list[dict]:
    points = []
    for beta0 in sorted({r["config"]["beta0"] for r in runs}):
        group = [r["final"] for r in runs if r["config"]["beta0"] == beta0]
        rew = np.array([g["reward"] for g in group])
        div = np.array([g[key] for g in group])
        points.append({"beta0": beta0, "reward": float(rew.mean()), "reward_std": float(rew.std()),
                       "diversity": float(div.mean()), "diversity_std": float(div.std()),
                       "seeds": len(group)})  # fmt: skip
    return points


def summarize_sweep(result: dict[str, Any], diversity_keys: Sequence[str]) -> dict[str, Any]:
    """Per method and diversity measure: mean±std over seeds per β0, the Pareto front and its hypervolume.

    Both objectives are maximised: (final reward, final diversity). The hypervolume's reference point
    is (the base model's reward, 0): a run counts only for what it gains in reward over the base.
    ``hypervolume`` is that of the front of the seed-means; ``hypervolume_per_seed`` the front of each
    seed's runs alone (mean, std), which shows how much of a gap is noise. Diverged runs (no final
    metrics) are left out of the points and counted in ``diverged``.
    """
    base_reward = result["base"]["reward"]
    reference = (base_reward, 0.0)
    summary: dict[str, Any] = {"reference_point": {"reward": base_reward, "diversity": 0.0}, "by_diversity": {}}
    methods = sorted({r["config"]["method"] for r in result["runs"]}, key=FLOW_METHODS.index)
    for key in diversity_keys:
        per_method = {}
        for method in methods:
            runs = select_runs(result, method, finished=True)
            points = _points(runs, key)
            xy = [(p["reward"], p["diversity"]) for p in points]
            hv_seeds = [hypervolume_2d([(r["final"]["reward"], r["final"][key]) for r in runs
                                        if r["config"]["seed"] == s], reference)
                        for s in sorted({r["config"]["seed"] for r in runs})]  # fmt: skip
            per_method[method] = {
                "points": points,
                "front": pareto_front(xy).tolist() if xy else [],
                "hypervolume": hypervolume_2d(xy, reference) if xy else 0.0,
                "hypervolume_per_seed": {"mean": float(np.mean(hv_seeds)) if hv_seeds else 0.0,
                                         "std": float(np.std(hv_seeds)) if hv_seeds else 0.0},
                "diverged": len(select_runs(result, method)) - len(runs),
            }  # fmt: skip
        baselines = {m: v["hypervolume"] for m, v in per_method.items() if m != "adrpo"}
        best = max(baselines, key=baselines.get) if baselines else None
        ratio = None
        if best and "adrpo" in per_method and baselines[best] > 0:
            ratio = per_method["adrpo"]["hypervolume"] / baselines[best]
        summary["by_diversity"][key] = {"methods": per_method, "best_baseline": best, "adrpo_hv_ratio": ratio}
    return summary


def _nearest(points: list[dict], beta0: float) -> dict:
    """The point whose β0 is nearest ``beta0`` on a log scale (β0 grids are geometric)."""
    return min(points, key=lambda p: abs(math.log(p["beta0"]) - math.log(beta0)))


def equal_grid_comparison(result: dict[str, Any], diversity_key: str = "diversity", k: int | None = None,
                          methods: Sequence[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Hypervolumes of methods compared on equal grids, with the per-β0 pairs beside the ratio.

    :func:`summarize_sweep`'s ``adrpo_hv_ratio`` compares fronts of *unequal* grids (e.g. three ADRPO β0
    against two of fixed β), and a front of more points can only cover more. Here every method that has
    a β0 grid (``none`` has none and is left out unless named in ``methods``) is scored on every subset of
    ``k`` of its β0 settings (default: the smallest grid among them); each method's hypervolume is then
    a range over its subsets, and the ADRPO / baseline ratio a range too (worst ADRPO subset against the
    best baseline subset, up to the reverse), with the ratio of the best subsets. Points are seed means,
    the reference point ``(base reward, 0)`` as in :func:`summarize_sweep`.

    Returns ``{"k", "methods": {method: {"beta0s", "hypervolume": {"min", "max", "best_subset"}}},
    "ratios": {baseline: {"best_vs_best", "min", "max"}}, "pairs": [{"beta0", method: {"beta0", "reward",
    "diversity"}, ...}]}``; ``pairs`` has one row per β0 of ADRPO with each baseline's nearest β0 (log scale).
    """
    reference = (result["base"]["reward"], 0.0)
    names = [m for m in (methods or sorted({r["config"]["method"] for r in result["runs"]}, key=FLOW_METHODS.index))
             if methods is not None or m != "none"]  # fmt: skip
    points = {m: _points(select_runs(result, m, finished=True), diversity_key) for m in names}
    points = {m: p for m, p in points.items() if p}
    if "adrpo" not in points:
        raise ValueError(f"no finished adrpo runs to compare; methods with runs: {sorted(points)}")
    k = min(len(p) for p in points.values()) if k is None else int(k)
    if k < 1 or any(len(p) < k for p in points.values()):
        raise ValueError(f"k={k} must be between 1 and the smallest grid "
                         f"({ {m: len(p) for m, p in points.items()} })")  # fmt: skip
    per_method = {}
    for method, pts in points.items():
        scored = [(hypervolume_2d([(p["reward"], p["diversity"]) for p in subset], reference),
                   [p["beta0"] for p in subset]) for subset in itertools.combinations(pts, k)]  # fmt: skip
        best = max(scored, key=lambda s: s[0])
        per_method[method] = {"beta0s": [p["beta0"] for p in pts],
                              "hypervolume": {"min": min(h for h, _ in scored), "max": best[0],
                                              "best_subset": best[1]}}  # fmt: skip
    ratios = {}
    adrpo = per_method["adrpo"]["hypervolume"]
    for method, entry in per_method.items():
        hv = entry["hypervolume"]
        if method == "adrpo" or hv["max"] <= 0:
            continue
        ratios[method] = {"best_vs_best": adrpo["max"] / hv["max"],
                          "min": adrpo["min"] / hv["max"],
                          "max": adrpo["max"] / hv["min"] if hv["min"] > 0 else math.inf}  # fmt: skip
    pairs = []
    for p in points["adrpo"]:
        row: dict[str, Any] = {"beta0": p["beta0"]}
        for method, pts in points.items():
            q = p if method == "adrpo" else _nearest(pts, p["beta0"])
            row[method] = {"beta0": q["beta0"], "reward": q["reward"], "diversity": q["diversity"]}
        pairs.append(row)
    return {"k": k, "methods": per_method, "ratios": ratios, "pairs": pairs}
