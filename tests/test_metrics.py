"""Diversity metrics, Pareto fronts and hypervolume on hand-computed examples."""

import math

import numpy as np
import pytest
import torch

from adrpo_nb.metrics import class_entropy, hypervolume_2d, mean_pairwise_distance, pareto_front


def test_class_entropy_uniform_and_collapsed():
    assert class_entropy(torch.arange(10).repeat(5), 10) == pytest.approx(math.log(10))
    assert class_entropy(torch.zeros(50, dtype=torch.long), 10) == 0.0
    # only the even classes count, renormalised
    labels = torch.tensor([0, 2, 4, 6, 8, 1, 1, 1])
    assert class_entropy(labels, 10, classes=(0, 2, 4, 6, 8)) == pytest.approx(math.log(5))


def test_mean_pairwise_distance():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    # pairs: 5, 0, 5 -> mean 10/3
    assert mean_pairwise_distance(x) == pytest.approx(10 / 3)
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_distance(x[:1])


def test_pareto_front_drops_dominated_points():
    pts = [(0.5, 0.9), (0.9, 0.5), (0.6, 0.6), (0.4, 0.4), (0.9, 0.4)]
    front = pareto_front(pts)
    assert front.tolist() == [[0.5, 0.9], [0.6, 0.6], [0.9, 0.5]]


def test_hypervolume_of_a_staircase():
    # reference (0, 0): rectangles 0.5·0.9 + (0.6-0.5)·0.6 + (0.9-0.6)·0.5
    hv = hypervolume_2d([(0.5, 0.9), (0.9, 0.5), (0.6, 0.6), (0.4, 0.4)], (0.0, 0.0))
    assert hv == pytest.approx(0.45 + 0.06 + 0.15)
    # points below the reference add nothing
    assert hypervolume_2d([(0.2, 0.9)], (0.3, 0.0)) == 0.0
    assert hypervolume_2d(np.array([[1.0, 1.0]]), (0.5, 0.5)) == pytest.approx(0.25)


def test_hypervolume_errors():
    with pytest.raises(ValueError, match="reference"):
        hypervolume_2d([(1, 1)], (0.0,))
    with pytest.raises(ValueError, match="finite"):
        pareto_front([(float("nan"), 1.0)])


def _sweep(points):
    runs = [{"config": {"method": m, "beta0": b, "seed": 0}, "final": {"reward": r, "diversity": d}}
            for m, b, r, d in points]  # fmt: skip
    return {"base": {"reward": 0.0}, "runs": runs}


def test_equal_grid_comparison_scores_every_method_on_as_many_settings():
    from adrpo_nb.experiments.summaries import equal_grid_comparison, summarize_sweep

    sweep = _sweep([("adrpo", 0.05, 1, 3), ("adrpo", 0.1, 2, 2), ("adrpo", 0.2, 3, 1),
                    ("fixed", 0.05, 1, 2.5), ("fixed", 0.5, 2, 1.5), ("none", 0.0, 0.5, 0.5)])  # fmt: skip
    # the unequal grids: ADRPO's 3-point staircase covers 3 + 2 + 1 = 6, fixed β's 2 points 2.5 + 1.5 = 4
    assert summarize_sweep(sweep, ["diversity"])["by_diversity"]["diversity"]["adrpo_hv_ratio"] == pytest.approx(1.5)
    out = equal_grid_comparison(sweep)
    assert out["k"] == 2 and set(out["methods"]) == {"adrpo", "fixed"}  # none has no β0 grid
    # every pair of ADRPO's settings covers 5 (3 + 2, 3 + 2·1, 2·2 + 1): the ratio on equal grids is 5/4
    assert out["methods"]["adrpo"]["hypervolume"]["min"] == pytest.approx(5.0)
    assert out["methods"]["adrpo"]["hypervolume"]["max"] == pytest.approx(5.0)
    assert out["ratios"]["fixed"] == pytest.approx({"best_vs_best": 1.25, "min": 1.25, "max": 1.25})
    # per-β0 pairs: each ADRPO β0 beside the baseline's nearest β0 (log scale)
    assert [(p["beta0"], p["fixed"]["beta0"]) for p in out["pairs"]] == [(0.05, 0.05), (0.1, 0.05), (0.2, 0.5)]
    assert out["pairs"][2]["adrpo"] == {"beta0": 0.2, "reward": 3, "diversity": 1}
    one = equal_grid_comparison(sweep, k=1)  # the best single setting of each: (2, 2) -> 4 vs (2, 1.5) -> 3
    assert one["ratios"]["fixed"]["best_vs_best"] == pytest.approx(4 / 3)
    assert one["methods"]["adrpo"]["hypervolume"]["best_subset"] == [0.1]
    with pytest.raises(ValueError, match="k=3"):
        equal_grid_comparison(sweep, k=3)
