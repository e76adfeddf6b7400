"""The verdict rule: four answers from an interval and a stated margin, and one answer over several."""

import math

import pytest

from batch_momentum.analysis import verdicts
from batch_momentum.analysis.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NO_DIFFERENCE, PARTLY

M = 0.01  # a margin of one point of accuracy


@pytest.mark.parametrize(
    ("lo", "hi", "claim", "expected"),
    [
        (0.02, 0.05, "larger", HOLDS),  # wholly above zero, beyond the margin
        (-0.05, -0.02, "larger", DOES_NOT_HOLD),  # wholly below zero
        (-0.004, 0.006, "larger", NO_DIFFERENCE),  # wholly inside ±1 point
        (-0.03, 0.02, "larger", INCONCLUSIVE),  # crosses zero and the margin: says nothing
        (-0.05, -0.02, "smaller", HOLDS),
        (0.02, 0.05, "smaller", DOES_NOT_HOLD),
        (-0.01, 0.01, "smaller", NO_DIFFERENCE),  # the ends of the margin count as inside
        (0.002, 0.008, "larger", NO_DIFFERENCE),  # real but smaller than what matters
        (0.005, 0.02, "larger", HOLDS),  # excludes zero, reaches past the margin
        (float("nan"), 0.01, "larger", INCONCLUSIVE),
    ],
)
def test_four_answers_from_an_interval_and_a_margin(lo, hi, claim, expected):
    assert verdicts.verdict(lo, hi, claim, margin=M) == expected


def test_without_a_margin_a_tight_interval_around_zero_stays_inconclusive():
    assert verdicts.verdict(-0.001, 0.001, "larger") == INCONCLUSIVE
    assert verdicts.verdict(-0.001, 0.001, "larger", margin=M) == NO_DIFFERENCE


def test_ratio_margins_are_passed_as_logs():
    # a sharpness ratio interval [0.9, 1.2] lies inside [1/1.25, 1.25]: no difference; [0.7, 1.2] does not
    log = math.log
    assert verdicts.verdict(log(0.9), log(1.2), "larger", margin=log(1.25)) == NO_DIFFERENCE
    assert verdicts.verdict(log(0.7), log(1.2), "larger", margin=log(1.25)) == INCONCLUSIVE
    assert verdicts.verdict(log(1.3), log(3.0), "larger", margin=log(1.25)) == HOLDS


def test_combine_with_no_difference():
    assert verdicts.combine([NO_DIFFERENCE, NO_DIFFERENCE]) == NO_DIFFERENCE
    assert verdicts.combine([HOLDS, NO_DIFFERENCE]) == PARTLY
    assert verdicts.combine([DOES_NOT_HOLD, NO_DIFFERENCE]) == DOES_NOT_HOLD
    assert verdicts.combine([NO_DIFFERENCE, INCONCLUSIVE]) == NO_DIFFERENCE
    assert verdicts.combine([INCONCLUSIVE, "not measured"]) == INCONCLUSIVE
