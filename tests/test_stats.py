"""Tests of batch_momentum.stats on cell tables whose answer is known: y an exact function of g, or not of g."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as t_dist

from batch_momentum.analysis import stats, verdicts
from batch_momentum.analysis.stats import collapse_stats
from batch_momentum.config import noise_temperature


def test_noise_temperature():
    assert noise_temperature(0.1, 1000, 10, 0.9) == pytest.approx(100.0)
    np.testing.assert_allclose(noise_temperature(0.1, 1000, np.array([10, 100]), 0.0), [10.0, 1.0])


def _grid():
    rows = [
        {"batch_size": b, "momentum": lam, "temperature": float(noise_temperature(0.05, 4000, b, lam))}
        for b in (8, 16, 32, 64, 128, 256, 512, 1024)
        for lam in (0.0, 0.5, 0.9)
    ]
    return pd.DataFrame(rows)


def _exact(df):
    return 0.5 + 0.3 * np.tanh((np.log(df["temperature"]) - 2.5) / 2)


def test_collapse_stats_exact_function_of_g():
    df = _grid()
    df["test_acc"] = _exact(df)
    df.loc[0, "test_acc"] = np.nan  # dropped
    s = collapse_stats(df)
    assert s["n"] == len(df) - 1 and s["n_dropped"] == 1
    assert s["collapse_score"] > 0.99 and abs(s["group_gain"]) < 0.01
    assert s["spearman"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in s["spearman_by_group"].values())
    assert s["interpretation"].startswith("collapses")


def test_collapse_stats_separate_lambda_effect():
    df = _grid()
    df["test_acc"] = 0.9 - 0.05 * np.log2(df["batch_size"])  # lambda moves g but not y
    s = collapse_stats(df)
    exact = _grid()
    exact["test_acc"] = _exact(exact)
    assert s["collapse_score"] < collapse_stats(exact)["collapse_score"] - 0.1
    assert s["group_gain"] > 0.1
    assert s["interpretation"].startswith("does not collapse")


def test_collapse_stats_too_few_cells():
    s = collapse_stats(_grid().assign(test_acc=1.0).head(2))
    assert s["interpretation"] == "too few cells" and np.isnan(s["collapse_score"])


def test_collapse_stats_constant_y():
    s = collapse_stats(_grid().assign(test_acc=0.5))
    assert s["interpretation"].startswith("y is constant") and np.isnan(s["collapse_score"])
    assert np.isnan(s["spearman"])


# ----------------------------------------------------------------------------- intervals and verdicts
T975_2, T975_4 = 4.302652729911275, 2.7764451051977987  # Student t quantiles (tables)


def test_mean_interval_closed_form():
    r = stats.mean_interval([1.0, 2.0, 3.0])
    half = T975_2 * 1.0 / np.sqrt(3)  # s = 1
    assert r["n"] == 3 and r["mean"] == 2.0 and r["std"] == pytest.approx(1.0)
    assert (r["lo"], r["hi"]) == pytest.approx((2 - half, 2 + half), rel=1e-9)
    one = stats.mean_interval([5.0, float("nan"), None])  # NaN and None are left out
    assert one["n"] == 1 and one["mean"] == 5.0 and np.isnan(one["lo"]) and np.isnan(one["hi"])


def test_welch_difference_closed_form():
    # equal variances 1 and sizes 3: se = sqrt(2/3), Welch dof = (2/3)^2 / (2 * (1/3)^2 / 2) = 4
    r = stats.difference_interval([1, 2, 3], [4, 5, 6])
    half = T975_4 * np.sqrt(2 / 3)
    assert r["diff"] == 3.0 and (r["lo"], r["hi"]) == pytest.approx((3 - half, 3 + half), rel=1e-9)
    exact = stats.difference_interval([1, 1], [2, 2])  # no spread: the difference is exact
    assert (exact["lo"], exact["hi"]) == (1.0, 1.0)
    short = stats.difference_interval([1], [2, 3])
    assert short["diff"] == 1.5 and np.isnan(short["lo"])


def test_ratio_interval_is_the_log_difference_carried_back():
    e = np.e
    # logs [0, 2] and [3, 5]: difference 3, variances 2 each over n = 2, se = sqrt(2), dof 2
    r = stats.ratio_interval([1.0, e**2], [e**3, e**5])
    half = T975_2 * np.sqrt(2)
    assert r["ratio"] == pytest.approx(e**3)
    assert (r["lo"], r["hi"]) == pytest.approx((np.exp(3 - half), np.exp(3 + half)), rel=1e-9)


@pytest.mark.parametrize(
    "lo, hi, claim, expected",
    [
        (0.1, 0.5, "larger", "holds"),
        (-0.5, -0.1, "larger", "does not hold"),
        (-0.1, 0.5, "larger", "inconclusive"),
        (-0.5, -0.1, "smaller", "holds"),
        (0.1, 0.5, "smaller", "does not hold"),
        (-0.1, 0.1, "smaller", "inconclusive"),
        (float("nan"), 1.0, "larger", "inconclusive"),
    ],
)
def test_verdict_from_interval(lo, hi, claim, expected):
    assert verdicts.verdict(lo, hi, claim) == expected


def test_verdict_same_within_a_factor():
    assert verdicts.verdict(0.8, 1.5, "same", same=2.0) == "holds"
    assert verdicts.verdict(2.5, 9.0, "same", same=2.0) == "does not hold"
    assert verdicts.verdict(1.5, 3.0, "same", same=2.0) == "inconclusive"
    with pytest.raises(ValueError, match="same > 1"):
        verdicts.verdict(1, 1, "same")


def test_verdicts_from_constructed_seeds():
    """Three seeds per side: a clear gap holds, the reverse gap does not, overlapping seeds are inconclusive."""
    small, large = [0.80, 0.81, 0.79], [0.70, 0.71, 0.69]
    d = stats.difference_interval(small, large)
    assert verdicts.verdict(d["lo"], d["hi"], "smaller") == "holds"
    d = stats.difference_interval(large, small)
    assert verdicts.verdict(d["lo"], d["hi"], "smaller") == "does not hold"
    d = stats.difference_interval([0.7, 0.8, 0.9], [0.72, 0.85, 0.78])
    assert verdicts.verdict(d["lo"], d["hi"], "smaller") == "inconclusive"


def test_combine():
    assert verdicts.combine(["holds", "holds"]) == "holds"
    assert verdicts.combine(["holds", "inconclusive"]) == "partly holds"
    assert verdicts.combine(["does not hold", "inconclusive"]) == "does not hold"
    assert verdicts.combine(["inconclusive", "inconclusive", "not measured"]) == "inconclusive"
    assert verdicts.combine([]) == "not measured"


def test_paired_interval_is_the_t_interval_of_the_differences():
    a = [0.70, 0.60, 0.80, 0.65]
    b = [0.72, 0.61, 0.83, 0.66]  # b − a = 0.02, 0.01, 0.03, 0.01: mean 0.0175, sd 0.00957
    p = stats.paired_interval(a, b)
    d = np.array(b) - np.array(a)
    half = t_dist.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert p["diff"] == pytest.approx(0.0175) and p["lo"] == pytest.approx(0.0175 - half)
    assert p["correlation"] == pytest.approx(np.corrcoef(a, b)[0, 1]) and p["correlation"] > 0.99
    # the seeds' common part cancels: Welch's unpaired interval is ten times wider
    w = stats.difference_interval(a, b)
    assert (w["hi"] - w["lo"]) > 10 * (p["hi"] - p["lo"])
    # a pair with a missing side drops out
    assert stats.paired_interval([*a, np.nan], [*b, 0.9])["n"] == 4


def test_detectable_difference_tends_to_the_normal_formula():
    # with many degrees of freedom: (z_0.975 + z_0.8)·se = (1.95996 + 0.84162)·se
    assert stats.detectable(1.0, 1e6) == pytest.approx(1.95996 + 0.84162, rel=1e-4)
    assert stats.detectable(0.5, 7) == pytest.approx(0.5 * (t_dist.ppf(0.975, 7) + t_dist.ppf(0.8, 7)))
    assert math.isnan(stats.detectable(float("nan"), 3))


def test_seeds_needed_is_the_first_n_that_decides():
    # true difference 0, sd 1, margin 1: equivalence needs (t_{.975,n-1} + t_{.8,n-1})/√n < 1; in the normal
    # limit n > (1.96 + 0.84)² = 7.85, with t quantiles a little more
    n = stats.seeds_needed(0.0, 1.0, 1.0, paired=True)
    q = lambda k: t_dist.ppf(0.975, k - 1) + t_dist.ppf(0.8, k - 1)  # noqa: E731
    assert q(n) / math.sqrt(n) < 1 <= q(n - 1) / math.sqrt(n - 1) and 8 <= n <= 12
    # a difference of 2 sd is detected with fewer seeds; unpaired sides have twice the degrees of freedom
    assert stats.seeds_needed(2.0, 1.0, 1.0, paired=True) < n
    assert stats.seeds_needed(0.0, 1.0, 1.0, paired=False) <= n
    assert stats.seeds_needed(0.5, 1.0, 1.0, paired=True) > n  # the hardest case: halfway to the margin
    assert stats.seeds_needed(0.5, 100.0, 1.0, paired=True, most=50) is None
    assert stats.seeds_needed(0.0, 0.0, 1.0, paired=True) == 2
