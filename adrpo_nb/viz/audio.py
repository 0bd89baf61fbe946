"""Plots and tables of the audio chapter: clips, test-time scaling curves, accuracy by reasoning length,
reward components, and the β0 / α sliders over the sweep (both faces of :class:`~adrpo_nb.viz.BetaSlider`)."""

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
]

VARIANT_LABELS = {"base": "pretrained", "grpo_outcome": "GRPO, outcome reward", "grpo_cesar": "GRPO + CESAR",
                  "adrpo_cesar": "ADRPO + CESAR"}  # fmt: skip
VARIANT_COLORS = {"base": "#555555", "grpo_outcome": "#d62728", "grpo_cesar": "#ff7f0e", "adrpo_cesar": "#1f77b4"}


def plot_clip(audio: np.ndarray, features: np.ndarray, title: str, axes: Sequence[Any]) -> None:
    """A clip's waveform and its log-mel features (what the audio tower sees) on two axes."""
    t = np.arange(len(audio)) / 16000
    axes[0].plot(t, audio, lw=0.4, color="#333")
    axes[0].set_title(title, fontsize=8)
    axes[0].set_xlabel("seconds", fontsize=8)
    axes[0].set_yticks([])
    axes[1].imshow(features, origin="lower", aspect="auto", cmap="magma", extent=(0, t[-1], 0, features.shape[0]))
    axes[1].set_xlabel("seconds", fontsize=8)
    axes[1].set_ylabel("mel band", fontsize=8)


def run_settings(run: dict) -> dict:
    """An audio run's settings with its ``variant`` (``grpo_outcome``, ``grpo_cesar``, ``adrpo_cesar``): the result's
    ``settings``, or for a result made before typed settings the ``config.extra`` that held them."""
    settings = dict(run.get("settings") or run["config"].get("extra", {}))
    method = "adrpo" if run["config"]["method"] == "adrpo" else "grpo"
    settings.setdefault("variant", f"{method}_{settings.get('rewards', 'cesar')}")
    return settings


def _group(sweep: dict, variant: str, beta0: float = 0.04, weight: float = 1.0) -> list[dict]:
    return [r for r in sweep["runs"] if run_settings(r)["variant"] == variant
            and np.isclose(r["config"]["beta0"], beta0) and np.isclose(run_settings(r)["process_weight"], weight)]


def plot_scaling(sweep: dict, ax, variants: Sequence[str] = ("grpo_outcome", "grpo_cesar", "adrpo_cesar"),
                 beta0: float = 0.04) -> None:  # fmt: skip
    """Test-time scaling: held-out accuracy against the reasoning budget (mean ± std over seeds), pretrained
    model included. The x axis is the measured mean reasoning length at each budget."""
    base = sweep["base"]["scaling"]
    ax.plot([p["think_length"] for p in base], [p["accuracy"] for p in base], "o--", color=VARIANT_COLORS["base"],
            label=VARIANT_LABELS["base"])  # fmt: skip
    for variant in variants:
        runs = _group(sweep, variant, beta0)
        if not runs:
            continue
        x = np.mean([[p["think_length"] for p in r["scaling"]] for r in runs], axis=0)
        acc = np.array([[p["accuracy"] for p in r["scaling"]] for r in runs])
        ax.errorbar(x, acc.mean(0), yerr=acc.std(0), fmt="o-", capsize=3, color=VARIANT_COLORS[variant],
                    label=f"{VARIANT_LABELS[variant]} ({len(runs)} seeds)")  # fmt: skip
    ax.set_xlabel("mean reasoning length at the budget (words)")
    ax.set_ylabel("held-out accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_by_length(sweep: dict, ax, variants: Sequence[str] = ("grpo_outcome", "grpo_cesar", "adrpo_cesar"),
                   beta0: float = 0.04) -> None:  # fmt: skip
    """Accuracy of completions grouped by their own reasoning length (no budget), bars per model, pooled seeds."""
    def pooled(runs_final: list[dict]) -> dict[tuple, tuple[int, float]]:
        bins: dict[tuple, list[float]] = {}
        for final in runs_final:
            for b in final["by_length"]:
                bins.setdefault((b["from"], b["to"]), []).append((b["count"], b["accuracy"]))
        return {k: (sum(c for c, _ in v), sum(c * a for c, a in v) / sum(c for c, _ in v)) for k, v in bins.items()}

    models = [("base", [next(p for p in sweep["base"]["scaling"] if "by_length" in p)])]
    models += [(v, [next(p for p in r["scaling"] if "by_length" in p) for r in _group(sweep, v, beta0)])
               for v in variants]  # fmt: skip
    keys = sorted({k for _, finals in models for k in pooled(finals)})
    width = 0.8 / len(models)
    for j, (name, finals) in enumerate(models):
        table = pooled(finals)
        xs = [i + j * width for i, k in enumerate(keys) if k in table]
        ys = [table[k][1] for k in keys if k in table]
        ax.bar(xs, ys, width, color=VARIANT_COLORS[name], label=VARIANT_LABELS[name])
        for x, k in zip(xs, [k for k in keys if k in table], strict=True):
            ax.text(x, 0.01, str(table[k][0]), rotation=90, fontsize=6, ha="center", va="bottom", color="white")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))])
    ax.set_xticklabels([f"{a}–{b}" if b < 1000 else f"≥ {a}" for a, b in keys], fontsize=8)
    ax.set_xlabel("reasoning length of the completion (words); numbers in bars: completions")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.12)
    ax.legend(fontsize=7, ncol=4, loc="upper center")


def plot_training(runs: Sequence[dict], keys: Sequence[str], axes: Sequence[Any]) -> None:
    """Training curves (batch means) of ``keys`` for runs (one line per run, coloured by variant)."""
    for ax, key in zip(axes, keys, strict=True):
        for r in runs:
            variant = run_settings(r)["variant"]
            if key in r["curve"]:
                ax.plot(r["curve"]["iteration"], r["curve"][key], color=VARIANT_COLORS[variant], alpha=0.8,
                        label=f"{VARIANT_LABELS[variant]} s{r['config']['seed']}")  # fmt: skip
        ax.set_title(key.replace("rewards/", "").replace("/mean", ""), fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)


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


#: the α slider's parameter, as the book names it: w scales CESAR's process weights λ_cons, λ_kw, λ_len
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
