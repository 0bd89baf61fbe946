"""MNIST for readers: the data, the shipped models, the rewards and the diversity metrics.

>>> from adrpo_nb import mnist
>>> images, labels = mnist.load_mnist("test")          # float [N, 1, 28, 28] in [0, 1], long [N]
>>> base = mnist.load_base_model()                     # latent flow + autoencoder, eval mode
>>> digits = base.sample(64, torch.Generator().manual_seed(0))
>>> mnist.even_digits(digits).mean()                   # reward: Σ_{k even} p(k|x) ≈ 0.45
>>> mnist.diversity(digits)                            # class entropy, even-class entropy, pairwise distance

The weights are files in ``data/checkpoints/mnist/``, made by
``python -m adrpo_nb.experiments.mnist pretrain`` (see ``pretrain.json`` there for how and when).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from adrpo_nb.checkpoints import load_module
from adrpo_nb.data import data_path, load_mnist_arrays
from adrpo_nb.metrics import class_entropy, mean_pairwise_distance
from adrpo_nb.models.mnist import DigitAutoencoder, DigitClassifier, LatentFlowModel, VelocityMLP
from adrpo_nb.rewards.mnist import EVEN_DIGITS, ClassProbabilityReward, even_digits, target_digit

__all__ = [
    "EVEN_DIGITS",
    "CHECKPOINT_DIR",
    "ClassProbabilityReward",
    "diversity",
    "even_digits",
    "load_autoencoder",
    "load_base_model",
    "load_classifier",
    "load_mnist",
    "target_digit",
]

CHECKPOINT_DIR = ("checkpoints", "mnist")


def checkpoint_file(name: str, must_exist: bool = True):
    """Path of ``data/checkpoints/mnist/<name>``."""
    return data_path(*CHECKPOINT_DIR, name, must_exist=must_exist)


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """``(images float [N, 1, 28, 28] in [0, 1], labels long [N])`` from the checksum-verified IDX files."""
    images, labels = load_mnist_arrays(split)
    return torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1), torch.from_numpy(labels.copy()).long()


def _frozen(module: torch.nn.Module, device) -> torch.nn.Module:
    return module.to(device or "cpu").eval().requires_grad_(False)


@lru_cache(maxsize=4)
def _classifier_on(device: str) -> DigitClassifier:
    return _frozen(load_module(DigitClassifier, checkpoint_file("classifier.safetensors")), device)


def load_classifier(device: torch.device | str | None = None) -> DigitClassifier:
    """The shipped CNN classifier (eval mode, frozen; cached per device). Test accuracy: see ``pretrain.json``."""
    return _classifier_on(str(torch.device(device or "cpu")))


def load_autoencoder(device: torch.device | str | None = None) -> DigitAutoencoder:
    """The shipped autoencoder 28×28 ↔ 16-d standardised latent (eval mode, frozen)."""
    return _frozen(load_module(DigitAutoencoder, checkpoint_file("autoencoder.safetensors")), device)


def load_base_model(device: torch.device | str | None = None) -> LatentFlowModel:
    """The pretrained base generative model (the RL reference): a latent flow, eval mode, frozen."""
    velocity = load_module(VelocityMLP, checkpoint_file("flow.safetensors"))
    return _frozen(LatentFlowModel(velocity, load_autoencoder()), device)


@torch.no_grad()
def diversity(
    images: torch.Tensor | None = None, *, labels: torch.Tensor | None = None, features: torch.Tensor | None = None
) -> dict[str, float]:
    """Diversity of a batch of digits, from the classifier's predictions.

    Returns ``class_entropy`` (of the 10-class histogram, nats, max ln 10), ``even_entropy``
    (histogram over the even digits only, max ln 5), their normalised versions
    (``*_norm`` ∈ [0, 1]) and ``pairwise_distance`` (mean Euclidean distance between the
    classifier's 128-d features of all pairs). Pass ``images``, or ``labels`` and ``features``
    already computed (e.g. from :meth:`ClassProbabilityReward.score_with_info`).
    """
    if images is not None:
        _, info = even_digits.score_with_info(images)
        labels, features = info["labels"], info["features"]
    if labels is None or features is None:
        raise ValueError("diversity needs images, or both labels and features")
    ent = class_entropy(labels, 10)
    even = class_entropy(labels, 10, EVEN_DIGITS)
    return {
        "class_entropy": ent,
        "class_entropy_norm": ent / math.log(10),
        "even_entropy": even,
        "even_entropy_norm": even / math.log(len(EVEN_DIGITS)),
        "pairwise_distance": mean_pairwise_distance(features),
    }
