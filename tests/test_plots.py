"""The figure helpers the MNIST chapters draw with (adrpo_nb.viz.plots): intervals from adrpo_nb.stats, legends
outside the data, readable text, and the table options (human headers, α for ORW-CFM-W2), on small synthetic
sweeps."""

import math

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from adrpo_nb.stats import mean_interval
from adrpo_nb.viz import plots


def _run(method, beta0, seed, reward, entropy, w2=1.0):
    final = None if reward is None else {"reward": reward, "even_entropy_norm": entropy, "w2": w2}
    return {"config": {"method": method, "beta0": beta0, "seed": seed}, "final": final}


def _sweep():
    runs = [_run("none", 0.0, s, 1.0, e, w2) for s, e, w2 in ((0, 0.1, 3.0), (1, 0.3, 5.0), (2, 0.2, 4.0))]
    runs += [_run("fixed", b, s, r, 0.9, w2) for b, rs in ((0.1, (0.8, 0.9, 0.7)), (1.0, (0.6, 0.6, 0.6)))
             for s, (r, w2) in enumerate(zip(rs, (50.0, 100.0, 150.0), strict=True))]  # fmt: skip
    runs.append(_run("fixed", 0.1, 3, None, None))  # diverged: left out of every mean and dot
    return {"runs": runs}


def _summary(sweep):
    points = []
    for b in (0.1, 1.0):
        group = [r["final"] for r in sweep["runs"] if r["config"]["method"] == "fixed" and r["final"]
                 and r["config"]["beta0"] == b]  # fmt: skip
        rewards = [f["reward"] for f in group]
        points.append({"beta0": b, "reward": sum(rewards) / len(rewards), "reward_std": 0.05, "diversity": 0.9,
                       "diversity_std": 0.0, "seeds": len(group)})  # fmt: skip
    return {"by_diversity": {"even_entropy_norm": {"methods": {"fixed": {
        "points": points, "front": [[0.8, 0.9]], "hypervolume": 0.2}}}}}  # fmt: skip


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_coefficient_sweep_draws_each_seed_the_mean_and_the_reference_band(ax):
    sweep = _sweep()
    plots.plot_coefficient_sweep(sweep, ["fixed"], "reward", ax, legend="below")
    mean_line = next(line for line in ax.get_lines() if line.get_label() == "fixed β")
    assert list(mean_line.get_xdata()) == [0.1, 1.0]
    assert [round(y, 6) for y in mean_line.get_ydata()] == [0.8, 0.6]  # the diverged seed is not a zero
    dots = [y for line in ax.get_lines() if line.get_label().startswith("_") for y in line.get_ydata()]
    assert sorted(dots) == sorted([0.8, 0.9, 0.7, 0.6, 0.6, 0.6])  # every finished seed, once
    reference = next(line for line in ax.get_lines() if line.get_label().startswith("β = 0"))
    assert reference.get_ydata()[0] == 1.0 and ax.get_xscale() == "log"
    legend = ax.get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().y0 < ax.get_window_extent().y0  # below the axes


def test_coefficient_sweep_band_is_the_student_t_interval_and_survives_a_log_axis(ax):
    sweep = _sweep()
    plots.plot_coefficient_sweep(sweep, ["fixed"], "even_entropy_norm", ax)
    (band,) = ax.patches  # axhspan's rectangle: y in data coordinates
    iv = mean_interval([0.1, 0.3, 0.2])
    assert math.isclose(band.get_y(), iv.low) and math.isclose(band.get_y() + band.get_height(), iv.high)
    fig, log_ax = plt.subplots()
    plots.plot_coefficient_sweep(sweep, ["fixed"], "w2", log_ax, log=True)  # the t band of W2 dips below 0
    assert log_ax.get_yscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match="no finished run of method='orw'"):
        plots.plot_coefficient_sweep(sweep, ["orw"], "reward", ax)


def test_pareto_fronts_with_the_sweep_draw_95_percent_intervals(ax):
    sweep = _sweep()
    plots.plot_pareto_fronts(_summary(sweep), "even_entropy_norm", ax, sweep=sweep, annotate=["fixed"])
    bars = plots._interval_bars(sweep, "fixed", _summary(sweep)["by_diversity"]["even_entropy_norm"]["methods"]
                                ["fixed"]["points"], "reward")  # fmt: skip
    iv = mean_interval([0.8, 0.9, 0.7])
    assert math.isclose(bars[0, 0], iv.mean - iv.low) and math.isclose(bars[1, 0], iv.high - iv.mean)
    assert bars[0, 1] == 0.0  # three equal seeds: no spread
    assert all(t.get_fontsize() >= 10 for t in ax.texts)  # the β0 labels are readable
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match="legend must be one of"):
        plots.plot_pareto_fronts(_summary(sweep), "even_entropy_norm", ax, legend="top")


def test_class_histograms_side_by_side_with_one_colour_each(ax):
    plots.plot_class_histograms({"base": [0.1] * 10, "β = 0": [0.0] * 6 + [1.0] + [0.0] * 3}, ax,
                                colors={"base": "#bbbbbb", "β = 0": plots.METHOD_COLORS["none"]})  # fmt: skip
    assert len(ax.patches) == 20
    assert {matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches} == {"#bbbbbb", "#d62728"}
    bold = [t.get_text() for t in ax.get_xticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["0", "2", "4", "6", "8"]


def test_sweep_table_human_headers_and_alpha_for_orw():
    sweep = {"runs": [_run("orw", 0.5, 0, 0.7, 0.9), _run("orw", 0.5, 1, 0.8, 0.95)]}
    t = plots.sweep_table(sweep, ["orw"], keys=("reward", "even_entropy_norm"), labels=True, coefficient="α")
    assert t.headers == ("method", "α", "reward", "even-digit entropy / ln 5", "seeds", "diverged")
    assert plots.sweep_table(sweep, ["orw"], keys=("reward",)).headers[:3] == ("method", "β0", "reward")


def test_hypervolume_table_by_method_is_a_row_per_method():
    def hv(v):
        return {"hypervolume": v, "hypervolume_per_seed": {"mean": v / 2, "std": 0.01}}

    summary = {"by_diversity": {"even_entropy_norm": {"methods": {"fixed": hv(0.4), "adrpo": hv(0.5)},
                                                      "adrpo_hv_ratio": 1.25, "best_baseline": "fixed"}}}  # fmt: skip
    t = plots.hypervolume_table(summary, ("fixed", "adrpo"), by="method")
    assert t.headers == ("method", "HV, even-digit entropy / ln 5", "per seed")
    assert t.cells == (("fixed β", "0.400", "0.200 ± 0.010"), ("ADRPO", "0.500", "0.250 ± 0.010"))
    with pytest.raises(ValueError, match="by must be"):
        plots.hypervolume_table(summary, by="seed")
