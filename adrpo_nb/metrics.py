"""Diversity metrics (classes, features, text n-grams) and multi-objective summaries (Pareto front, hypervolume)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "class_histogram",
    "histogram_entropy",
    "class_entropy",
    "clip_diversity",
    "mean_pairwise_distance",
    "pareto_front",
    "hypervolume_2d",
    "distinct_n",
    "self_bleu",
]


def class_histogram(labels: torch.Tensor, num_classes: int, classes: Sequence[int] | None = None) -> torch.Tensor:
    """Fraction of ``labels`` in each class (or only among ``classes``, renormalised to sum 1)."""
    counts = torch.bincount(labels.reshape(-1).long().cpu(), minlength=num_classes).double()
    if classes is not None:
        counts = counts[list(classes)]
    total = counts.sum()
    return counts / total if total > 0 else counts


def histogram_entropy(hist: torch.Tensor) -> float:
    """Shannon entropy (nats) of a histogram that sums to 1; empty bins count 0. An all-zero histogram gives 0."""
    p = hist[hist > 0]
    return max(0.0, float(-(p * p.log()).sum())) if p.numel() else 0.0


def class_entropy(labels: torch.Tensor, num_classes: int, classes: Sequence[int] | None = None) -> float:
    """Entropy (nats) of the class histogram of ``labels``; at most ``ln(num_classes)`` or ``ln(len(classes))``.

    With ``classes`` only the samples of those classes count, e.g. ``classes=(0, 2, 4, 6, 8)``
    measures how evenly the even digits are covered, whatever the share of odd ones.
    """
    return histogram_entropy(class_histogram(labels, num_classes, classes))


def mean_pairwise_distance(features: torch.Tensor, max_samples: int | None = 1024) -> float:
    """Mean Euclidean distance over all pairs ``i < j`` of rows of ``features`` (the first ``max_samples``)."""
    x = features.reshape(features.shape[0], -1).double()
    if max_samples is not None:
        x = x[:max_samples]
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 samples, got {n}")
    d = torch.cdist(x, x)
    return float(d.sum() / (n * (n - 1)))


def clip_diversity(embeddings: torch.Tensor, group_size: int) -> float:
    """ClipDiversity: mean over prompts of the mean pairwise ``1 − cos`` between that prompt's samples.

    ``embeddings`` is ``(N, ...)`` with contiguous groups of ``group_size`` samples per prompt
    (CLIP image embeddings on the real path; on the small path, flattened pixels). 0 = every
    prompt's images are identical (collapse); larger = more varied.
    """
    x = embeddings.reshape(embeddings.shape[0], -1).double()
    if group_size < 2 or x.shape[0] % group_size:
        raise ValueError(f"need groups of >= 2 samples: got {x.shape[0]} samples, group_size={group_size}")
    x = torch.nn.functional.normalize(x, dim=1).reshape(-1, group_size, x.shape[1])
    cos = x @ x.transpose(1, 2)
    off_diagonal = ~torch.eye(group_size, dtype=torch.bool)
    return float((1 - cos[:, off_diagonal]).mean())


def pareto_front(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """The non-dominated points (both coordinates maximised), sorted by the first coordinate.

    A point is dominated if another is ``>=`` in both coordinates and ``>`` in one.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise ValueError(f"pareto_front needs finite points, got {pts[~np.isfinite(pts).all(1)].tolist()}")
    keep = []
    for i, p in enumerate(pts):
        dominated = np.any(np.all(pts >= p, axis=1) & np.any(pts > p, axis=1))
        if not dominated:
            keep.append(i)
    front = np.unique(pts[keep], axis=0)
    return front[np.argsort(front[:, 0])]


def hypervolume_2d(points: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (both maximised) and bounded below by ``reference``.

    Points not better than the reference in both coordinates add nothing.
    """
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (2,) or not np.isfinite(ref).all():
        raise ValueError(f"reference must be two finite numbers, got {reference!r}")
    front = pareto_front(points)
    front = front[(front[:, 0] > ref[0]) & (front[:, 1] > ref[1])]
    area, prev_x = 0.0, ref[0]
    # sweep by decreasing second coordinate == increasing first coordinate along the front
    for i, (x, _) in enumerate(front):
        y_here = front[i:, 1].max()
        area += (x - prev_x) * (y_here - ref[1])
        prev_x = x
    return float(area) if math.isfinite(area) else 0.0


# ----------------------------------------------------------------------------- text diversity
def _ngrams(seq: Sequence, n: int) -> list[tuple]:
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def distinct_n(sequences: Sequence[Sequence], n: int) -> float:
    """Distinct-n (Li et al., 2016): unique n-grams / all n-grams over ``sequences`` (token lists or strings).

    1.0 when no n-gram repeats anywhere, near 0 when every sequence is the same; 0.0 when no
    sequence is ``n`` tokens long.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n!r}")
    grams = [g for seq in sequences for g in _ngrams(list(seq), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(sequences: Sequence[Sequence], max_n: int = 4) -> float:
    r"""A self-BLEU-style overlap (Zhu et al., 2018) of a group of sequences: high = alike, low = diverse.

    For each sequence, its clipped n-gram precision against the *other* sequences of the group
    (the count of an n-gram is clipped by its largest count in any one other sequence), for
    n = 1..``max_n`` with add-one smoothing for n > 1, combined by a geometric mean; no brevity
    penalty. The result is the mean over the sequences, in [0, 1]: 1 when they are all identical.
    Sequences shorter than n skip that order. Needs at least two sequences.
    """
    seqs = [list(s) for s in sequences]
    if len(seqs) < 2:
        raise ValueError(f"self_bleu needs at least 2 sequences, got {len(seqs)}")
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got max_n={max_n!r}")
    from collections import Counter

    counts = [[Counter(_ngrams(s, n)) for n in range(1, max_n + 1)] for s in seqs]
    scores = []
    for i in range(len(seqs)):
        logs = []
        for n in range(max_n):
            mine = counts[i][n]
            total = sum(mine.values())
            if total == 0:
                continue
            best: Counter = Counter()
            for j in range(len(seqs)):
                if j != i:
                    best |= counts[j][n]  # element-wise max of counts
            matched = sum(min(c, best[g]) for g, c in mine.items())
            smooth = 0 if n == 0 else 1
            logs.append(math.log((matched + smooth) / (total + smooth)) if matched + smooth > 0 else -math.inf)
        scores.append(math.exp(sum(logs) / len(logs)) if logs else 0.0)
    return float(np.mean(scores))
