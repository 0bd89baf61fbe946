"""Intervals that carry the words: mean and paired differences over seeds, with Student-t 95 % intervals.

Every "±" and every "ADRPO beats X" of the book comes from these functions. They use the **sample** standard
deviation (n − 1) and the t quantile with n − 1 degrees of freedom, computed here (no scipy):

.. math::  \\bar x \\pm t_{0.975,\\,n-1}\\, s/\\sqrt{n},
           \\qquad s^2 = \\tfrac{1}{n-1}\\textstyle\\sum_i (x_i - \\bar x)^2.

A comparison of two methods is **paired**: the same seeds run both (same start, same data order, same evaluation
noise), and the interval is that of the per-seed differences, which removes what the seeds share.

>>> from adrpo_nb.stats import mean_interval, paired_difference
>>> print(mean_interval([0.70, 0.72, 0.74, 0.71, 0.73]))
0.720 [0.700, 0.740] (n = 5)
>>> gap = paired_difference({0: 0.74, 1: 0.73, 2: 0.75}, {0: 0.70, 1: 0.71, 2: 0.70})
>>> print(gap, gap.excludes_zero())  # three seeds ahead every time, yet t(0.975, 2) = 4.3 leaves 0 inside
0.037 [-0.001, 0.075] (n = 3) False
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

__all__ = ["MIN_SEEDS", "VERDICTS", "Interval", "mean_interval", "paired_difference", "t_quantile", "verdict"]

#: the claims ledger's verdicts (:mod:`adrpo_nb.experiments.claims`), in the order its pages list them
VERDICTS = ("reproduced", "partly", "not reproduced", "not tested here")
#: a claim is ``reproduced`` only on at least this many seeds
MIN_SEEDS = 5


def verdict(direction: int, estimate: float, low: float, high: float, n: int) -> str:
    """The ledger's verdict on a claimed direction (``+1``: > 0, ``-1``: < 0) from an estimate, its 95 % interval
    ``[low, high]`` and the number of seeds: ``not reproduced`` when the estimate is 0 or on the other side,
    ``reproduced`` when the interval excludes 0 on the claimed side on at least :data:`MIN_SEEDS` seeds, else
    ``partly``."""
    if direction * estimate <= 0:
        return "not reproduced"
    excludes = low > 0 if direction > 0 else high < 0
    return "reproduced" if excludes and n >= MIN_SEEDS else "partly"


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):  # fmt: skip
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``t_quantile(0.975, 4)`` = 2.776)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got p={p!r}")
    if not df > 0:
        raise ValueError(f"df must be > 0, got df={df!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):  # bisection: the cdf is monotone
        mid = 0.5 * (low + high)
        low, high = (mid, high) if _t_cdf(mid, df) < p else (low, mid)
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` seeds with its two-sided ``level`` Student-t interval (sample std ``std``)."""

    mean: float
    low: float
    high: float
    n: int
    std: float
    level: float = 0.95
    method: str = "t"

    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}] (n = {self.n})"


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of ``values`` (one per seed) with its Student-t interval; ``n = 1`` gives an infinite interval."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("mean_interval needs at least one value, got none")
    bad = [v for v in xs if not math.isfinite(v)]
    if bad:
        raise ValueError(f"values must be finite, got {bad[0]!r} among {xs}")
    n, mean = len(xs), sum(xs) / len(xs)
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1, math.nan, level)
    std = math.sqrt(sum((v - mean) ** 2 for v in xs) / (n - 1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, std, level)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95) -> Interval:
    """Interval of ``a[seed] − b[seed]`` over the seeds both ran; seeds in only one of them are an error (a paired
    comparison with a missing partner would silently become another comparison)."""
    if set(a) != set(b):
        raise ValueError(f"paired seeds differ: only in the first {sorted(set(a) - set(b))}, "
                         f"only in the second {sorted(set(b) - set(a))}")  # fmt: skip
    return mean_interval([a[s] - b[s] for s in sorted(a)], level)
