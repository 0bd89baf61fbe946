"""Figures and tables of the language-model chapter, drawn from run results and ``data/results/qwen_sweep.json``.

A run result (:func:`adrpo_nb.experiments.qwen.run_rl`) has ``curve`` (training logs: batch reward,
KL, entropy, β_eff, ...) and ``evals`` (held-out accuracy, distinct correct answers, KL every few
iterations); a sweep has ``runs`` of them. Variants are methods, plus ADRPO with a non-default clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from adrpo_nb.stats import Interval, mean_interval, t_quantile
from adrpo_nb.viz.plots import METHOD_COLORS, METHOD_LABELS, check_distinct_seeds
from adrpo_nb.viz.tables import Table, table

__all__ = [
    "MAIN_VARIANTS",
    "VARIANT_COLORS",
    "beta_distribution",
    "beta_slider",
    "entropy_dynamics",
    "main_runs",
    "plot_claim_gaps",
    "plot_eval_curves",
    "plot_final_vs_kl",
    "plot_seed_bands",
    "plot_settings_plane",
    "run_beta_distribution",
    "run_variant",
    "setting_intervals",
    "setting_runs",
    "setting_table",
    "sweep_run",
    "variant_label",
    "variant_table",
]

VARIANT_COLORS = {**METHOD_COLORS, "adrpo (no clip)": "#9467bd", "adrpo (unscaled A)": "#17becf"}
#: the sweep's main comparison: β = 0, fixed β and ADRPO with its default clip and std-scaled advantages
MAIN_VARIANTS = ("none", "fixed", "adrpo")


def run_variant(run: dict) -> str:
    """``"none" | "fixed" | "adrpo"``, or ``"adrpo (no clip)"`` / ``"adrpo (clip a,b)"`` for a non-default clip,
    ``"adrpo (unscaled A)"`` for advantages not divided by the group std (``scale_rewards=False``; the
    graded-β variant), both tags for both."""
    cfg = run["config"]
    clip = cfg["clip"]
    if cfg["method"] != "adrpo":
        return cfg["method"]
    tags = []
    if clip is None or not math.isclose(clip[0], -cfg["beta0"]) or not math.isclose(clip[1], cfg["beta0"]):
        tags.append("no clip" if clip is None else f"clip {clip[0]:g},{clip[1]:g}")
    if not cfg.get("scale_rewards", True):
        tags.append("unscaled A")
    return f"adrpo ({', '.join(tags)})" if tags else "adrpo"


def variant_label(variant: str) -> str:
    """A reader's name: "β = 0", "fixed β", "ADRPO", "ADRPO (no clip)"."""
    if variant.startswith("adrpo ("):
        return "ADRPO " + variant[len("adrpo ") :]
    return METHOD_LABELS.get(variant, variant)


def _runs(sweep: dict, variant: str, beta0: float | None) -> list[dict]:
    return [r for r in sweep["runs"] if r["final"] is not None and run_variant(r) == variant
            and (beta0 is None or variant == "none" or np.isclose(r["config"]["beta0"], beta0))]  # fmt: skip


def setting_runs(sweep: dict, variant: str, beta0: float) -> list[dict]:
    """The finished runs of one setting (``variant`` as :func:`run_variant` names it, at ``beta0``), one per seed;
    ``ValueError`` naming the settings the sweep has when there is none, or when a seed appears twice."""
    runs = _runs(sweep, variant, beta0)
    if not runs:
        present = sorted({(run_variant(r), r["config"]["beta0"]) for r in sweep["runs"] if r["final"] is not None})
        raise ValueError(f"no finished run of variant={variant!r}, beta0={beta0!r} in this sweep; it has {present}")
    check_distinct_seeds(runs, f"variant={variant!r}, beta0={beta0!r}")
    return runs


def sweep_run(sweep: dict, variant: str, beta0: float, seed: int = 0) -> dict:
    """The one run of a setting with ``seed`` (``ValueError`` when that seed did not run)."""
    runs = [r for r in setting_runs(sweep, variant, beta0) if r["config"]["seed"] == seed]
    if not runs:
        raise ValueError(f"variant={variant!r}, beta0={beta0!r} has no run with seed {seed}")
    return runs[0]


def main_runs(sweep: dict) -> dict:
    """The sweep with only its main runs (:data:`MAIN_VARIANTS`): what the β0 slider averages. The variants (no
    clip, unscaled advantages) share a method and a β0 with the main ADRPO runs; pooled, a slider point would
    average two settings."""
    return {**sweep, "runs": [r for r in sweep["runs"] if run_variant(r) in MAIN_VARIANTS]}


def beta_slider(sweep: dict, run_fn=None, method: str = "adrpo"):
    """The chapter's β0 slider: held-out accuracy against distinct correct answers, KL as the distance, over the
    main runs only (:func:`main_runs`); each point is the mean over that setting's seeds."""
    from adrpo_nb.viz.slider import BetaSlider

    return BetaSlider(main_runs(sweep), diversity_key="distinct_correct", distance_key="kl", reward_key="accuracy",
                      method=method, run_fn=run_fn)  # fmt: skip


def setting_intervals(sweep: dict, settings: Sequence[tuple[str, float]],
                      keys: Sequence[str] = ("accuracy", "distinct_correct", "kl")) -> list[dict]:  # fmt: skip
    """Per setting ``(variant, beta0)``: ``variant``, ``beta0``, ``seeds`` and, per key, the final metric's mean
    over seeds with its 95 % Student-t interval (:func:`adrpo_nb.stats.mean_interval`)."""
    out = []
    for variant, beta0 in settings:
        runs = setting_runs(sweep, variant, beta0)
        row: dict[str, Any] = {"variant": variant, "beta0": None if variant == "none" else beta0, "seeds": len(runs)}
        row.update({k: mean_interval([r["final"][k] for r in runs]) for k in keys})
        out.append(row)
    return out


def _interval_text(i: Interval, spec: str) -> str:
    """``"0.522 [0.480, 0.565]"`` with no-break spaces: a table cell never wraps inside an interval."""
    return f"{i.mean:{spec}}\u00a0[{i.low:{spec}},\u00a0{i.high:{spec}}]"


def setting_table(rows: Sequence[dict[str, Any]], columns: dict[str, tuple[str, str]],
                  base: dict | None = None) -> Table:  # fmt: skip
    """:func:`setting_intervals` rows as a table: ``columns`` maps a key to ``(header, format)``; cells read
    "mean [95 % interval]". ``base``: the pretrained model's metrics, as a first row."""
    out = []
    if base:
        out.append({"setting": "pretrained model", "seeds": None,
                    **{h: format(base[k], spec) for k, (h, spec) in columns.items()}})  # fmt: skip
    for r in rows:
        name = variant_label(r["variant"]) + ("" if r["beta0"] is None else f", β0 = {r['beta0']:g}")
        out.append({"setting": name, "seeds": r["seeds"],
                    **{h: _interval_text(r[k], spec) for k, (h, spec) in columns.items()}})  # fmt: skip
    return table(out, ["setting", *(h for h, _ in columns.values()), "seeds"])


def plot_settings_plane(sweep: dict, settings: Sequence[tuple[str, float]], ax=None, x_key: str = "kl",
                        y_key: str = "accuracy", log_x: bool = True):  # fmt: skip
    """Each setting's mean final ``(x_key, y_key)`` with its 95 % intervals as error bars (one point per setting,
    not per run: one far run cannot squash the axes); the pretrained model's ``y_key`` as a dashed line.

    The main methods (:data:`MAIN_VARIANTS`) share one "β0 = ..." label per β0, above that β0's points; a
    variant carries its β0 in its legend entry. ``log_x``: a log axis for the KL, which spans two decades across
    β0 (an interval reaching 0 or below is cut at a tenth of its mean there).
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    seen, groups = set(), {}
    for row in setting_intervals(sweep, settings, (x_key, y_key)):
        x, y, variant = row[x_key], row[y_key], row["variant"]
        color = VARIANT_COLORS.get(variant)
        label = variant_label(variant)
        if variant not in MAIN_VARIANTS:
            label += f", β0 = {row['beta0']:g}"
        elif row["beta0"] is not None:
            groups.setdefault(row["beta0"], []).append((x.mean, y.high))
        xlow = max(x.low, x.mean / 10) if log_x else x.low  # a log axis cannot draw a bar through 0
        ax.errorbar(x.mean, y.mean, xerr=[[x.mean - xlow], [x.high - x.mean]], yerr=[[y.mean - y.low],
                    [y.high - y.mean]], fmt="o", ms=6, color=color, capsize=3, lw=1.2,
                    label=None if label in seen else label)  # fmt: skip
        seen.add(label)
    for beta0, points in groups.items():
        xs = [p[0] for p in points]
        centre = float(np.exp(np.mean(np.log(xs)))) if log_x else float(np.mean(xs))
        ax.annotate(f"β0 = {beta0:g}", (centre, max(p[1] for p in points)), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontsize=10)  # fmt: skip
    base = sweep.get("base")
    if base:
        ax.axhline(base[y_key], color="black", ls="--", lw=1, label="pretrained model")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.08 * (high - low))  # room for the β0 labels above the top points
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("KL per token to the reference (held-out)" if x_key == "kl" else x_key)
    ax.set_ylabel(f"held-out {y_key}")
    ax.grid(alpha=0.3, which="both")
    return ax


def plot_claim_gaps(ledger: dict, metrics: dict[str, str], beta0s: Sequence[float], family: str = "qwen",
                    axes=None):  # fmt: skip
    """One panel per metric: the ledger's paired gap (e.g. ADRPO − fixed β) at each β0 with its 95 % interval,
    coloured by verdict. ``metrics`` maps the claim id's stem (``"kl"`` for ``qwen.kl_b0.04``) to a panel title."""
    import matplotlib.pyplot as plt

    from adrpo_nb.viz.claims import VERDICT_COLORS

    claims = {e["id"]: e for e in ledger["claims"]}
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(7.5, 2.6), sharey=True)
    for ax, (stem, title) in zip(np.atleast_1d(axes), metrics.items(), strict=True):
        for row, beta0 in enumerate(beta0s):
            claim_id = f"{family}.{stem}_b{beta0:g}"
            if claim_id not in claims:
                raise ValueError(f"the ledger has no claim {claim_id!r}")
            e = claims[claim_id]
            color = VERDICT_COLORS[e["verdict"]]
            ax.plot([e["ci_low"], e["ci_high"]], [row, row], color=color, lw=3, solid_capstyle="butt")
            ax.plot(e["estimate"], row, "o", color=color, ms=6)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_yticks(range(len(beta0s)), [f"β0 = {b:g}" for b in beta0s])
        ax.set_ylim(len(beta0s) - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
    return axes


def plot_eval_curves(runs: Sequence[dict], key: str = "accuracy", ax=None, labels: Sequence[str] | None = None):
    """Held-out ``key`` against iteration for a few runs (one line each, coloured by variant)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for i, run in enumerate(runs):
        ev = run["evals"]
        variant = run_variant(run)
        label = labels[i] if labels else f"{variant_label(variant)} β0={run['config']['beta0']:g}"
        ax.plot([e["iteration"] for e in ev], [e[key] for e in ev], "o-", ms=3, label=label,
                color=VARIANT_COLORS.get(variant))  # fmt: skip
    ax.set_xlabel("iteration")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    return ax


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(y) < window:
        return y
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window // 2, y[0]), y, np.full(window - 1 - window // 2, y[-1])])
    return np.convolve(padded, kernel, mode="valid")


def plot_seed_bands(sweep: dict, key: str, choices: Sequence[tuple[str, float]], ax=None, source: str = "curve",
                    smooth: int = 1):  # fmt: skip
    """Mean over seeds (line) and its 95 % Student-t interval (band; :mod:`adrpo_nb.stats`) of ``key`` for each
    ``(variant, beta0)``, from ``curve`` or ``evals``; a single seed draws no band."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for variant, beta0 in choices:
        runs = setting_runs(sweep, variant, beta0)  # a requested band never goes missing without a word
        if source == "curve":
            x = np.array(runs[0]["curve"]["iteration"])
            ys = np.array([_smooth(np.array(r["curve"][key], dtype=float), smooth) for r in runs])
        else:
            x = np.array([e["iteration"] for e in runs[0]["evals"]])
            ys = np.array([[e[key] for e in r["evals"]] for r in runs])
        n, mean = len(runs), ys.mean(0)
        label = variant_label(variant) + ("" if variant == "none" else f", β0 = {beta0:g}")
        color = VARIANT_COLORS.get(variant)
        ax.plot(x, mean, color=color, label=label)
        if n > 1:
            half = t_quantile(0.975, n - 1) * ys.std(0, ddof=1) / math.sqrt(n)
            ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.15)
    ax.set_xlabel("iteration")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    return ax


def plot_final_vs_kl(sweep: dict, ax=None, y_key: str = "accuracy", x_key: str = "kl", annotate: bool = True):
    """Every finished run's final (KL to the reference, ``y_key``), coloured by variant, labelled with β0; ★ = base."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    seen = set()
    for run in sweep["runs"]:
        if run["final"] is None:
            continue
        variant = run_variant(run)
        f = run["final"]
        label = None if variant in seen else variant_label(variant)
        seen.add(variant)
        ax.plot(f[x_key], f[y_key], "o", color=VARIANT_COLORS.get(variant), alpha=0.8, ms=5, label=label)
        if annotate and variant != "none" and run["config"]["seed"] == 0:
            ax.annotate(f"{run['config']['beta0']:g}", (f[x_key], f[y_key]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points", color=VARIANT_COLORS.get(variant))  # fmt: skip
    if sweep.get("base"):
        ax.plot(sweep["base"].get(x_key, 0.0), sweep["base"][y_key], "k*", ms=10, label="start (pretrained)")
    ax.set_xlabel(f"{x_key} to the reference (held-out, per token)" if x_key == "kl" else x_key)
    ax.set_ylabel(f"final {y_key}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def variant_table(summary: dict, keys: Sequence[str] = ("accuracy", "distinct_correct", "kl", "entropy")) -> Table:
    """The sweep summary: per variant and β0, mean ± std over seeds of the final ``keys`` (the start first)."""
    rows = []
    base = summary.get("base", {})
    if base:
        rows.append({"variant": "start (pretrained)", "β0": None, "seeds": None,
                     **{k: f"{base[k]:.3f}" if k in base else None for k in keys}})  # fmt: skip
    for variant, entries in summary["variants"].items():
        for e in entries:
            rows.append({"variant": variant_label(variant), "β0": None if variant == "none" else e["beta0"],
                         "seeds": e["seeds"], **{k: f"{e[k]:.3f} ± {e[k + '_std']:.3f}" for k in keys}})  # fmt: skip
    return table(rows, ["variant", "β0", *keys, "seeds"])


def entropy_dynamics(curve: dict, key: str = "entropy", smooth: int = 9) -> dict[str, float]:
    """Shape of a (smoothed) entropy trajectory: start, minimum (and where), end, and whether it dips then rises.

    ``dip_then_rise`` is True when the minimum is at least 10 % below the start *and* the end is at
    least 10 % above the minimum, with the minimum strictly inside the run: the paper's pattern.
    """
    y = _smooth(np.array(curve[key], dtype=float), smooth)
    x = np.array(curve["iteration"])
    i = int(np.argmin(y))
    start, low, end = float(y[0]), float(y[i]), float(y[-1])
    return {"start": start, "min": low, "min_iteration": int(x[i]), "end": end,
            "dip_then_rise": bool(0 < i < len(y) - 1 and low < 0.9 * start and end > 1.1 * low)}  # fmt: skip


def beta_distribution(betas: Sequence[float], beta0: float, bins: int = 10, rtol: float = 1e-3) -> dict[str, Any]:
    """How the per-sample coefficients β_i of a batch (or several) are spread, relative to β0.

    With std-scaled advantages (|A| ≈ 1) and the default clip (−β0, β0), β_i = β0 − clip(A_i) is almost
    binary: 0 for every sample better than its group by more than β0, 2β0 for every worse one, β0 only in
    groups with one reward. This tells how graded a run's coefficient really was. Fractions of samples:
    ``at_zero`` (β_i ≈ 0), ``at_beta0`` (≈ β0: A = 0, e.g. a group with equal rewards), ``at_2beta0``
    (≈ 2β0), ``between`` (strictly inside (0, 2β0), neither of the above: the graded ones), ``negative``
    (< 0: unclipped ADRPO) and ``above_2beta0``; "≈" is within ``rtol × β0``. ``histogram``: ``bins`` counts
    over [min(0, β), max(2β0, β)] with their ``edges``.
    """
    b = np.asarray(list(betas), dtype=float)
    if b.size == 0 or not np.isfinite(b).all():
        raise ValueError(f"betas must be a non-empty list of finite numbers, got {b.size} values")
    if not beta0 > 0:
        raise ValueError(f"beta0 must be > 0, got beta0={beta0!r}")
    tol = rtol * beta0
    zero, mid, top = np.abs(b) <= tol, np.abs(b - beta0) <= tol, np.abs(b - 2 * beta0) <= tol
    negative, above = (b < 0) & ~zero, (b > 2 * beta0) & ~top
    between = ~(zero | mid | top | negative | above)
    counts, edges = np.histogram(b, bins=bins, range=(min(0.0, b.min()), max(2 * beta0, b.max())))
    frac = {name: float(mask.mean()) for name, mask in (("at_zero", zero), ("at_beta0", mid), ("at_2beta0", top),
                                                        ("between", between), ("negative", negative),
                                                        ("above_2beta0", above))}  # fmt: skip
    return {"n": int(b.size), "beta0": float(beta0), **frac, "mean": float(b.mean()), "std": float(b.std()),
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()}}  # fmt: skip


def run_beta_distribution(run: dict, iterations: Sequence[int] | None = None, **kwargs: Any) -> dict[str, Any]:
    """:func:`beta_distribution` of a run result's ``beta_eff`` snapshots (the per-sample β_i kept at a few
    iterations), pooled over ``iterations`` (default: all kept)."""
    snaps = run.get("beta_eff") or {}
    keys = [str(i) for i in iterations] if iterations is not None else list(snaps)
    missing = [k for k in keys if k not in snaps]
    if not keys or missing:
        raise ValueError(f"run has β_eff snapshots at iterations {sorted(snaps, key=int)}, asked for {keys}")
    return beta_distribution([b for k in keys for b in snaps[k]], run["config"]["beta0"], **kwargs)
