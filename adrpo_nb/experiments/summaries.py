"""Summaries of flow-matching sweeps: the runs of a sweep by method/β0/seed, the reward–diversity points and
Pareto fronts with their hypervolumes, and hypervolumes compared on equal grids.

A *sweep* is ``{"base": metrics of the pretrained model, "runs": [result, ...], "summary": ..., "provenance": ...}``
(:func:`adrpo_nb.experiments.runner.sweep`); the book's figures and the β0 slider read these dicts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from adrpo_nb.metrics import hypervolume_2d, pareto_front
from adrpo_nb.trainers.flow_matching import FLOW_METHODS

__all__ = ["describe_result", "equal_grid_comparison", "select_runs", "summarize_sweep", "tuned_settings"]


def describe_result(result: dict[str, Any], diversity_key: str) -> str:
    """One log line: reward, diversity, W2 and time of a run (or why it diverged)."""
    final = result["final"]
    if final is None:
        return f"diverged ({result['diverged']})"
    return (f"reward {final['reward']:.3f}, {diversity_key} {final[diversity_key]:.3f}, W2 {final['w2']:.4f}, "
            f"{result['provenance']['seconds']:.0f} s")  # fmt: skip


def select_runs(sweep_result: dict[str, Any], method: str | None = None, beta0: float | None = None,
                seed: int | None = None, finished: bool = False, required: bool = False
                ) -> list[dict[str, Any]]:  # fmt: skip
    """The runs of a sweep dict matching ``method``/``beta0``/``seed`` (``None`` = any); ``finished``
    drops diverged ones. ``required``: none is a ``ValueError`` naming what was asked and the sweep's grid (a page
    read on another grid's sweep says what it lacks, instead of an ``IndexError`` or ``KeyError`` further on)."""
    runs = [
        r for r in sweep_result["runs"]
        if (method is None or r["config"]["method"] == method)
        and (beta0 is None or math.isclose(r["config"]["beta0"], beta0))
        and (seed is None or r["config"]["seed"] == seed)
        and not (finished and r["final"] is None)
    ]  # fmt: skip
    if required and not runs:
        asked = ", ".join(f"{k}={v!r}" for k, v in (("method", method), ("beta0", beta0), ("seed", seed))
                          if v is not None)  # fmt: skip
        raise ValueError(f"this sweep has no {'finished ' * finished}run of {asked or 'any setting'}; its grid: "
                         f"{_grid(sweep_result)}")  # fmt: skip
    return runs


def _grid(sweep_result: dict[str, Any]) -> str:
    """``method: β0 [...], seeds [...] (n diverged)`` for each method of a sweep, for error messages."""
    methods: dict[str, list[dict]] = {}
    for r in sweep_result["runs"]:
        methods.setdefault(r["config"]["method"], []).append(r)
    parts = []
    for method, runs in sorted(methods.items()):
        betas = sorted({r["config"]["beta0"] for r in runs})
        seeds = sorted({r["config"]["seed"] for r in runs})
        diverged = sum(r["final"] is None for r in runs)
        parts.append(f"{method}: β0 {[float(f'{b:g}') for b in betas]}, seeds {seeds}"
                     + (f" ({diverged} diverged)" if diverged else ""))  # fmt: skip
    return "; ".join(parts) or "no runs"


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


def tuned_settings(result: dict[str, Any], diversity_key: str = "diversity",
                   methods: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Each method's best setting on a sweep's grid, by one rule for every method (ADRPO included).

    A run scores the area its (reward, ``diversity_key``) point dominates above the pretrained model's reward
    and diversity 0 (:func:`~adrpo_nb.metrics.hypervolume_2d` of one point): more reward and more diversity
    both count, and a run that ends below the pretrained reward scores 0, as does a diverged one. A setting's
    score is the mean over its seeds; the best setting has the highest score (ties and an all-zero grid: the
    higher mean reward of the finished seeds). ``none`` has no setting and is left out.

    Returns ``{method: {"beta0": best, "score": its score, "scores": {β0: score}, "seeds": n}}``.
    """
    from adrpo_nb.metrics import hypervolume_2d

    reference = (result["base"].get("final", result["base"])["reward"], 0.0)
    names = methods or sorted({r["config"]["method"] for r in result["runs"]} - {"none"})
    out = {}
    for method in names:
        runs = select_runs(result, method)
        if not runs:
            raise ValueError(f"no runs of method {method!r} in the sweep")
        scores, rewards, seeds = {}, {}, {}
        for beta0 in sorted({r["config"]["beta0"] for r in runs}):
            group = select_runs(result, method, beta0)
            per_run = [0.0 if r["final"] is None else
                       hypervolume_2d([(r["final"]["reward"], r["final"][diversity_key])], reference) for r in group]
            finished = [r["final"]["reward"] for r in group if r["final"] is not None]
            scores[beta0] = float(np.mean(per_run))
            rewards[beta0] = float(np.mean(finished)) if finished else -math.inf
            seeds[beta0] = len(group)
        best = max(scores, key=lambda b: (scores[b], rewards[b]))
        out[method] = {"beta0": best, "score": scores[best], "scores": scores, "seeds": seeds[best]}
    return out
