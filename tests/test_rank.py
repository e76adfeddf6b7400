"""Kendall's τ-b, its seed bootstrap, the verdict on τ and the granulated τ (analysis.rank), on cases whose
answers are known by hand."""

import numpy as np
import pandas as pd
import pytest

from batch_momentum.analysis import rank
from batch_momentum.analysis.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NO_DIFFERENCE
from batch_momentum.io import tables as T


def test_tau_of_a_perfect_ranking_is_plus_or_minus_one():
    x = [0.1, 0.5, 2.0, 7.0]
    assert rank.kendall_tau(x, [1, 2, 3, 4]) == pytest.approx(1.0)
    assert rank.kendall_tau(x, [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_tau_b_counts_pairs_by_hand_with_and_without_ties():
    # (x, y) = (1,3), (2,1), (3,2): one concordant pair, two discordant: (1 − 2) / 3
    assert rank.kendall_tau([1, 2, 3], [3, 1, 2]) == pytest.approx(-1 / 3)
    # x = 1, 2, 2, 3 with y rising: 5 concordant pairs, one tied in x: 5 / √((6 − 1)(6 − 0))
    assert rank.kendall_tau([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / np.sqrt(30))
    # ties in both: x = 1, 1, 2, 2 and y = 1, 2, 2, 3: pairs (1,2) tied x, (3,4) tied x, (2,3) tied y,
    # the other three concordant: 3 / √((6 − 2)(6 − 1))
    assert rank.kendall_tau([1, 1, 2, 2], [1, 2, 2, 3]) == pytest.approx(3 / np.sqrt(20))


def test_tau_is_undefined_for_a_constant_or_a_single_run():
    assert np.isnan(rank.kendall_tau([1, 1, 1], [1, 2, 3]))
    assert np.isnan(rank.kendall_tau([1], [2]))
    with pytest.raises(ValueError, match="x has 2 values, y has 3"):
        rank.kendall_tau([1, 2], [1, 2, 3])


def test_a_seed_drawn_twice_counts_its_runs_twice():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=6), rng.normal(size=6)
    counts = np.array([2, 0, 1, 1, 3, 0])  # run i appears counts[i] times
    explicit = rank.kendall_tau(np.repeat(x, counts), np.repeat(y, counts))
    weighted = rank._weighted_tau(rank._signs(x), rank._signs(y), counts)[0]
    assert weighted == pytest.approx(explicit)


def test_bootstrap_of_one_perfect_ranking_in_every_seed_is_minus_one_exactly():
    # every run, whatever its seed, tests worse the sharper it is: every resample is a perfect falling ranking
    sharp = np.arange(12, dtype=float)
    r = rank.seed_bootstrap(sharp, 1 - sharp / 100, np.repeat([1, 2, 3], 4), resamples=500)
    assert (r["tau"], r["lo"], r["hi"]) == (pytest.approx(-1), pytest.approx(-1), pytest.approx(-1))
    assert (r["n_runs"], r["n_seeds"]) == (12, 3)


def test_bootstrap_distribution_of_two_seeds_is_the_enumerated_one():
    # seed A alone: τ = +1; seed B alone: τ = −1; both: 2 concordant, 2 discordant pairs, τ = 0. Drawing two
    # seeds with replacement gives AA, BB with chance 1/4 each, AB with 1/2: τ ∈ {−1: 1/4, 0: 1/2, +1: 1/4}
    x, y, seeds = [1, 2, 3, 4], [1, 2, 2, 1], ["A", "A", "B", "B"]
    wide = rank.seed_bootstrap(x, y, seeds, resamples=4000)
    assert (wide["tau"], wide["lo"], wide["hi"]) == (pytest.approx(0), pytest.approx(-1), pytest.approx(1))
    middle = rank.seed_bootstrap(x, y, seeds, resamples=4000, level=0.4)  # the 30% and 70% points: both 0
    assert (middle["lo"], middle["hi"]) == (pytest.approx(0), pytest.approx(0))
    assert rank.seed_bootstrap(x, y, seeds, resamples=100, rng_seed=5) == rank.seed_bootstrap(
        x, y, seeds, resamples=100, rng_seed=5
    )


@pytest.mark.parametrize(
    "lo,hi,expect",
    [
        (-0.6, -0.2, HOLDS),  # wholly below −0.1
        (0.15, 0.4, DOES_NOT_HOLD),  # wholly above +0.1
        (-0.08, 0.05, NO_DIFFERENCE),  # inside ±0.1
        (-0.3, 0.05, INCONCLUSIVE),  # straddles −0.1
        (-0.1, -0.05, NO_DIFFERENCE),  # the margin's edge is inside
        (np.nan, 0.2, INCONCLUSIVE),
    ],
)
def test_verdict_on_tau_against_the_margin(lo, hi, expect):
    assert rank.tau_verdict(lo, hi, 0.1) == expect


def test_granulated_tau_sees_the_trend_inside_each_batch_size_that_the_pooled_tau_reverses():
    # inside each B the sharper run (larger η step here) tests better; across B the large batch is sharper and
    # tests worse: the pooled τ is negative, each within-B τ is +1
    runs = pd.DataFrame(
        {
            T.BATCH_SIZE: [8] * 3 + [512] * 3,
            T.LR: [0.1, 0.2, 0.4, 1.0, 2.0, 4.0],
            T.SEED: [1, 2, 1, 1, 2, 1],
            "sharp": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0],
            T.TEST_ACC: [0.80, 0.81, 0.82, 0.60, 0.61, 0.62],
        }
    )
    by_b = rank.granulated(runs, "sharp", T.TEST_ACC, T.BATCH_SIZE)
    assert [(g["value"], g["tau"], g["n_runs"], g["n_seeds"]) for g in by_b] == [(8, 1.0, 3, 2), (512, 1.0, 3, 2)]
    assert rank.mean_tau(by_b) == pytest.approx(1.0)
    assert rank.kendall_tau(runs["sharp"], runs[T.TEST_ACC]) < 0
    by_lr = rank.granulated(runs, "sharp", T.TEST_ACC, T.LR)  # one run per η: τ undefined everywhere
    assert len(by_lr) == 6 and np.isnan(rank.mean_tau(by_lr))
