"""Figures, tables and the β0 slider: the figures and sweep tables in :mod:`.plots`, the slider in
:mod:`.slider`, every table through :func:`table` (:mod:`.tables`); per family :mod:`.images`, :mod:`.lm` and
:mod:`.audio`."""

from adrpo_nb.viz.plots import (
    METHOD_COLORS,
    METHOD_LABELS,
    METRIC_LABELS,
    equal_grid_tables,
    hypervolume_table,
    plot_beta_eff_histograms,
    plot_class_histogram,
    plot_class_histograms,
    plot_coefficient_sweep,
    plot_curves,
    plot_guidance_curve,
    plot_method_curves,
    plot_pareto_fronts,
    plot_seed_points,
    seed_stats,
    seeds_table,
    show_images,
    show_png,
    sweep_table,
)
from adrpo_nb.viz.slider import BetaSlider, slider_entries
from adrpo_nb.viz.tables import Table, config_table, mean_std, table

__all__ = [
    "METHOD_COLORS",
    "METHOD_LABELS",
    "METRIC_LABELS",
    "BetaSlider",
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
    "slider_entries",
    "sweep_table",
    "Table",
    "config_table",
    "mean_std",
    "table",
]
