"""The book's figures and tables drawn from result files (``data/results/*.json``): samples, class histograms,
reward–diversity fronts, training curves, β_eff histograms, per-seed points, and the sweep / seed /
hypervolume tables (every table through :func:`~adrpo_nb.viz.tables.table`). The β0 slider is
:mod:`adrpo_nb.viz.slider`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from adrpo_nb.stats import mean_interval
from adrpo_nb.viz.images import decode_png_base64, image_grid
from adrpo_nb.viz.tables import Table, mean_std, table

__all__ = [
    "DISTANCE_LABELS",
    "DIVERSITY_LABELS",
    "METHOD_COLORS",
    "METHOD_LABELS",
    "METRIC_LABELS",
    "check_distinct_seeds",
    "equal_grid_tables",
    "hypervolume_table",
    "plot_beta_eff_histograms",
    "plot_class_histogram",
    "plot_class_histograms",
    "plot_coefficient_sweep",
    "plot_curves",
    "plot_guidance_curve",
    "plot_method_curves",
    "plot_pareto_fronts",
    "plot_seed_points",
    "seed_stats",
    "seeds_table",
    "show_images",
    "show_png",
    "sweep_table",
]

METHOD_LABELS = {"none": "β = 0", "fixed": "fixed β", "orw": "ORW-CFM-W2", "adrpo": "ADRPO", "dpo": "Diffusion-DPO"}
METHOD_COLORS = {"none": "#d62728", "fixed": "#7f7f7f", "orw": "#ff7f0e", "adrpo": "#1f77b4", "dpo": "#2ca02c"}
DIVERSITY_LABELS = {"even_entropy_norm": "even-digit entropy / ln 5", "pairwise_distance": "pairwise feature distance",
                    "class_entropy_norm": "class entropy / ln 10", "distinct_correct": "distinct correct answers / 8",
                    "distinct_2": "distinct-2", "self_bleu": "self-BLEU",
                    "think_length": "reasoning length (words)"}  # fmt: skip
DISTANCE_LABELS = {"w2": "W2", "kl": "KL/token", "kl_seq": "KL/sequence"}
#: human labels of a result's metrics (axis labels, table headers)
METRIC_LABELS = {"reward": "reward", **DIVERSITY_LABELS, "w2": "W2 to the reference", "kl": "KL/token",
                 "kl_seq": "KL/sequence"}  # fmt: skip
#: where :func:`_legend` puts a legend: below the axes, right of them, or inside (matplotlib's "best")
LEGEND_PLACES = ("below", "right", "inside")


def _legend(ax, where: str | bool, ncol: int = 2) -> None:
    """A legend at ``where`` (:data:`LEGEND_PLACES`; ``False`` draws none), text at the default size (10 pt):
    "below" and "right" keep it outside the data."""
    if where is False:
        return
    if where not in LEGEND_PLACES:
        raise ValueError(f"legend must be one of {LEGEND_PLACES} or False, got legend={where!r}")
    if where == "below":
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False)
    elif where == "right":
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    else:
        ax.legend()


# ----------------------------------------------------------------------------- static figures
def show_png(png_b64: str, ax=None, title: str | None = None):
    """Draw a base64 PNG (e.g. a result's ``samples_png``) on ``ax``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    ax.imshow(decode_png_base64(png_b64), cmap="gray", vmin=0, vmax=255)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_images(images, ax=None, title: str | None = None, nrow: int = 8):
    """Draw a grid of grey images ``(N, [1,] H, W)`` in ``[0, 1]`` (tensor or array) on ``ax``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    ax.imshow(image_grid(images, nrow), cmap="gray", vmin=0, vmax=255)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_class_histogram(hist: Sequence[float], ax=None, title: str | None = None, highlight=(0, 2, 4, 6, 8)):
    """Bar chart of a 10-class histogram; ``highlight`` classes (the rewarded ones) in blue."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    colors = [METHOD_COLORS["adrpo"] if k in highlight else "#bbbbbb" for k in range(len(hist))]
    ax.bar(range(len(hist)), hist, color=colors)
    ax.set_xticks(range(len(hist)))
    ax.set_ylim(0, max(0.5, max(hist) * 1.05))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("fraction of samples")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_class_histograms(histograms: dict[str, Sequence[float]], ax=None, colors: dict[str, str] | None = None,
                           highlight=(0, 2, 4, 6, 8), legend: str | bool = "inside"):  # fmt: skip
    """Several 10-class histograms side by side on one axes (e.g. the base model beside a fine-tuned one), one
    colour each; the ``highlight`` (rewarded) digits' tick labels in bold."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    n = len(histograms)
    width = 0.8 / max(n, 1)
    for i, (label, hist) in enumerate(histograms.items()):
        offset = (i - (n - 1) / 2) * width
        color = (colors or {}).get(label)
        ax.bar(np.arange(len(hist)) + offset, hist, width=width, color=color, label=label)
    size = len(next(iter(histograms.values()))) if histograms else 10
    ax.set_xticks(range(size))
    for k, tick in enumerate(ax.get_xticklabels()):
        if k in highlight:
            tick.set_fontweight("bold")
    ax.set_xlabel("predicted digit (even digits in bold)" if tuple(highlight) == (0, 2, 4, 6, 8) else "predicted digit")
    ax.set_ylabel("fraction of samples")
    _legend(ax, legend)
    return ax


def plot_pareto_fronts(summary: dict, diversity_key: str = "even_entropy_norm", ax=None, base: dict | None = None,
                       annotate: bool | Sequence[str] = True, *, sweep: dict | None = None,
                       legend: str | bool = "below"):  # fmt: skip
    """Each method's seed-mean points with error bars, its front as a line, the base model.

    Error bars: the std over seeds (the summary's), or, with ``sweep`` (the result the summary was made from),
    each point's 95 % Student-t interval over its seeds (:func:`adrpo_nb.stats.mean_interval`). ``annotate``
    writes each point's β0 beside it: for every method (``True``), none (``False``), or the methods named.
    ``legend``: ``"below"`` the axes (default, outside the data), ``"right"``, ``"inside"`` or ``False``.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    block = summary["by_diversity"][diversity_key]
    for method, data in block["methods"].items():
        color, label = METHOD_COLORS.get(method), METHOD_LABELS.get(method, method)
        pts = data["points"]
        bad = [p for p in pts if not all(np.isfinite([p["reward"], p["diversity"]]))]
        if bad:  # matplotlib would skip them without a word
            betas = ", ".join(f"{p['beta0']:g}" for p in bad)
            warnings.warn(f"{label}: the point(s) at β0 = {betas} have a non-finite reward or {diversity_key} and are "
                          "not drawn", stacklevel=2)  # fmt: skip
        x = [p["reward"] for p in pts]
        y = [p["diversity"] for p in pts]
        if sweep is None:
            xerr, yerr = [p["reward_std"] for p in pts], [p["diversity_std"] for p in pts]
        else:
            xerr = _interval_bars(sweep, method, pts, "reward")
            yerr = _interval_bars(sweep, method, pts, diversity_key)
        bars = ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=color, ms=6, capsize=2, elinewidth=1,
                           label=f"{label} (HV {data['hypervolume']:.3f})")  # fmt: skip
        for line in bars.lines[2]:  # the interval bars lighter than the points: many of them cross
            line.set_alpha(0.45)
        front = np.array(data["front"])
        if len(front):
            ax.plot(front[:, 0], front[:, 1], "-", color=color, alpha=0.6)
        if annotate is True or (not isinstance(annotate, bool) and method in annotate):
            for p in pts:
                ax.annotate(f"{p['beta0']:g}", (p["reward"], p["diversity"]), fontsize=10, color=color,
                            xytext=(4, 4), textcoords="offset points")  # fmt: skip
    if base is not None:
        ax.plot([base["reward"]], [base[diversity_key]], "k*", ms=10, label="base model")
    ax.set_xlabel("reward (mean P(even digit))")
    ax.set_ylabel(DIVERSITY_LABELS.get(diversity_key, diversity_key))
    _legend(ax, "below" if legend is True else legend)
    ax.grid(alpha=0.3)
    return ax


def _interval_bars(sweep: dict, method: str, points: Sequence[dict], key: str) -> np.ndarray:
    """``(2, n)`` error-bar lengths (below, above) of each point's 95 % Student-t interval of ``key`` over its
    finished seeds; 0 for a point of one seed (no spread to show)."""
    bars = []
    for p in points:
        values = [r["final"][key] for r in sweep["runs"] if r["config"]["method"] == method
                  and np.isclose(r["config"]["beta0"], p["beta0"]) and r["final"] is not None]  # fmt: skip
        iv = mean_interval(values)
        bars.append((0.0, 0.0) if iv.n < 2 else (iv.mean - iv.low, iv.high - iv.mean))
    return np.array(bars, dtype=float).T


def plot_coefficient_sweep(sweep: dict, methods: Sequence[str], key: str = "reward", ax=None, *,
                           reference: str | None = "none", log: bool = False, legend: str | bool = False):  # fmt: skip
    """A final metric of a sweep against each method's coefficient (β0; α for ORW-CFM-W2), log-scaled x.

    Each seed's run is a small dot and the seed mean a line with markers, coloured by method (diverged runs are
    left out). ``reference`` (a method without a coefficient, β = 0 by default) is drawn as a dashed line at
    its seed mean with its 95 % Student-t interval (:func:`adrpo_nb.stats.mean_interval`) as a band. ``log``
    puts the metric on a log scale (W2 spans decades).
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for method in methods:
        runs = [r for r in sweep["runs"] if r["config"]["method"] == method and r["final"] is not None]
        if not runs:
            raise ValueError(f"no finished run of method={method!r} in this sweep")
        color = METHOD_COLORS.get(method)
        betas = sorted({r["config"]["beta0"] for r in runs})
        for b in betas:
            group = [r for r in runs if r["config"]["beta0"] == b]
            check_distinct_seeds(group, f"method={method!r}, beta0={b:g}")
            ax.plot([b] * len(group), [r["final"][key] for r in group], "o", color=color, alpha=0.35, ms=4)
        means = [float(np.mean([r["final"][key] for r in runs if r["config"]["beta0"] == b])) for b in betas]
        ax.plot(betas, means, "-o", color=color, ms=5, label=METHOD_LABELS.get(method, method))
    if reference is not None:
        values = [r["final"][key] for r in sweep["runs"] if r["config"]["method"] == reference
                  and r["final"] is not None]  # fmt: skip
        if not values:
            raise ValueError(f"no finished run of the reference method={reference!r} in this sweep")
        iv = mean_interval(values)
        color = METHOD_COLORS.get(reference)
        ax.axhline(iv.mean, color=color, ls="--", lw=1.2,
                   label=f"{METHOD_LABELS.get(reference, reference)} (mean, 95 % interval)")  # fmt: skip
        if iv.n > 1:
            low = max(iv.low, min(values) / 10) if log else iv.low  # a log axis cannot show a band below 0
            ax.axhspan(low, iv.high, color=color, alpha=0.12, lw=0)
    ax.set_xscale("log")
    grid = sorted({r["config"]["beta0"] for r in sweep["runs"] if r["config"]["method"] in methods})
    ax.set_xticks(grid, [f"{b:g}" for b in grid])  # the coefficients run, not powers of ten
    ax.minorticks_off()
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(METRIC_LABELS.get(key, key))
    ax.grid(alpha=0.3)
    _legend(ax, legend)
    return ax


def plot_guidance_curve(curve: dict, diversity_key: str = "diversity", ax=None, label: str = "pretrained, CFG scale"):
    """The pretrained model's reward–diversity points over guidance scales (a result of
    :func:`adrpo_nb.experiments.sd3.guidance_curve`), as a dashed line annotated with each scale: the mean over
    the evaluation noise seeds with each point's 95 % intervals as error bars when the curve has them (``mean``),
    else the one-seed ``points``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    pts = curve.get("mean") or curve["points"]
    x, y = [p["reward"] for p in pts], [p[diversity_key] for p in pts]
    scales = f"{pts[0]['guidance_scale']:g}–{pts[-1]['guidance_scale']:g}"
    if "reward_low" in pts[0] and diversity_key == "diversity":
        n = len(curve.get("eval_seeds", []))
        xerr = [[p["reward"] - p["reward_low"] for p in pts], [p["reward_high"] - p["reward"] for p in pts]]
        yerr = [[p["diversity"] - p["diversity_low"] for p in pts], [p["diversity_high"] - p["diversity"] for p in pts]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor="k", alpha=0.35, lw=1)
        label = f"{label} {scales} (mean of {n} noise seeds, 95 % intervals)"
    else:
        label = f"{label} {scales}"
    ax.plot(x, y, "k--", marker=".", alpha=0.6, label=label)
    for p in pts:
        ax.annotate(f"w={p['guidance_scale']:g}", (p["reward"], p[diversity_key]), fontsize=10, color="k", alpha=0.7,
                    xytext=(-8, -10), textcoords="offset points")  # fmt: skip
    return ax


def plot_curves(runs: Sequence[dict], key: str = "reward", ax=None, label_fn: Callable[[dict], str] | None = None):
    """Training curves of ``key`` for several results (one line each, coloured by method)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for run in runs:
        cfg = run["config"]
        name = METHOD_LABELS.get(cfg["method"], cfg["method"])
        label = label_fn(run) if label_fn else (name if cfg["method"] == "none" else f"{name} β0={cfg['beta0']:g}")
        ax.plot(run["curve"]["iteration"], run["curve"][key], label=label, color=METHOD_COLORS.get(cfg["method"]),
                alpha=0.9)  # fmt: skip
    ax.set_xlabel("iteration")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    return ax


def plot_method_curves(runs: dict[tuple[str, int], dict], key: str = "w2", ax=None):
    """Training curves of results keyed by ``(method, seed)``: each method's mean over its seeds as a line and
    the range of its seeds as a band, coloured by method (for many seeds, where :func:`plot_curves` crowds)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    order = list(METHOD_COLORS)
    for method in sorted({m for m, _ in runs}, key=lambda m: order.index(m) if m in order else len(order)):
        curves = [r["curve"] for (m, _), r in sorted(runs.items()) if m == method]
        iterations = curves[0]["iteration"]
        if any(c["iteration"] != iterations for c in curves):
            raise ValueError(f"the seeds of method={method!r} logged {key!r} at different iterations")
        values = np.array([c[key] for c in curves], dtype=float)
        color = METHOD_COLORS.get(method)
        ax.plot(iterations, values.mean(axis=0), color=color,
                label=f"{METHOD_LABELS.get(method, method)} (mean of {len(curves)} seeds)")  # fmt: skip
        ax.fill_between(iterations, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, lw=0)
    ax.set_xlabel("iteration")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    return ax


def plot_beta_eff_histograms(run: dict, ax=None, bins: int = 30, *, legend: str | bool = "inside"):
    """Histograms of the per-sample β_eff recorded at several iterations of one ADRPO run (``legend``: where
    the legend goes, as in :func:`plot_pareto_fronts`; ``"inside"`` by default)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    snaps = run.get("beta_eff") or {}
    if not snaps:
        raise ValueError("this result has no β_eff snapshots (record them with run_rl(beta_eff_snapshots=...))")
    lo = min(min(v) for v in snaps.values())
    hi = max(max(v) for v in snaps.values())
    edges = np.linspace(lo, hi, bins + 1)
    cmap = plt.get_cmap("viridis")
    for i, (it, values) in enumerate(sorted(snaps.items(), key=lambda kv: int(kv[0]))):
        ax.hist(values, bins=edges, histtype="step", lw=1.5, color=cmap(i / max(1, len(snaps) - 1)),
                label=f"iteration {it}")  # fmt: skip
    ax.axvline(run["config"]["beta0"], color="k", ls="--", lw=1, label="β0")
    ax.axvline(0, color="r", ls=":", lw=1)
    ax.set_xlabel("β_eff = β0 − A")
    ax.set_ylabel("samples")
    _legend(ax, "inside" if legend is True else legend, ncol=3)
    return ax


def sweep_table(sweep: dict, methods: Sequence[str], keys: Sequence[str] = ("reward", "even_entropy_norm", "w2"),
                *, labels: bool | dict[str, str] = False, coefficient: str = "β0") -> Table:  # fmt: skip
    """Per method and β0: mean ± std over seeds of the final ``keys``, the number of seeds and of diverged runs.

    A β0 whose runs all diverged shows ``—`` in the metric columns (and every run counted as diverged).
    ``labels=True`` heads the columns with :data:`METRIC_LABELS` (a dict overrides some), ``False`` with the keys;
    ``coefficient`` heads the coefficient column (``"α"`` for a table of ORW-CFM-W2 alone).
    """
    rows = []
    for method in methods:
        runs = [r for r in sweep["runs"] if r["config"]["method"] == method]
        if not runs:
            raise ValueError(f"no run of method={method!r} in this sweep (its methods: "
                             f"{sorted({r['config']['method'] for r in sweep['runs']})})")  # fmt: skip
        for beta0 in sorted({r["config"]["beta0"] for r in runs}):
            group = [r for r in runs if r["config"]["beta0"] == beta0]
            check_distinct_seeds(group, f"method={method!r}, beta0={beta0:g}")
            done = [r["final"] for r in group if r["final"] is not None]
            row = {"method": METHOD_LABELS.get(method, method), "β0": beta0, "seeds": len(group),
                   "diverged": len(group) - len(done)}  # fmt: skip
            row.update({k: mean_std([f[k] for f in done]) for k in keys})
            rows.append(row)
    names = {**METRIC_LABELS, **labels} if isinstance(labels, dict) else METRIC_LABELS if labels else {}
    columns = {"method": "method", "β0": coefficient, **{k: names.get(k, k) for k in keys}, "seeds": "seeds",
               "diverged": "diverged"}  # fmt: skip
    return table(rows, columns)


def check_distinct_seeds(runs: Sequence[dict], what: str) -> None:
    """``ValueError`` naming ``what`` and the seed when two of ``runs`` (one group of a table or figure) share a
    seed: a duplicate would count as another seed ("mean of 4 seeds") and shrink the spread."""
    seeds = [r["config"]["seed"] for r in runs]
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(f"{what}: seed {twice[0]} appears {seeds.count(twice[0])} times among its runs (a run listed "
                         "twice?); each seed must count once")  # fmt: skip


def seeds_table(runs: dict[tuple[str, int], dict], keys: Sequence[str] = ("reward", "diversity", "w2")) -> Table:
    """Results keyed by ``(method, seed)``: one row per seed and method, then each method's mean ± std over
    its seeds (e.g. :func:`adrpo_nb.experiments.sd3.long_runs`)."""
    rows = [{"seed": seed, "method": METHOD_LABELS.get(method, method), **{k: r["final"][k] for k in keys}}
            for (method, seed), r in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0]))]  # fmt: skip
    for method in sorted({m for m, _ in runs}):
        finals = [r["final"] for (m, _), r in runs.items() if m == method]
        rows.append({"seed": "mean ± std", "method": METHOD_LABELS.get(method, method),
                     **{k: mean_std([f[k] for f in finals]) for k in keys}})  # fmt: skip
    return table(rows, ["seed", "method", *keys], formats=dict.fromkeys(keys, ".3f"))


def seed_stats(runs: dict[tuple[str, int], dict], keys: Sequence[str] = ("reward", "diversity", "w2"),
               ) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Per method of results keyed by ``(method, seed)``: the number of seeds, and for each key the mean, the
    std over seeds (population, 0 for one seed), the min, the max and the per-seed values in seed order."""
    stats: dict[str, dict[str, Any]] = {}
    for method in sorted({m for m, _ in runs}):
        finals = [r["final"] for (m, _), r in sorted(runs.items()) if m == method]
        stats[method] = {"seeds": len(finals)}
        for key in keys:
            values = [float(f[key]) for f in finals]
            stats[method][key] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                                  "min": min(values), "max": max(values), "values": values}  # fmt: skip
    return stats


def plot_seed_points(runs: dict[tuple[str, int], dict], ax=None, diversity_key: str = "diversity"):
    """Each run's final (reward, diversity) as a small marker and each method's seed mean as a large one, coloured
    by method, on the reward–diversity plane (for results keyed by ``(method, seed)``)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for method, st in seed_stats(runs, ("reward", diversity_key)).items():
        color, label = METHOD_COLORS.get(method), METHOD_LABELS.get(method, method)
        ax.plot(st["reward"]["values"], st[diversity_key]["values"], "o", color=color, alpha=0.45, ms=5)
        ax.errorbar([st["reward"]["mean"]], [st[diversity_key]["mean"]], xerr=[st["reward"]["std"]],
                    yerr=[st[diversity_key]["std"]], fmt="D", color=color, ms=8, capsize=3,
                    label=f"{label} ({st['seeds']} seeds: mean ± std, and each seed)")  # fmt: skip
    ax.set_xlabel("reward")
    ax.set_ylabel(DIVERSITY_LABELS.get(diversity_key, diversity_key))
    ax.grid(alpha=0.3)
    return ax


def equal_grid_tables(comparison: dict[str, Any]) -> tuple[Table, Table]:
    """Two tables of :func:`adrpo_nb.experiments.runner.equal_grid_comparison`: each method's hypervolume range
    over its subsets of ``k`` β0 settings with ADRPO's ratio to it, and the per-β0 pairs (ADRPO at each of its
    β0 beside each baseline's nearest β0; cells "reward / diversity")."""
    k = comparison["k"]
    rows = []
    for method, entry in comparison["methods"].items():
        hv, ratio = entry["hypervolume"], comparison["ratios"].get(method)
        rows.append({"method": METHOD_LABELS.get(method, method), "grid": ", ".join(f"{b:g}" for b in entry["beta0s"]),
                     "hv": f"{hv['min']:.4f}–{hv['max']:.4f}" if hv["min"] != hv["max"] else f"{hv['max']:.4f}",
                     "ratio": "—" if ratio is None else
                              f"{ratio['best_vs_best']:.2f}× ({ratio['min']:.2f}–{ratio['max']:.2f}×)"})  # fmt: skip
    ratios = table(rows, {"method": "method", "grid": "β0 grid", "hv": f"hypervolume, any {k} of its β0",
                          "ratio": "ADRPO / method: best vs best (range)"})  # fmt: skip
    methods = list(comparison["methods"])
    pair_rows = []
    for pair in comparison["pairs"]:
        row = {}
        for method in methods:
            q = pair[method]
            row[method] = f"{q['beta0']:g}: {q['reward']:.3f} / {q['diversity']:.3f}"
        pair_rows.append(row)
    pairs = table(pair_rows, {m: f"{METHOD_LABELS.get(m, m)} (β0: reward / diversity)" for m in methods})
    return ratios, pairs


def hypervolume_table(summary: dict, methods: Sequence[str] = ("none", "fixed", "orw", "adrpo"), *,
                      by: str = "measure") -> Table:  # fmt: skip
    """The front hypervolume of each method of a sweep summary (and the mean ± std of the per-seed hypervolumes).

    ``by="measure"``: a row per diversity measure, a column per method, and ADRPO's ratio to the best baseline;
    ``by="method"``: a row per method, two columns per diversity measure (front, per seed): narrower.
    """
    if by not in ("measure", "method"):
        raise ValueError(f"by must be 'measure' or 'method', got by={by!r}")
    blocks = summary["by_diversity"]
    if by == "method":
        rows = []
        for m in methods:
            row = {"method": METHOD_LABELS.get(m, m)}
            for key, block in blocks.items():
                hv = block["methods"][m]
                per_seed = hv["hypervolume_per_seed"]
                row[key] = f"{hv['hypervolume']:.3f}"
                row[key + "/seed"] = f"{per_seed['mean']:.3f} ± {per_seed['std']:.3f}"
            rows.append(row)
        columns = {"method": "method"}
        for key in blocks:
            name = DIVERSITY_LABELS.get(key, key)
            columns.update({key: f"HV, {name}", key + "/seed": "per seed"})
        return table(rows, columns)
    rows = []
    for key, block in blocks.items():
        hv = block["methods"]
        row = {"diversity measure": key}
        for m in methods:
            per_seed = hv[m]["hypervolume_per_seed"]
            row[m] = f"{hv[m]['hypervolume']:.3f} (per seed {per_seed['mean']:.3f} ± {per_seed['std']:.3f})"
        best = METHOD_LABELS.get(block["best_baseline"], block["best_baseline"])
        row["ratio"] = f"{block['adrpo_hv_ratio']:.2f}× vs {best}"
        rows.append(row)
    columns = {"diversity measure": "diversity measure", **{m: METHOD_LABELS.get(m, m) for m in methods},
               "ratio": "ADRPO / best baseline"}  # fmt: skip
    return table(rows, columns)
