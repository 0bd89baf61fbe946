"""Chapter 4's figures and tables of the SD3 evidence: the lead (five methods at their tuned settings, paired
seeds) against the guidance curve, the tuning grid and its choice, and the evaluation's own noise.

Every interval is :func:`adrpo_nb.stats.mean_interval`'s (95 %, Student t, sample std over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from adrpo_nb.stats import mean_interval
from adrpo_nb.viz.plots import METHOD_COLORS, METHOD_LABELS, plot_guidance_curve
from adrpo_nb.viz.tables import Table, table

__all__ = ["eval_noise_table", "lead_table", "method_seeds", "plot_lead", "tuning_table"]

METHOD_ORDER = ("adrpo", "fixed", "orw", "dpo", "none")


def method_seeds(sweep: dict[str, Any], method: str) -> dict[int, dict[str, Any]]:
    """The finished runs of ``method`` in ``sweep``, by seed; ``ValueError`` when the sweep holds two settings
    of it (a lead has one per method) or none."""
    runs = [r for r in sweep["runs"] if r["config"]["method"] == method]
    settings = {r["config"]["beta0"] for r in runs}
    if len(settings) != 1:
        raise ValueError(f"expected one setting of {method!r} in the sweep, found {sorted(settings)}")
    out = {}
    for r in runs:
        seed = r["config"]["seed"]
        if seed in out:
            raise ValueError(f"seed {seed} of {method!r} appears twice in the sweep")
        if r["final"] is not None:
            out[seed] = r
    return out


def _methods(sweep: dict[str, Any]) -> list[str]:
    present = {r["config"]["method"] for r in sweep["runs"]}
    return [m for m in METHOD_ORDER if m in present]


def plot_lead(sweep: dict[str, Any], curve: dict[str, Any] | None = None, ax=None):
    """Each method's held-out (reward, diversity): every seed as a small dot, the mean with its 95 % intervals as a
    cross; the pretrained model as a black star and, when given, the guidance curve with its intervals."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7.5, 5.2))[1]
    if curve is not None:
        plot_guidance_curve(curve, ax=ax)
    base = sweep["base"]
    ax.plot(base["reward"], base["diversity"], "k*", ms=12, label="pretrained (w = 1)")
    for method in _methods(sweep):
        runs = method_seeds(sweep, method)
        rewards = [r["final"]["reward"] for r in runs.values()]
        divs = [r["final"]["diversity"] for r in runs.values()]
        color = METHOD_COLORS[method]
        ax.plot(rewards, divs, "o", color=color, ms=4, alpha=0.45)
        rw, dv = mean_interval(rewards), mean_interval(divs)
        ax.errorbar(rw.mean, dv.mean, xerr=[[rw.mean - rw.low], [rw.high - rw.mean]],
                    yerr=[[dv.mean - dv.low], [dv.high - dv.mean]], fmt="o", ms=8, color=color, capsize=3,
                    label=f"{METHOD_LABELS[method]} ({len(runs)} seeds)")  # fmt: skip
    ax.set_xlabel("held-out reward (binding)")
    ax.set_ylabel("held-out diversity (1 − cos)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return ax


def lead_table(sweep: dict[str, Any], keys: Sequence[str] = ("reward", "diversity", "w2")) -> Table:
    """One row per method: its setting, seeds, and each metric's mean with its 95 % interval."""
    labels = {"reward": "reward", "diversity": "diversity", "w2": "W2 to the reference"}
    rows = []
    for method in _methods(sweep):
        runs = method_seeds(sweep, method)
        row = {"method": METHOD_LABELS[method], "setting": "—" if method == "none" else
               f"{next(iter(runs.values()))['config']['beta0']:g}", "seeds": len(runs)}  # fmt: skip
        for key in keys:
            iv = mean_interval([r["final"][key] for r in runs.values()])
            row[labels.get(key, key)] = f"{iv.mean:.3f} [{iv.low:.3f}, {iv.high:.3f}]"
        rows.append(row)
    return table(rows, ["method", "setting", "seeds", *[labels.get(k, k) for k in keys]])


def eval_noise_table(sweep: dict[str, Any], key: str = "reward") -> Table:
    """The evaluation's own noise beside the seeds' spread, per method: the standard deviation of ``key`` over the
    evaluation noise seeds of one trained model (averaged over the trained models), and over the training seeds
    under one evaluation noise (sample std both)."""
    rows = []
    for method in _methods(sweep):
        runs = method_seeds(sweep, method)
        per_model = [np.std([e[key] for e in r["final_by_eval_seed"]], ddof=1) for r in runs.values()
                     if len(r.get("final_by_eval_seed") or []) > 1]  # fmt: skip
        if not per_model:
            raise ValueError(f"the runs of {method!r} carry no final_by_eval_seed: made before the evaluation "
                             "was repeated over noise seeds")  # fmt: skip
        across = np.std([r["final"][key] for r in runs.values()], ddof=1)
        noise_seeds = len(next(iter(runs.values()))["final_by_eval_seed"])
        rows.append({"method": METHOD_LABELS[method], "eval_seeds": noise_seeds, "sd_eval": float(np.mean(per_model)),
                     "sd_train": float(across), "seeds": len(runs)})  # fmt: skip
    columns = {"method": "method", "eval_seeds": "noise seeds", "sd_eval": f"{key}: sd over evaluation noise "
               "(one model)", "sd_train": f"{key}: sd over training seeds (one noise)", "seeds": "seeds"}
    return table(rows, columns, formats={"sd_eval": ".4f", "sd_train": ".4f"})


def tuning_table(tuned: dict[str, dict[str, Any]]) -> Table:
    """:func:`~adrpo_nb.experiments.summaries.tuned_settings`'s result: each method's grid with its scores and the
    chosen setting."""
    rows = []
    for method in [m for m in METHOD_ORDER if m in tuned]:
        entry = tuned[method]
        grid = ", ".join(f"{b:g}: {s:.4f}" for b, s in sorted(entry["scores"].items()))
        rows.append({"method": METHOD_LABELS[method], "grid": grid, "chosen": f"{entry['beta0']:g}",
                     "seeds": entry["seeds"]})  # fmt: skip
    return table(rows, {"method": "method", "grid": "setting: score (mean over seeds)", "chosen": "chosen",
                        "seeds": "seeds"})  # fmt: skip
