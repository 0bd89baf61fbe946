"""adrpo_nb.stats: Student-t intervals with the sample std, paired by seed.

Wrong implementations these catch: the population std (n instead of n − 1), the normal 1.96 instead of t,
an unpaired interval for a paired comparison, a pairing that drops a seed present on one side only."""

import math

import pytest

from adrpo_nb.stats import mean_interval, paired_difference, t_quantile

# t_{0.975, df} from any printed table
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 19: 2.093, 29: 2.045}


@pytest.mark.parametrize("df", sorted(T_TABLE))
def test_t_quantile_matches_the_printed_table(df):
    assert t_quantile(0.975, df) == pytest.approx(T_TABLE[df], abs=5e-4)


def test_t_quantile_is_symmetric_and_tends_to_the_normal():
    assert t_quantile(0.025, 4) == pytest.approx(-t_quantile(0.975, 4))
    assert t_quantile(0.975, 1e6) == pytest.approx(1.95996, abs=1e-4)
    assert t_quantile(0.995, 4) == pytest.approx(4.604, abs=5e-4)


def test_mean_interval_uses_the_sample_std_and_t():
    xs = [1.0, 2.0, 4.0]
    iv = mean_interval(xs)
    s = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)  # n - 1
    assert iv.std == pytest.approx(s)
    assert iv.high - iv.mean == pytest.approx(4.303 * s / math.sqrt(3), rel=1e-3)
    assert iv.low == pytest.approx(2 * iv.mean - iv.high) and iv.n == 3


def test_one_seed_has_no_interval_and_bad_values_are_refused():
    iv = mean_interval([0.5])
    assert iv.low == -math.inf and iv.high == math.inf and not iv.excludes_zero()
    with pytest.raises(ValueError, match="at least one"):
        mean_interval([])
    with pytest.raises(ValueError, match="finite, got nan"):
        mean_interval([0.1, float("nan")])


def test_a_paired_difference_removes_what_the_seeds_share():
    # seed effects of ±0.1 dwarf the method's gap of +0.02; paired, the gap is clear, unpaired it is not
    seed_effect = {0: 0.0, 1: 0.1, 2: -0.1, 3: 0.05, 4: -0.05}
    a = {s: 0.7 + e + 0.02 + 0.001 * s for s, e in seed_effect.items()}
    b = {s: 0.7 + e for s, e in seed_effect.items()}
    paired = paired_difference(a, b)
    assert paired.excludes_zero() and paired.low > 0
    unpaired_half = t_quantile(0.975, 8) * math.sqrt(mean_interval(list(a.values())).std ** 2 / 5
                                                     + mean_interval(list(b.values())).std ** 2 / 5)
    assert unpaired_half > paired.mean  # an unpaired interval would straddle 0


def test_paired_difference_refuses_seeds_on_one_side_only():
    with pytest.raises(ValueError, match=r"only in the first \[2\], only in the second \[3\]"):
        paired_difference({0: 1.0, 1: 1.0, 2: 1.0}, {0: 0.0, 1: 0.0, 3: 0.0})
