"""Choosing each method's tuned setting from a sweep: one rule for every method.

Wrong rules these catch: picking by reward alone (a collapsed high-reward setting wins), by one seed, ignoring a
diverged seed, or comparing against another reference than the pretrained model."""

import pytest

from adrpo_nb.experiments.summaries import tuned_settings


def _run(method, beta0, seed, reward, diversity):
    final = None if reward is None else {"reward": reward, "diversity": diversity}
    return {"config": {"method": method, "beta0": beta0, "seed": seed}, "final": final}


def _sweep(runs, base_reward=0.5):
    return {"base": {"reward": base_reward, "diversity": 0.6}, "runs": runs}


def test_the_best_setting_trades_reward_against_diversity_not_reward_alone():
    sweep = _sweep([_run("fixed", 0.01, s, 0.80, 0.05) for s in (0, 1)]      # collapsed: (0.3 × 0.05)
                   + [_run("fixed", 0.1, s, 0.70, 0.50) for s in (0, 1)])    # (0.2 × 0.5) wins
    best = tuned_settings(sweep)["fixed"]
    assert best["beta0"] == 0.1 and best["score"] == pytest.approx(0.2 * 0.5)
    assert best["scores"][0.01] == pytest.approx(0.3 * 0.05)


def test_the_score_averages_every_seed_and_a_diverged_seed_scores_zero():
    sweep = _sweep([_run("orw", 1.0, 0, 0.80, 0.5), _run("orw", 1.0, 1, None, None),   # one lucky seed, one diverged
                    _run("orw", 5.0, 0, 0.70, 0.5), _run("orw", 5.0, 1, 0.70, 0.5)])
    best = tuned_settings(sweep)["orw"]
    assert best["beta0"] == 5.0 and best["scores"][1.0] == pytest.approx(0.3 * 0.5 / 2)


def test_below_the_pretrained_reward_scores_zero_and_an_all_zero_grid_falls_back_to_reward():
    sweep = _sweep([_run("dpo", 100.0, 0, 0.45, 0.6), _run("dpo", 1000.0, 0, 0.49, 0.6)])
    best = tuned_settings(sweep)["dpo"]
    assert best["scores"] == {100.0: 0.0, 1000.0: 0.0} and best["beta0"] == 1000.0
    assert "none" not in tuned_settings(_sweep([_run("none", 0.0, 0, 0.9, 0.1), _run("dpo", 1.0, 0, 0.6, 0.5)]))
