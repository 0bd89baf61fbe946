"""The β0 slider as a reader sees it: each method in its own colour, a legend outside the plot that names every
method in full, and a stats line that does not say "mean of 1 seeds" (issue 22: chapter 6's slider had both of
its methods in grey and a legend cut by the plot's edge)."""

from __future__ import annotations

import json
import re

import matplotlib
import pytest

matplotlib.use("Agg")

from adrpo_nb.notebook import load_result
from adrpo_nb.viz import BetaSlider
from adrpo_nb.viz.audio import VARIANT_COLORS, VARIANT_LABELS, alpha_slider, beta_slider, training_kl


@pytest.fixture(scope="module")
def audio_sweep():
    return load_result("results", "audio_sweep.json")


def _payload(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" class="adrpo-data">(.*?)</script>', page,
                                re.S).group(1).replace("<\\/", "</"))  # fmt: skip


def test_the_audio_sliders_draw_each_variant_in_its_own_colour(audio_sweep):
    slider = beta_slider(audio_sweep)
    assert set(slider.entries) == {"adrpo_cesar", "grpo_cesar"} and slider.method == "adrpo_cesar"
    data = _payload(slider.static_html())
    assert data["colors"] == {v: VARIANT_COLORS[v] for v in ("adrpo_cesar", "grpo_cesar")}
    assert len(set(data["colors"].values())) == 2 and "#888" not in data["colors"].values()
    assert data["method_labels"] == {v: VARIANT_LABELS[v] for v in ("adrpo_cesar", "grpo_cesar")}
    weights = alpha_slider(audio_sweep)
    assert weights.colors["adrpo_cesar"] == VARIANT_COLORS["adrpo_cesar"]
    assert weights.entries[weights.method][_start(weights.static_html())]["beta0"] == 1.0  # starts at w = 1


def _start(page: str) -> int:
    return int(re.search(r'type="range" min="0" max="\d+" step="1" value="(\d+)"', page).group(1))


def test_the_static_legend_is_outside_the_plot_and_names_every_method(audio_sweep):
    page = beta_slider(audio_sweep).static_html()
    legend = re.search(r'<div class="legend">(.*?)</div>', page, re.S)
    assert legend and page.index('<div class="legend">') > page.index('<svg class="front"')
    for label in ("ADRPO + CESAR", "GRPO + CESAR", "pretrained"):
        assert label in legend.group(1)
    assert "W-70" not in page  # the old legend drawn inside the SVG, cut at its right edge
    assert "font-size':9" not in page  # axis text of at least 10 px


def test_the_live_figure_puts_its_legend_below_the_axes(audio_sweep):
    slider = beta_slider(audio_sweep)
    fig = slider.figure(slider.entries["adrpo_cesar"][0])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert box.y1 <= ax.get_window_extent(renderer).y0, "the legend overlaps a panel"
    shown = {t.get_text(): matplotlib.colors.to_hex(h.get_color())
             for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}  # fmt: skip
    assert set(shown) == {"ADRPO + CESAR", "GRPO + CESAR", "pretrained"}
    assert shown["ADRPO + CESAR"] == VARIANT_COLORS["adrpo_cesar"]
    assert shown["GRPO + CESAR"] == VARIANT_COLORS["grpo_cesar"]
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 10


def test_a_method_without_a_colour_gets_a_colour_of_its_own():
    final = {"even_entropy_norm": 0.5, "w2": 0.1}
    runs = [{"config": {"method": m, "beta0": b, "seed": 0}, "final": {"reward": b, **final}}
            for m in ("mine", "yours") for b in (0.05, 0.1)]  # fmt: skip
    slider = BetaSlider({"runs": runs}, colors={"mine": "#1f77b4"})
    assert slider.colors["mine"] == "#1f77b4" and slider.colors["yours"] not in ("#1f77b4", "#888888")


def test_the_stats_line_says_one_seed_not_mean_of_1_seeds(audio_sweep):
    slider = beta_slider(audio_sweep)
    page = slider.static_html()
    assert "' (1 seed)'" in page and "mean of 1 seeds" not in page
    one = next(e for e in slider.entries["grpo_cesar"] if e["seeds"] == 1)
    five = next(e for e in slider.entries["grpo_cesar"] if e["seeds"] == 5)
    assert slider._caption(one).endswith("(1 seed)") and slider._caption(five).endswith("(mean of 5 seeds)")


def test_the_slider_kl_averages_the_last_iterations(audio_sweep):
    run = audio_sweep["runs"][0]
    assert training_kl(run) == pytest.approx(sum(run["curve"]["kl"][-10:]) / 10)
    assert training_kl({"curve": {}}) != training_kl({"curve": {}})  # NaN without a KL curve
