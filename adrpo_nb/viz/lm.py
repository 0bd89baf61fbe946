"""Figures and tables of the language-model chapter, drawn from run results and ``data/results/qwen_sweep.json``.

A run result (:func:`adrpo_nb.experiments.qwen.run_rl`) has ``curve`` (training logs: batch reward,
KL, entropy, β_eff, ...) and ``evals`` (held-out accuracy, distinct correct answers, KL every few
iterations); a sweep has ``runs`` of them. Variants are methods, plus ADRPO with a non-default clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from adrpo_nb.viz import METHOD_COLORS, METHOD_LABELS
from adrpo_nb.viz.tables import Table, table

__all__ = [
    "VARIANT_COLORS",
    "entropy_dynamics",
    "plot_eval_curves",
    "plot_final_vs_kl",
    "plot_seed_bands",
    "run_variant",
    "variant_label",
    "variant_table",
]

VARIANT_COLORS = {**METHOD_COLORS, "adrpo (no clip)": "#9467bd"}


def run_variant(run: dict) -> str:
    """``"none" | "fixed" | "adrpo"``, or ``"adrpo (no clip)"`` / ``"adrpo (clip a,b)"`` for a non-default clip."""
    cfg = run["config"]
    clip = cfg["clip"]
    if cfg["method"] == "adrpo" and (clip is None or not math.isclose(clip[0], -cfg["beta0"])
                                     or not math.isclose(clip[1], cfg["beta0"])):  # fmt: skip
        return "adrpo (no clip)" if clip is None else f"adrpo (clip {clip[0]:g},{clip[1]:g})"
    return cfg["method"]


def variant_label(variant: str) -> str:
    """A reader's name: "β = 0", "fixed β", "ADRPO", "ADRPO (no clip)"."""
    if variant.startswith("adrpo ("):
        return "ADRPO " + variant[len("adrpo ") :]
    return METHOD_LABELS.get(variant, variant)


def _runs(sweep: dict, variant: str, beta0: float | None) -> list[dict]:
    return [r for r in sweep["runs"] if r["final"] is not None and run_variant(r) == variant
            and (beta0 is None or variant == "none" or np.isclose(r["config"]["beta0"], beta0))]  # fmt: skip


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
    """Mean over seeds (line) ± std (band) of ``key`` for each ``(variant, beta0)``, from ``curve`` or ``evals``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for variant, beta0 in choices:
        runs = _runs(sweep, variant, beta0)
        if not runs:
            continue
        if source == "curve":
            x = np.array(runs[0]["curve"]["iteration"])
            ys = np.array([_smooth(np.array(r["curve"][key], dtype=float), smooth) for r in runs])
        else:
            x = np.array([e["iteration"] for e in runs[0]["evals"]])
            ys = np.array([[e[key] for e in r["evals"]] for r in runs])
        mean, std = ys.mean(0), ys.std(0)
        label = variant_label(variant) + ("" if variant == "none" else f" β0={beta0:g}") + f" ({len(runs)} seeds)"
        color = VARIANT_COLORS.get(variant)
        ax.plot(x, mean, color=color, label=label)
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15)
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
