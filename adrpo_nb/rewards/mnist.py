"""MNIST rewards: linear functions of the shipped classifier's class probabilities.

``even_digits(images)`` = Σ_{k even} p(k | x) — the ORW-CFM-W2 MNIST task: the base model scores
about 0.45 and a model that draws only (confidently classified) even digits scores about 1.0,
whether it draws all five even digits or one, so the reward alone invites mode collapse.
``target_digit(k)(images)`` = p(k | x).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["EVEN_DIGITS", "ClassProbabilityReward", "even_digits", "target_digit"]

EVEN_DIGITS = (0, 2, 4, 6, 8)


class ClassProbabilityReward:
    """``reward(images) = Σ_k w_k · p(k | images)`` with the shipped classifier (loaded on first use).

    Calling it returns a ``Tensor[N]``; :meth:`score_with_info` also returns the predicted labels
    and the classifier's penultimate features (for diversity metrics) from the same forward pass.
    """

    def __init__(self, digits: Sequence[int], name: str):
        digits = tuple(int(d) for d in digits)
        if not digits or any(not 0 <= d <= 9 for d in digits):
            raise ValueError(f"digits must be a non-empty subset of 0..9, got {digits!r}")
        self.digits, self.__name__ = digits, name

    def __repr__(self) -> str:
        return f"{self.__name__}(digits={self.digits})"

    @torch.no_grad()
    def score_with_info(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(rewards [N], {"labels": [N], "features": [N, 128], "probs": [N, 10]})``."""
        from adrpo_nb.mnist import load_classifier

        if images.dim() not in (3, 4) or images.shape[-2:] != (28, 28):
            raise ValueError(f"images must be (N, 1, 28, 28) or (N, 28, 28) in [0, 1], got shape {tuple(images.shape)}")
        clf = load_classifier(images.device)
        features = clf.features(images.float())
        probs = clf.head(features).softmax(dim=1)
        rewards = probs[:, list(self.digits)].sum(dim=1)
        return rewards, {"labels": probs.argmax(dim=1), "features": features, "probs": probs}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.score_with_info(images)[0]


even_digits = ClassProbabilityReward(EVEN_DIGITS, "even_digits")


def target_digit(k: int) -> ClassProbabilityReward:
    """The reward ``p(k | x)`` for one digit ``k`` in 0..9."""
    if not isinstance(k, int) or not 0 <= k <= 9:
        raise ValueError(f"k must be a digit 0..9, got k={k!r}")
    return ClassProbabilityReward((k,), f"target_digit_{k}")
