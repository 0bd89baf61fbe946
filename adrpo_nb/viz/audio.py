"""Plots and tables of the audio chapter: clips, test-time scaling curves, accuracy by reasoning length,
reward components, and the β0 / process-weight sliders over the sweep (both faces of
:class:`~adrpo_nb.viz.BetaSlider`)."""

from __future__ import annotations

import copy
import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from adrpo_nb.viz.slider import BetaSlider
from adrpo_nb.viz.tables import Table, table

__all__ = [
    "VARIANT_COLORS",
    "VARIANT_LABELS",
    "VARIANT_TABLE_COLUMNS",
    "VARIANTS",
    "CURVE_TITLES",
    "METRIC_LABELS",
    "KL_WINDOW",
    "WEIGHT_LABEL",
    "alpha_slider",
    "beta_slider",
    "completions_html",
    "plot_by_length",
    "plot_clip",
    "plot_scaling",
    "plot_training",
    "run_settings",
    "training_kl",
    "variant_table",
    "variant_interval_table",
    "variant_legend_handles",
    "variant_runs",
    "length_bins",
    "plot_variant_seeds",
]

VARIANT_LABELS = {"base": "pretrained", "grpo_outcome": "GRPO, outcome reward", "grpo_cesar": "GRPO + CESAR",
                  "adrpo_cesar": "ADRPO + CESAR"}  # fmt: skip
VARIANT_COLORS = {"base": "#555555", "grpo_outcome": "#d62728", "grpo_cesar": "#ff7f0e", "adrpo_cesar": "#1f77b4"}


def plot_clip(audio: np.ndarray, features: np.ndarray, title: str, axes: Sequence[Any], ylabel: bool = True) -> None:
    """A clip's waveform and its log-mel features (what the audio tower sees) on two axes (``ylabel``: name the
    mel axis, for the first column of a grid)."""
    t = np.arange(len(audio)) / 16000
    axes[0].plot(t, audio, lw=0.4, color="#333")
    axes[0].set_title(title, fontsize=11)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[1].imshow(features, origin="lower", aspect="auto", cmap="magma", extent=(0, t[-1], 0, features.shape[0]))
    axes[1].set_xticks([0, 1, 2])
    axes[1].set_xlabel("seconds")
    if ylabel:
        axes[1].set_ylabel("mel band")
    else:
        axes[1].set_yticks([])


def run_settings(run: dict) -> dict:
    """An audio run's settings with its ``variant`` (``grpo_outcome``, ``grpo_cesar``, ``adrpo_cesar``): the result's
    ``settings``, or for a result made before typed settings the ``config.extra`` that held them."""
    settings = dict(run.get("settings") or run["config"].get("extra", {}))
    method = "adrpo" if run["config"]["method"] == "adrpo" else "grpo"
    settings.setdefault("variant", f"{method}_{settings.get('rewards', 'cesar')}")
    return settings


def _group(sweep: dict, variant: str, beta0: float = 0.04, weight: float = 1.0) -> list[dict]:
    return list(variant_runs(sweep, variant, beta0, weight).values())


def variant_runs(sweep: dict, variant: str, beta0: float = 0.04, weight: float = 1.0) -> dict[int, dict]:
    """The sweep's runs of ``variant`` at ``beta0`` and process weight ``weight``, by seed (sorted)."""
    runs = {r["config"]["seed"]: r for r in sweep["runs"] if run_settings(r)["variant"] == variant
            and np.isclose(r["config"]["beta0"], beta0) and np.isclose(run_settings(r)["process_weight"], weight)}
    return dict(sorted(runs.items()))


#: the variants of the chapter's comparison, in the order figures and tables list them
VARIANTS = ("grpo_outcome", "grpo_cesar", "adrpo_cesar")
#: human names of the final metrics (figure axes, table headers)
METRIC_LABELS = {"accuracy": "held-out accuracy", "think_length": "reasoning length (words)",
                 "keywords": "keyword term", "consistency": "consistency term", "overthinking": "overthinking term",
                 "format": "format term", "slope": "scaling slope (points per word)",
                 "kl": "KL per token (end of training)"}  # fmt: skip


def _metric(run: dict, key: str) -> float:
    if key == "slope":
        return float(run["slope"])
    if key == "kl":
        return training_kl(run)
    return float(run["final"][key])


def _base_metric(sweep: dict, key: str) -> float | None:
    if key == "kl":
        return 0.0
    if key == "slope":
        return float(sweep["base"]["slope"])
    return float(sweep["base"]["final"][key])


def plot_variant_seeds(sweep: dict, axes: Sequence[Any], metrics: Sequence[str] = ("accuracy", "keywords",
                       "think_length"), variants: Sequence[str] = VARIANTS, beta0: float = 0.04) -> None:  # fmt: skip
    """One panel per metric, one row per variant: each seed's value (small dots), the mean and its 95 % Student-t
    interval (:func:`adrpo_nb.stats.mean_interval`, a bar), and the pretrained model's value (dashed line)."""
    from adrpo_nb.stats import mean_interval

    rows = list(reversed(variants))
    for ax, key in zip(axes, metrics, strict=True):
        for y, variant in enumerate(rows):
            values = [_metric(r, key) for r in variant_runs(sweep, variant, beta0).values()]
            if not values:
                continue
            color = VARIANT_COLORS[variant]
            ax.plot(values, [y + 0.22] * len(values), "o", ms=4, color=color, alpha=0.45, mec="none")
            iv = mean_interval(values)
            ax.plot([iv.low, iv.high], [y, y], "-", lw=3, color=color, solid_capstyle="butt")
            ax.plot([iv.mean], [y], "o", ms=8, color=color, mec="white", mew=1)
        base = _base_metric(sweep, key)
        if base is not None:
            ax.axvline(base, color=VARIANT_COLORS["base"], ls="--", lw=1.2)
        if ax is axes[0]:
            ax.set_yticks(range(len(rows)), [VARIANT_LABELS[v] for v in rows])
        else:
            ax.tick_params(axis="y", left=False, labelleft=False)
        ax.set_ylim(-0.6, len(rows) - 0.3)
        ax.set_xlabel(METRIC_LABELS.get(key, key))
        ax.grid(axis="x", alpha=0.3)


def variant_legend_handles(seeds: bool = True) -> tuple[list[Any], list[str]]:
    """Legend entries of :func:`plot_variant_seeds` (for ``fig.legend`` below the panels)."""
    from matplotlib.lines import Line2D

    gray = VARIANT_COLORS["base"]
    handles = [Line2D([], [], color=gray, ls="--", lw=1.2)]
    names = ["pretrained"]
    if seeds:
        handles += [Line2D([], [], marker="o", ls="", ms=4, color=gray, alpha=0.45),
                    Line2D([], [], marker="o", ms=8, lw=3, color=gray, mec="white")]  # fmt: skip
        names += ["one seed", "mean and 95 % interval"]
    return handles, names


def plot_scaling(sweep: dict, ax, variants: Sequence[str] = VARIANTS, beta0: float = 0.04) -> None:
    """Test-time scaling: held-out accuracy against the reasoning budget, the pretrained model and each variant
    (mean over seeds, a band for the 95 % Student-t interval). The x axis is the measured mean reasoning length
    (words) at each budget. No legend: label the figure with ``fig.legend`` (the lines carry labels)."""
    from adrpo_nb.stats import mean_interval

    base = sweep["base"]["scaling"]
    ax.plot([p["think_length"] for p in base], [p["accuracy"] for p in base], "o--", color=VARIANT_COLORS["base"],
            label=VARIANT_LABELS["base"])  # fmt: skip
    for variant in variants:
        runs = _group(sweep, variant, beta0)
        if not runs:
            continue
        x = np.mean([[p["think_length"] for p in r["scaling"]] for r in runs], axis=0)
        acc = np.array([[p["accuracy"] for p in r["scaling"]] for r in runs])
        ivs = [mean_interval(acc[:, j]) for j in range(acc.shape[1])]
        ax.plot(x, [iv.mean for iv in ivs], "o-", color=VARIANT_COLORS[variant],
                label=f"{VARIANT_LABELS[variant]} ({len(runs)} seeds)")  # fmt: skip
        if len(runs) > 1:
            ax.fill_between(x, [iv.low for iv in ivs], [iv.high for iv in ivs], color=VARIANT_COLORS[variant],
                            alpha=0.15, lw=0)  # fmt: skip
    ax.set_xlabel("mean reasoning length at the budget (words)")
    ax.set_ylabel("held-out accuracy")
    ax.grid(alpha=0.3)


def length_bins(sweep: dict, variant: str, beta0: float = 0.04) -> dict[tuple[int, int], tuple[int, float]]:
    """``{(from, to): (completions, accuracy)}`` of the held-out completions grouped by their own reasoning length
    (words, no budget), pooled over the seeds of ``variant`` (``"base"``: the pretrained model)."""
    if variant == "base":
        finals = [next(p for p in sweep["base"]["scaling"] if "by_length" in p)]
    else:
        finals = [next(p for p in r["scaling"] if "by_length" in p) for r in _group(sweep, variant, beta0)]
    bins: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for final in finals:
        for b in final["by_length"]:
            bins.setdefault((b["from"], b["to"]), []).append((b["count"], b["accuracy"]))
    return {k: (sum(c for c, _ in v), sum(c * a for c, a in v) / sum(c for c, _ in v)) for k, v in sorted(bins.items())}


def plot_by_length(sweep: dict, axes: Sequence[Any], variants: Sequence[str] = VARIANTS, beta0: float = 0.04) -> None:
    """Two panels over the completions' own reasoning length (words, no budget; seeds pooled): the accuracy in
    each length bin (left) and the share of completions that fall in it (right), the pretrained model and each
    variant. No legend: label the figure with ``fig.legend``."""
    models = ["base", *variants]
    tables = {m: length_bins(sweep, m, beta0) for m in models}
    keys = sorted({k for t in tables.values() for k in t})
    names = [f"{a}–{b}" if b < 1000 else f"≥ {a}" for a, b in keys]
    width = 0.8 / len(models)
    for j, m in enumerate(models):
        t = tables[m]
        total = sum(c for c, _ in t.values())
        xs = [i for i, k in enumerate(keys) if k in t]
        style = {"color": VARIANT_COLORS[m], "label": VARIANT_LABELS[m]}
        axes[0].plot(xs, [t[keys[i]][1] for i in xs], "o--" if m == "base" else "o-", **style)
        axes[1].bar([i - 0.4 + (j + 0.5) * width for i in xs], [t[keys[i]][0] / total for i in xs], width, **style)
    for ax in axes:
        ax.set_xticks(range(len(keys)), names)
        ax.set_xlabel("reasoning length of the completion (words)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("accuracy in the bin")
    axes[0].set_ylim(0, 1)
    axes[1].set_ylabel("share of completions")


#: human titles of the training curves' keys
CURVE_TITLES = {"reward": "total reward", "rewards/accuracy_reward/mean": "batch accuracy",
                "rewards/overthinking/mean": "overthinking term", "rewards/consistency_reward/mean": "consistency term",
                "rewards/keywords/mean": "keyword term", "kl": "KL to the reference (per token)",
                "entropy": "entropy (per token)", "beta_eff/mean": "mean β_eff",
                "completions/mean_length": "completion length (tokens)"}  # fmt: skip


def plot_training(runs: Sequence[dict], keys: Sequence[str], axes: Sequence[Any], smooth: int = 1) -> None:
    """Training curves (batch means) of ``keys`` for runs: one line per run, coloured by variant, a moving average
    over ``smooth`` iterations; one legend label per variant (for ``fig.legend``)."""
    seen: set[str] = set()
    for ax, key in zip(axes, keys, strict=True):
        for r in runs:
            variant = run_settings(r)["variant"]
            if key not in r["curve"]:
                continue
            x, y = np.asarray(r["curve"]["iteration"], float), np.asarray(r["curve"][key], float)
            if smooth > 1 and len(y) >= smooth:
                y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
                x = x[smooth - 1 :]
            label = VARIANT_LABELS[variant] if variant not in seen else None
            seen.add(variant)
            ax.plot(x, y, color=VARIANT_COLORS[variant], alpha=0.75, lw=1.2, label=label)
        ax.set_title(CURVE_TITLES.get(key, key), fontsize=11)
        spec = ax.get_subplotspec() if hasattr(ax, "get_subplotspec") else None
        if spec is None or spec.is_last_row():  # one x label per column of a grid
            ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)


def variant_interval_table(sweep: dict, keys: Sequence[str] = ("accuracy", "think_length", "keywords"),
                           variants: Sequence[str] = VARIANTS, beta0: float = 0.04) -> Table:  # fmt: skip
    """The pretrained model and each variant: per metric the mean over seeds with its 95 % Student-t interval
    (:func:`adrpo_nb.stats.mean_interval`), ``"0.718 [0.669, 0.768]"``; the number of seeds."""
    from adrpo_nb.stats import mean_interval

    digits = {"think_length": 1, "slope": 2, "format": 3}
    rows = [{"model": "pretrained", "seeds": "—",
             **{k: f"{_base_metric(sweep, k):.{digits.get(k, 3)}f}" for k in keys}}]  # fmt: skip
    for variant in variants:
        runs = list(variant_runs(sweep, variant, beta0).values())
        row: dict[str, Any] = {"model": VARIANT_LABELS[variant], "seeds": str(len(runs))}
        for k in keys:
            iv, d = mean_interval([_metric(r, k) for r in runs]), digits.get(k, 3)
            row[k] = f"{iv.mean:.{d}f} [{iv.low:.{d}f}, {iv.high:.{d}f}]"
        rows.append(row)
    return table(rows, {"model": "model", **{k: METRIC_LABELS.get(k, k) for k in keys}, "seeds": "seeds"})


#: the columns of :func:`variant_table`: result key → header
VARIANT_TABLE_COLUMNS = {"model": "model", "seeds": "seeds", "accuracy": "accuracy", "format": "format",
                         "think_length": "reasoning (words)", "consistency": "consistency", "keywords": "keywords",
                         "overthinking": "overthinking", "kl": "KL/token", "slope": "slope (points/token)"}  # fmt: skip


def variant_table(summary: dict, beta0: float = 0.04, weight: float = 1.0, base: dict | None = None) -> Table:
    """The variants at ``beta0`` and process weight ``weight`` (mean ± std over seeds); the pretrained model first."""
    formats = {"format": ".2f", "think_length": ".1f", "consistency": ".3f", "keywords": ".3f",
               "overthinking": ".3f", "kl": ".4f"}  # fmt: skip
    rows = []
    if base is not None:
        f = base["final"]
        rows.append({"model": "pretrained", "seeds": None, "accuracy": f"{f['accuracy']:.3f}", "kl": 0.0,
                     "slope": f"{base['slope']:+.4f}", **{k: f[k] for k in formats if k != "kl"}})  # fmt: skip
    for row in summary["rows"]:
        if not (np.isclose(row["beta0"], beta0) and np.isclose(row["process_weight"], weight)):
            continue
        rows.append({"model": VARIANT_LABELS[row["variant"]], "seeds": row["seeds"],
                     "accuracy": f"{row['accuracy']:.3f} ± {row['accuracy_std']:.3f}",
                     "slope": f"{row['slope']:+.4f} ± {row['slope_std']:.4f}",
                     **{k: row[k] for k in formats}})  # fmt: skip
    return table(rows, VARIANT_TABLE_COLUMNS, formats=formats)


def completions_html(examples: Sequence[dict]) -> str:
    """Held-out completions as HTML (✓ when the stated answer is right)."""
    from adrpo_nb.rewards.cesar import normalize_answer, parse_completion

    rows = []
    for e in examples:
        answer = parse_completion(e["completion"]).answer
        mark = "✓" if answer is not None and normalize_answer(answer) == normalize_answer(e["answer"]) else "✗"
        rows.append(f"<div style='margin:4px 0'><b>{html.escape(e['question'])}</b> "
                    f"(answer: {html.escape(e['answer'])})<br><code>{mark} {html.escape(e['completion'])}</code>"
                    "</div>")  # fmt: skip
    return "".join(rows)


#: iterations at the end of training whose batch KL :func:`training_kl` averages
KL_WINDOW = 10


def training_kl(run: dict, window: int = KL_WINDOW) -> float:
    """A run's KL to the reference per token at the end of training: the mean batch KL (k3) of its last ``window``
    iterations (one iteration's batch of 64 completions is too noisy to compare runs by); NaN without a KL curve."""
    kl = run.get("curve", {}).get("kl")
    return float(np.mean(kl[-window:])) if kl else float("nan")


def _slider_sweep(sweep: dict) -> dict:
    """The sweep in the slider's layout: final metrics plus ``kl`` (:func:`training_kl`) and ``samples_html``."""
    view = {"runs": [], "base": {"accuracy": sweep["base"]["final"]["accuracy"],
                                 "think_length": sweep["base"]["final"]["think_length"]}}  # fmt: skip
    for run in sweep["runs"]:
        r = copy.deepcopy({k: run[k] for k in ("config", "settings", "final", "examples") if k in run})
        r["final"]["kl"] = training_kl(run)
        r["samples_html"] = completions_html(run["examples"])
        view["runs"].append(r)
    return view


def _variant(run: dict) -> str:
    return run_settings(run)["variant"]


#: the process-weight slider's parameter, as the book names it: w scales CESAR's process weights λ_cons, λ_kw, λ_len
WEIGHT_LABEL = "process weight w"


def beta_slider(sweep: dict, run_fn=None) -> BetaSlider:
    """The β0 slider: ADRPO + CESAR and GRPO + CESAR at each β0 (seed-mean accuracy and reasoning length), in
    the variants' colours (:data:`VARIANT_COLORS`). ``run_fn(variant, beta0, progress)`` receives the variant's
    key (``"adrpo_cesar"`` or ``"grpo_cesar"``)."""
    view = _slider_sweep(sweep)
    view["runs"] = [r for r in view["runs"] if run_settings(r)["process_weight"] == 1.0
                    and run_settings(r)["rewards"] == "cesar"]  # fmt: skip
    return BetaSlider(view, diversity_key="think_length", distance_key="kl", reward_key="accuracy",
                      method="adrpo_cesar", method_of=_variant, run_fn=run_fn, colors=VARIANT_COLORS,
                      labels=VARIANT_LABELS)  # fmt: skip


def alpha_slider(sweep: dict) -> BetaSlider:
    """The process-weight slider: ADRPO at β0 = 0.04 with CESAR's process weights (λ_cons, λ_kw, λ_len; the code's
    ``alphas[2:]``) scaled by w (w = 0: the outcome reward under ADRPO's KL); it starts at w = 1."""
    view = _slider_sweep(sweep)
    view["runs"] = [r for r in view["runs"] if run_settings(r)["variant"] == "adrpo_cesar"
                    and np.isclose(r["config"]["beta0"], 0.04)]  # fmt: skip
    return BetaSlider(view, diversity_key="think_length", distance_key="kl", reward_key="accuracy",
                      method="adrpo_cesar", method_of=_variant, param_label=WEIGHT_LABEL,
                      param_of=lambda r: run_settings(r)["process_weight"], colors=VARIANT_COLORS,
                      labels=VARIANT_LABELS, start=1.0)  # fmt: skip
