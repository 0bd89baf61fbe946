"""The shipped MNIST models and rewards."""

import math

import pytest
import torch

from adrpo_nb.experiments import mnist
from adrpo_nb.experiments.mnist import evaluate_velocity


def test_shipped_classifier_accuracy_on_2000_test_images():
    images, labels = mnist.load_mnist("test")
    clf = mnist.load_classifier()
    with torch.no_grad():
        preds = clf(images[:2000]).argmax(1)
    assert (preds == labels[:2000]).float().mean().item() >= 0.98


def test_loaded_models_are_in_eval_mode_and_frozen():
    base = mnist.load_base_model()
    assert not base.training and not any(p.requires_grad for p in base.parameters())
    assert not mnist.load_classifier().training


def test_base_model_samples_are_confident_and_diverse():
    metrics, images = evaluate_velocity(mnist.load_base_model(), n=512)
    assert images.shape == (512, 1, 28, 28)
    assert metrics["max_prob"] >= 0.85
    assert metrics["class_entropy"] >= 0.95 * math.log(10)
    assert 0.35 <= metrics["reward"] <= 0.6
    assert metrics["w2"] == 0.0  # the base against itself


def test_rewards_are_probabilities_of_the_right_digits():
    images, labels = mnist.load_mnist("test")
    x = images[:500]
    even = mnist.even_digits(x)
    assert even.shape == (500,) and even.min() >= 0 and even.max() <= 1 + 1e-6
    is_even = labels[:500] % 2 == 0
    assert even[is_even].mean() > 0.95 and even[~is_even].mean() < 0.05
    three = mnist.target_digit(3)(x)
    assert three[labels[:500] == 3].mean() > 0.95
    with pytest.raises(ValueError, match="k=10"):
        mnist.target_digit(10)
    with pytest.raises(ValueError, match=r"shape \(5, 3, 3\)"):
        mnist.even_digits(torch.zeros(5, 3, 3))


def test_diversity_of_a_collapsed_batch():
    images, labels = mnist.load_mnist("test")
    zeros = images[labels == 0][:64]
    d = mnist.diversity(zeros)
    assert d["even_entropy"] < 0.1 and d["class_entropy_norm"] < 0.1
    mixed = mnist.diversity(images[:256])
    assert mixed["class_entropy_norm"] > 0.95 and mixed["pairwise_distance"] > d["pairwise_distance"]
