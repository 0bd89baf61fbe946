"""Chapter 4's evidence figures and tables: intervals from the seeds, one setting per method, the evaluation's
noise measured per model. Wrong versions these catch: pooling two settings of a method, a population std, an
evaluation-noise column computed across models instead of within one."""

import matplotlib
import pytest

matplotlib.use("Agg")

from adrpo_nb.stats import mean_interval
from adrpo_nb.viz.sd3 import eval_noise_table, lead_table, method_seeds, plot_lead, tuning_table


def _run(method, seed, reward, diversity, beta0=0.01, evals=(0.0, 0.02)):
    return {"config": {"method": method, "beta0": beta0, "seed": seed},
            "final": {"reward": reward, "diversity": diversity, "w2": 0.01},
            "final_by_eval_seed": [{"eval_seed": i, "reward": reward + e, "diversity": diversity} for i, e in
                                   enumerate(evals)]}  # fmt: skip


def _lead():
    runs = [_run("adrpo", s, 0.70 + 0.01 * s, 0.5) for s in range(5)]
    runs += [_run("none", s, 0.60, 0.2 + 0.01 * s, beta0=0.0, evals=(0.0, 0.04)) for s in range(5)]
    return {"base": {"reward": 0.65, "diversity": 0.56}, "runs": runs}


def test_the_lead_table_gives_each_method_its_mean_and_student_t_interval():
    t = lead_table(_lead(), keys=("reward",))
    iv = mean_interval([0.70, 0.71, 0.72, 0.73, 0.74])
    assert t.cells[0][:3] == ("ADRPO", "0.01", "5")
    assert t.cells[0][3] == f"{iv.mean:.3f} [{iv.low:.3f}, {iv.high:.3f}]"


def test_a_method_with_two_settings_or_a_repeated_seed_is_refused():
    sweep = _lead()
    sweep["runs"].append(_run("adrpo", 9, 0.7, 0.5, beta0=0.03))
    with pytest.raises(ValueError, match=r"one setting of 'adrpo'.*\[0.01, 0.03\]"):
        method_seeds(sweep, "adrpo")
    sweep = _lead()
    sweep["runs"].append(_run("adrpo", 0, 0.7, 0.5))
    with pytest.raises(ValueError, match="seed 0 of 'adrpo' appears twice"):
        method_seeds(sweep, "adrpo")


def test_the_evaluation_noise_is_the_spread_within_one_model_beside_the_spread_over_seeds():
    t = eval_noise_table(_lead())
    adrpo, none = t.cells
    assert float(adrpo[2]) == pytest.approx(0.0141, abs=1e-4)  # sd of (r, r + 0.02), sample std
    assert float(none[2]) == pytest.approx(0.0283, abs=1e-4)
    assert float(adrpo[3]) == pytest.approx(0.0158, abs=1e-4)  # sd of 0.70..0.74 over the training seeds
    old = _lead()
    for r in old["runs"]:
        del r["final_by_eval_seed"]
    with pytest.raises(ValueError, match="carry no final_by_eval_seed"):
        eval_noise_table(old)


def test_the_lead_figure_and_the_tuning_table_draw():
    ax = plot_lead(_lead())
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"ADRPO (5 seeds)", "β = 0 (5 seeds)"}
    t = tuning_table({"fixed": {"beta0": 0.03, "score": 0.02, "scores": {0.01: 0.01, 0.03: 0.02}, "seeds": 3}})
    assert t.cells == (("fixed β", "0.01: 0.0100, 0.03: 0.0200", "0.03", "3"),)
