"""The audio chapter's figures and tables (adrpo_nb.viz.audio) on the committed sweep: intervals are Student-t over
the seeds, every variant is named once and in its colour, the panels are labelled for a reader."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest

from adrpo_nb.notebook import load_result
from adrpo_nb.stats import mean_interval
from adrpo_nb.viz.audio import (
    METRIC_LABELS,
    VARIANT_COLORS,
    VARIANT_LABELS,
    VARIANTS,
    length_bins,
    plot_by_length,
    plot_training,
    plot_variant_seeds,
    training_kl,
    variant_interval_table,
    variant_runs,
)


@pytest.fixture(scope="module")
def sweep():
    return load_result("results", "audio_sweep.json")


def test_variant_runs_are_the_comparison_by_seed(sweep):
    for variant in VARIANTS:
        runs = variant_runs(sweep, variant)
        assert list(runs) == [0, 1, 2, 3, 4]
        assert all(r["config"]["beta0"] == 0.04 for r in runs.values())
    assert list(variant_runs(sweep, "adrpo_cesar", weight=2.0)) == [0]  # the one-seed grid


def test_the_interval_table_is_student_t_over_seeds(sweep):
    t = variant_interval_table(sweep, ("accuracy", "kl"))
    assert t.column("model") == ["pretrained", *(VARIANT_LABELS[v] for v in VARIANTS)]
    assert t.column("seeds") == ["—", "5", "5", "5"]
    runs = variant_runs(sweep, "adrpo_cesar").values()
    iv = mean_interval([r["final"]["accuracy"] for r in runs])
    assert t.column(METRIC_LABELS["accuracy"])[3] == f"{iv.mean:.3f} [{iv.low:.3f}, {iv.high:.3f}]"
    kl = mean_interval([training_kl(r) for r in runs])
    assert t.column(METRIC_LABELS["kl"])[3].startswith(f"{kl.mean:.3f} [")


def test_the_headline_panels_name_the_variants_once(sweep):
    fig, axes = plt.subplots(1, 3, sharey=True)
    plot_variant_seeds(sweep, axes, ("accuracy", "keywords", "think_length"))
    fig.canvas.draw()
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels == [VARIANT_LABELS[v] for v in reversed(VARIANTS)]
    assert not any(t.get_visible() and t.get_text() for ax in axes[1:] for t in ax.get_yticklabels())
    assert [ax.get_xlabel() for ax in axes] == [METRIC_LABELS[k] for k in ("accuracy", "keywords", "think_length")]
    colors = {matplotlib.colors.to_hex(line.get_color()) for line in axes[0].lines}
    assert {VARIANT_COLORS[v] for v in VARIANTS} <= colors
    plt.close(fig)


def test_training_curves_label_each_variant_once(sweep):
    runs = [r for v in VARIANTS for r in variant_runs(sweep, v).values()]
    fig, axes = plt.subplots(2, 2)
    plot_training(runs, ["kl", "rewards/accuracy_reward/mean", "completions/mean_length", "reward"], axes.flat,
                  smooth=10)  # fmt: skip
    names = axes[0, 0].get_legend_handles_labels()[1]
    assert names == [VARIANT_LABELS[v] for v in VARIANTS]
    assert len(axes[0, 0].lines[0].get_xdata()) == 91  # 100 iterations, a moving average over 10
    assert axes[0, 0].get_xlabel() == "" and axes[1, 0].get_xlabel() == "iteration"
    plt.close(fig)


def test_length_bins_pool_the_seeds(sweep):
    bins = length_bins(sweep, "adrpo_cesar")
    assert sum(count for count, _ in bins.values()) == 5 * 400
    fig, axes = plt.subplots(1, 2)
    plot_by_length(sweep, axes)
    assert [t.get_text() for t in axes[0].get_xticklabels()][-1] == "≥ 60"
    plt.close(fig)
