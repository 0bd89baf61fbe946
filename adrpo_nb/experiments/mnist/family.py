"""MNIST for readers: the data, the shipped models, the rewards, the diversity metrics and the evaluation.

>>> from adrpo_nb.experiments import mnist
>>> images, labels = mnist.load_mnist("test")          # float [N, 1, 28, 28] in [0, 1], long [N]
>>> base = mnist.load_base_model()                     # latent flow + autoencoder, eval mode
>>> digits = base.sample(64, torch.Generator().manual_seed(0))
>>> mnist.even_digits(digits).mean()                   # reward: Σ_{k even} p(k|x) ≈ 0.45
>>> mnist.diversity(digits)                            # class entropy, even-class entropy, pairwise distance
>>> metrics, images = mnist.evaluate_velocity(base)    # reward, diversity, w2 on one fixed noise batch

The weights are files in ``data/checkpoints/mnist/``, made by
``python -m adrpo_nb.experiments.mnist pretrain`` (see ``pretrain.json`` there for how and when).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from adrpo_nb.metrics import class_entropy, mean_pairwise_distance
from adrpo_nb.models.mnist import (
    CHECKPOINT_DIR,
    LatentFlowModel,
    checkpoint_file,
    load_autoencoder,
    load_base_model,
    load_classifier,
)
from adrpo_nb.rewards import mnist as rewards_mnist
from adrpo_nb.rewards.mnist import EVEN_DIGITS, ClassProbabilityReward
from adrpo_nb.tasks.mnist import load_mnist

__all__ = [
    "EVAL_SEED",
    "EVEN_DIGITS",
    "CHECKPOINT_DIR",
    "ClassProbabilityReward",
    "checkpoint_file",
    "diversity",
    "evaluate_velocity",
    "even_digits",
    "load_autoencoder",
    "load_base_model",
    "load_classifier",
    "load_mnist",
    "target_digit",
]

EVAL_SEED = 20251023  # one fixed noise batch for every evaluation: paired comparisons across runs
#: the task's rewards, with the shipped classifier (loaded on first use, cached per device)
even_digits = ClassProbabilityReward(EVEN_DIGITS, "even_digits", load_classifier)


def target_digit(k: int) -> ClassProbabilityReward:
    """The reward ``p(k | x)`` for one digit ``k`` in 0..9, with the shipped classifier."""
    return rewards_mnist.target_digit(k, load_classifier)


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


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_velocity(
    base: LatentFlowModel,
    velocity: torch.nn.Module | None = None,
    reward: ClassProbabilityReward = even_digits,
    n: int = 1024,
    steps: int = 20,
    seed: int = EVAL_SEED,
) -> tuple[dict[str, Any], torch.Tensor]:
    """Metrics of ``velocity`` (default: the base model) on ``n`` samples from a fixed noise batch.

    Returns ``(metrics, images)``. ``w2`` is the regulariser's quantity: the mean squared
    difference between ``velocity`` and the base velocity on interpolants of these samples
    (it bounds the squared W2 distance of the two sample distributions up to a constant).
    """
    velocity = velocity or base.velocity
    was_training = velocity.training
    velocity.eval()
    gen = torch.Generator().manual_seed(seed)
    latents = base.sample_latents(n, gen, steps, velocity=velocity)
    images = base.decode(latents)
    rewards, info = reward.score_with_info(images)
    noise = torch.randn(latents.shape, generator=gen).to(latents.device)
    t = torch.rand(n, generator=gen).to(latents.device)
    x_t = (1 - t[:, None]) * noise + t[:, None] * latents
    gap = (velocity(x_t, t) - base.velocity(x_t, t)).pow(2).mean().item()
    velocity.train(was_training)
    hist = torch.bincount(info["labels"].cpu(), minlength=10).float() / n
    metrics = {
        "reward": rewards.mean().item(),
        "reward_std": rewards.std(unbiased=False).item(),
        "max_prob": info["probs"].max(dim=1).values.mean().item(),
        **diversity(labels=info["labels"], features=info["features"]),
        "w2": gap,
        "class_histogram": [round(v, 4) for v in hist.tolist()],
    }
    return metrics, images
