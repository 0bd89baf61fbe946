"""The one table helper (adrpo_nb.viz.table) and every table the chapters show, on small synthetic results."""

import math

import pytest

from adrpo_nb.viz import Table, config_table, hypervolume_table, mean_std, seeds_table, sweep_table, table
from adrpo_nb.viz import audio as viz_audio
from adrpo_nb.viz import lm as viz_lm


# ----------------------------------------------------------------------------- table()
def test_cell_header_and_caption_text_is_escaped():
    t = table([{"a": "<script>alert(1)</script>", "b": "x & y"}], {"a": "<b>A</b>", "b": "B"}, caption="1 < 2")
    html = t.html()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "x &amp; y" in html and "&lt;b&gt;A&lt;/b&gt;" in html and "<caption>1 &lt; 2</caption>" in html
    assert str(t) == html == t._repr_html_()


def test_columns_follow_the_given_order_not_the_rows():
    t = table([{"z": 1, "a": 2, "m": 3}], ["m", "z", "a"])
    assert t.headers == ("m", "z", "a") and t.cells == (("3", "1", "2"),)
    assert table([["x", 1]], {"name": "who", "n": "how many"}).headers == ("who", "how many")


def test_formats_apply_per_column_and_leave_strings_and_none_alone():
    rows = [{"r": 0.123456, "k": 0.5, "s": "0.74 ± 0.01", "n": None, "i": 3}, {"r": 1.0, "k": 2.0, "s": "—",
                                                                          "n": 1e-7, "i": 4}]  # fmt: skip
    t = table(rows, ["r", "k", "s", "n", "i"], formats={"r": ".3f", "k": lambda v: f"{v:.0%}", "s": ".3f"})
    assert t.column("r") == ["0.123", "1.000"]
    assert t.column("k") == ["50%", "200%"]
    assert t.column("s") == ["0.74 ± 0.01", "—"]  # a string cell is never re-formatted
    assert t.column("n") == ["—", "1e-07"]  # None is shown as missing; floats default to 'g'
    assert t.column("i") == ["3", "4"]


def test_a_missing_key_is_a_clear_error():
    with pytest.raises(KeyError, match=r"row 1 has no 'w2'"):
        table([{"reward": 1.0, "w2": 0.1}, {"reward": 0.5}], ["reward", "w2"])
    with pytest.raises(ValueError, match=r"row 0 has 1 values for 2 columns"):
        table([[1.0]], ["reward", "w2"])
    with pytest.raises(KeyError, match=r"not shown: \['w3'\]"):
        table([{"reward": 1.0}], ["reward"], formats={"w3": ".3f"})
    with pytest.raises(ValueError, match=r"column 'reward': cannot format 'x'|cannot format"):
        table([[object()]], ["reward"], formats={"reward": ".3f"})
    with pytest.raises(ValueError, match="at least one column"):
        table([], [])
    with pytest.raises(KeyError, match="no column 'nope'"):
        table([[1]], ["a"]).column("nope")


def test_numbers_are_right_aligned_and_text_is_not():
    html = table([["ADRPO", "0.740 ± 0.008", "1.13×", "−0.5"]], ["m", "r", "ratio", "neg"]).html()
    assert '<td data-label="m" style="padding:0.2em 0.6em">ADRPO</td>' in html
    assert html.count('style="text-align:right;white-space:nowrap;padding:0.2em 0.6em">') == 3


def test_a_stacked_table_names_every_cell_by_its_column():
    rows = [["A claim that is a whole sentence.", "+0.012 [−0.020, +0.044]", "partly"]]
    columns = ["claim", "estimate [95 % interval]", 'say "verdict"']
    html = table(rows, columns, stack=True).html()
    assert '<table class="adrpo-table adrpo-stack">' in html
    assert html.count("data-label=") == 3 and 'data-label="say &quot;verdict&quot;"' in html  # escaped, quoted
    assert 'class="adrpo-table">' in table(rows, columns).html()  # not stacked unless asked


def test_repr_is_an_aligned_text_table():
    t = table([{"method": "ADRPO", "reward": 0.7401}, {"method": "β = 0", "reward": 1.0}], ["method", "reward"],
              formats={"reward": ".3f"}, caption="final")  # fmt: skip
    assert repr(t).splitlines() == ["final", "method | reward", "ADRPO  | 0.740", "β = 0  | 1.000"]


def test_mean_std_is_population_std_and_keeps_nan():
    assert mean_std([1.0, 2.0, 3.0]) == "2.000 ± 0.816"
    assert mean_std([0.5], ".2f") == "0.50"  # one seed: no spread to claim
    assert mean_std([]) == "—"
    assert mean_std([1.0, math.nan]) == "nan ± nan"


def test_config_table_lists_every_setting_but_the_run_folder():
    config = {"method": "adrpo", "beta0": 0.05, "clip": None, "iterations": 300, "output_dir": "/x", "progress": True,
              "extra": {}}  # fmt: skip
    t = config_table(config, per_row=2)
    assert t.headers == ("setting", "value", "setting", "value")
    assert t.cells == (("method", "adrpo", "beta0", "0.05"), ("clip", "None", "iterations", "300"),
                       ("extra", "{}", "", ""))  # fmt: skip
    with pytest.raises(ValueError, match="per_row"):
        config_table(config, per_row=0)


# ----------------------------------------------------------------------------- the chapters' tables
def _run(method, beta0, seed, final):
    return {"config": {"method": method, "beta0": beta0, "seed": seed}, "final": final}


def test_sweep_table_averages_finished_seeds_and_counts_diverged_ones():
    sweep = {"runs": [
        _run("fixed", 0.1, 0, {"reward": 0.8, "w2": 1.0}), _run("fixed", 0.1, 1, {"reward": 0.6, "w2": 3.0}),
        _run("fixed", 0.1, 2, None), _run("fixed", 0.02, 0, None), _run("adrpo", 0.05, 0, {"reward": 0.9, "w2": 0.5}),
    ]}  # fmt: skip
    t = sweep_table(sweep, ["fixed", "adrpo"], keys=("reward", "w2"))
    assert isinstance(t, Table)
    assert t.headers == ("method", "β0", "reward", "w2", "seeds", "diverged")
    assert t.cells == (
        ("fixed β", "0.02", "—", "—", "1", "1"),  # sorted by β0; all diverged: no number made up
        ("fixed β", "0.1", "0.700 ± 0.100", "2.000 ± 1.000", "3", "1"),
        ("ADRPO", "0.05", "0.900", "0.500", "1", "0"),
    )


def test_seeds_table_rows_by_seed_then_each_methods_mean():
    runs = {("adrpo", 1): {"final": {"reward": 0.7}}, ("adrpo", 0): {"final": {"reward": 0.9}},
            ("fixed", 0): {"final": {"reward": 0.5}}}  # fmt: skip
    t = seeds_table(runs, keys=("reward",))
    assert t.cells == (
        ("0", "ADRPO", "0.900"), ("0", "fixed β", "0.500"), ("1", "ADRPO", "0.700"),
        ("mean ± std", "ADRPO", "0.800 ± 0.100"), ("mean ± std", "fixed β", "0.500"),
    )  # fmt: skip


def test_hypervolume_table_names_methods_and_the_ratio():
    def hv(v):
        return {"hypervolume": v, "hypervolume_per_seed": {"mean": v / 2, "std": 0.01}}

    summary = {"by_diversity": {"even_entropy_norm": {"methods": {"none": hv(0.1), "fixed": hv(0.4), "orw": hv(0.3),
                                                                  "adrpo": hv(0.5)},
                                                      "adrpo_hv_ratio": 1.25, "best_baseline": "fixed"}}}  # fmt: skip
    t = hypervolume_table(summary)
    assert t.headers == ("diversity measure", "β = 0", "fixed β", "ORW-CFM-W2", "ADRPO", "ADRPO / best baseline")
    assert t.cells[0][0] == "even_entropy_norm"
    assert t.column("ADRPO") == ["0.500 (per seed 0.250 ± 0.010)"]
    assert t.column("ADRPO / best baseline") == ["1.25× vs fixed β"]


def test_lm_variant_table_starts_with_the_pretrained_model():
    summary = {"base": {"accuracy": 0.25}, "variants": {
        "none": [{"beta0": 0.0, "seeds": 3, "accuracy": 0.48, "accuracy_std": 0.01}],
        "adrpo (no clip)": [{"beta0": 0.04, "seeds": 2, "accuracy": 0.18, "accuracy_std": 0.03}]}}  # fmt: skip
    t = viz_lm.variant_table(summary, keys=("accuracy",))
    assert t.headers == ("variant", "β0", "accuracy", "seeds")
    assert t.cells == (("start (pretrained)", "—", "0.250", "—"), ("β = 0", "—", "0.480 ± 0.010", "3"),
                       ("ADRPO (no clip)", "0.04", "0.180 ± 0.030", "2"))  # fmt: skip


def test_audio_variant_table_keeps_only_the_asked_beta0_and_weight():
    def row(variant, beta0, weight, accuracy):
        return {"variant": variant, "beta0": beta0, "process_weight": weight, "seeds": 3, "accuracy": accuracy,
                "accuracy_std": 0.01, "format": 1.0, "think_length": 16.64, "consistency": 0.5, "keywords": 0.9,
                "overthinking": 0.7, "kl": 0.63789, "slope": 1.27, "slope_std": 0.06}  # fmt: skip

    summary = {"rows": [row("adrpo_cesar", 0.04, 1.0, 0.7), row("adrpo_cesar", 0.1, 1.0, 0.1),
                        row("grpo_cesar", 0.04, 0.5, 0.2)]}  # fmt: skip
    base = {"final": {"accuracy": 0.578, "format": 0.97, "think_length": 34.3, "consistency": 0.29, "keywords": 0.88,
                      "overthinking": 0.47}, "slope": 0.615}  # fmt: skip
    t = viz_audio.variant_table(summary, beta0=0.04, weight=1.0, base=base)
    assert t.column("model") == ["pretrained", "ADRPO + CESAR"]
    assert t.column("accuracy") == ["0.578", "0.700 ± 0.010"]
    assert t.column("reasoning (words)") == ["34.3", "16.6"] and t.column("KL/token") == ["0.0000", "0.6379"]
    assert t.column("slope (points/token)") == ["+0.6150", "+1.2700 ± 0.0600"]
    assert list(t.headers) == list(viz_audio.VARIANT_TABLE_COLUMNS.values())


def _seed_runs() -> dict:
    finals = {("adrpo", 0): 0.70, ("adrpo", 1): 0.74, ("fixed", 0): 0.60, ("fixed", 2): 0.66, ("fixed", 1): 0.63}
    return {k: {"final": {"reward": v, "diversity": 1 - v}, "config": {"method": k[0], "seed": k[1]}}
            for k, v in finals.items()}  # fmt: skip


def test_seed_stats_keeps_methods_apart_and_values_in_seed_order():
    from adrpo_nb.viz import seed_stats

    stats = seed_stats(_seed_runs(), ("reward",))
    assert stats["adrpo"]["seeds"] == 2 and stats["fixed"]["seeds"] == 3
    assert stats["fixed"]["reward"]["values"] == [0.60, 0.63, 0.66]  # seeds 0, 1, 2 though given 0, 2, 1
    assert math.isclose(stats["adrpo"]["reward"]["mean"], 0.72)
    assert math.isclose(stats["adrpo"]["reward"]["std"], 0.02)  # population std, as mean_std
    assert (stats["fixed"]["reward"]["min"], stats["fixed"]["reward"]["max"]) == (0.60, 0.66)


def test_plot_seed_points_draws_each_seed_and_each_methods_mean():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adrpo_nb.viz import plot_seed_points

    fig, ax = plt.subplots()
    plot_seed_points(_seed_runs(), ax)
    xs = sorted(x for line in ax.get_lines() for x in line.get_xdata() if line.get_marker() == "o")
    assert xs == sorted([0.70, 0.74, 0.60, 0.66, 0.63])
    labels = ax.get_legend_handles_labels()[1]
    assert any(lbl.startswith("ADRPO (2 seeds") for lbl in labels) and any("3 seeds" in lbl for lbl in labels)
    plt.close(fig)


def test_plot_method_curves_draws_each_methods_seed_mean_and_range():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adrpo_nb.viz import plot_method_curves

    runs = {(m, s): {"config": {"method": m, "seed": s}, "curve": {"iteration": [0, 10], "w2": w2}}
            for (m, s), w2 in {("adrpo", 0): [0.0, 1.0], ("adrpo", 1): [0.0, 3.0], ("none", 0): [0.0, 9.0]}.items()}
    fig, ax = plt.subplots()
    plot_method_curves(runs, "w2", ax)
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines == {"ADRPO (mean of 2 seeds)": [0.0, 2.0], "β = 0 (mean of 1 seeds)": [0.0, 9.0]}
    band = ax.collections[1].get_paths()[0].vertices[:, 1]  # methods in METHOD_COLORS order: β = 0, then ADRPO
    assert band.min() == 0.0 and band.max() == 3.0  # ADRPO's band spans its seeds' range
    runs["adrpo", 1]["curve"]["iteration"] = [0, 20]
    with pytest.raises(ValueError, match="different iterations"):
        plot_method_curves(runs, "w2", ax)
    plt.close(fig)


def test_equal_grid_tables_show_hypervolume_ranges_ratios_and_pairs():
    from adrpo_nb.viz import equal_grid_tables

    comparison = {
        "k": 2,
        "methods": {"adrpo": {"beta0s": [0.003, 0.01, 0.03], "hypervolume": {"min": 0.0177, "max": 0.0192}},
                    "fixed": {"beta0s": [0.01, 0.1], "hypervolume": {"min": 0.0186, "max": 0.0186}}},
        "ratios": {"fixed": {"best_vs_best": 1.035, "min": 0.954, "max": 1.035}},
        "pairs": [{"beta0": 0.003, "adrpo": {"beta0": 0.003, "reward": 0.7146, "diversity": 0.5213},
                   "fixed": {"beta0": 0.01, "reward": 0.7125, "diversity": 0.5617}}],
    }  # fmt: skip
    ratios, pairs = equal_grid_tables(comparison)
    assert ratios.column("hypervolume, any 2 of its β0") == ["0.0177–0.0192", "0.0186"]
    assert ratios.column("ADRPO / method: best vs best (range)") == ["—", "1.03× (0.95–1.03×)"]
    assert pairs.cells == (("0.003: 0.715 / 0.521", "0.01: 0.713 / 0.562"),)
