"""MNIST rewards: linear functions of the shipped classifier's class probabilities.

``ClassProbabilityReward(EVEN_DIGITS, "even_digits", classifier)(images)`` =
Σ_{k even} p(k | x) — the ORW-CFM-W2 MNIST task: the base model scores
about 0.45 and a model that draws only (confidently classified) even digits scores about 1.0,
whether it draws all five even digits or one, so the reward alone invites mode collapse.
``target_digit(k, classifier)(images)`` = p(k | x). The ready-made ``even_digits`` with the shipped
classifier is :data:`adrpo_nb.experiments.mnist.even_digits`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["EVEN_DIGITS", "ClassProbabilityReward", "target_digit"]

EVEN_DIGITS = (0, 2, 4, 6, 8)


class ClassProbabilityReward:
    """``reward(images) = Σ_k p(k | images)`` over ``digits``, with the classifier you give it.

    ``classifier`` is a module with ``features(images)`` and ``head(features)`` (as
    :class:`~adrpo_nb.models.mnist.DigitClassifier`), or a loader ``classifier(device) -> module`` called
    on first use (e.g. :func:`adrpo_nb.models.mnist.load_classifier`, which loads the shipped weights).

    Calling it returns a ``Tensor[N]``; :meth:`score_with_info` also returns the predicted labels
    and the classifier's penultimate features (for diversity metrics) from the same forward pass.
    """

    def __init__(self, digits: Sequence[int], name: str, classifier: torch.nn.Module | Callable[[Any], Any]):
        digits = tuple(int(d) for d in digits)
        if not digits or any(not 0 <= d <= 9 for d in digits):
            raise ValueError(f"digits must be a non-empty subset of 0..9, got {digits!r}")
        if not callable(classifier):
            raise TypeError(f"classifier must be a module or a loader classifier(device), got {classifier!r}")
        self.digits, self.__name__, self.classifier = digits, name, classifier

    def _classifier_on(self, device: torch.device) -> Any:
        if isinstance(self.classifier, torch.nn.Module):
            return self.classifier
        return self.classifier(device)

    def __repr__(self) -> str:
        return f"{self.__name__}(digits={self.digits})"

    @torch.no_grad()
    def score_with_info(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(rewards [N], {"labels": [N], "features": [N, 128], "probs": [N, 10]})``."""
        if images.dim() not in (3, 4) or images.shape[-2:] != (28, 28):
            raise ValueError(f"images must be (N, 1, 28, 28) or (N, 28, 28) in [0, 1], got shape {tuple(images.shape)}")
        clf = self._classifier_on(images.device)
        features = clf.features(images.float())
        probs = clf.head(features).softmax(dim=1)
        rewards = probs[:, list(self.digits)].sum(dim=1)
        return rewards, {"labels": probs.argmax(dim=1), "features": features, "probs": probs}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.score_with_info(images)[0]


def target_digit(k: int, classifier: torch.nn.Module | Callable[[Any], Any]) -> ClassProbabilityReward:
    """The reward ``p(k | x)`` for one digit ``k`` in 0..9 (``classifier`` as in :class:`ClassProbabilityReward`)."""
    if not isinstance(k, int) or not 0 <= k <= 9:
        raise ValueError(f"k must be a digit 0..9, got k={k!r}")
    return ClassProbabilityReward((k,), f"target_digit_{k}", classifier)
