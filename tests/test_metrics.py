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
