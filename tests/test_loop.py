"""The training loop's stop rules (loop.stop_reason): one constructed curve per rule."""

import math

import pytest

from batch_momentum.io import tables as T
from batch_momentum.training.loop import Budget, stop_reason
from batch_momentum.training.status import DIVERGED_LOSS, STALL_GAIN, Status

BUDGET = Budget(max_epochs=10, target=0.9, patience=3)


def curve(*rows):
    """One curve row per (training loss, training accuracy), epoch 0 (the initial weights) first."""
    return [{T.EPOCH: e, T.TRAIN_LOSS: loss, T.TRAIN_ACC: acc} for e, (loss, acc) in enumerate(rows)]


LEARNING = [
    (2.3, 0.10),
    (1.5, 0.40),
    (1.0, 0.60),
    (0.8, 0.70),
    (0.6, 0.75),
    (0.5, 0.80),
    (0.45, 0.82),
    (0.4, 0.84),
    (0.35, 0.86),
    (0.3, 0.88),
    (0.28, 0.89),
]  # epochs 0..10, short of the target 0.9
FLAT = [(2.30, 0.10), (2.29, 0.11), (2.28, 0.12), (2.29, 0.11), (2.30, 0.12), (2.28, 0.13)]  # at chance


@pytest.mark.parametrize(
    "rows,budget,status,words",
    [
        ([(2.3, 0.1), (math.nan, 0.1)], BUDGET, Status.DIVERGED, "training loss became nan in epoch 1"),
        ([(2.3, 0.1), (math.nan, 0.95)], BUDGET, Status.DIVERGED, "became nan"),  # before the target
        ([(2.3, 0.1), (math.inf, 0.1)], BUDGET, Status.DIVERGED, "became inf in epoch 1"),
        (
            [(2.3, 0.1), (2 * DIVERGED_LOSS, 0.1)],
            BUDGET,
            Status.DIVERGED,
            f"became 2000 in epoch 1 (> {DIVERGED_LOSS:g})",
        ),
        ([(2.3, 0.1), (0.3, 0.95)], BUDGET, Status.OK, "reached training accuracy 0.9500 >= target 0.9 in epoch 1"),
        ([(2.3, 0.1), (0.3, 0.9)], BUDGET, Status.OK, ">= target 0.9"),  # the target itself counts
        (LEARNING, BUDGET, Status.OK, "ran the budget of 10 epochs"),
        (LEARNING, Budget(10, None), Status.OK, "ran the budget of 10 epochs"),  # no target: the budget ends it
        (FLAT, Budget(5, 0.9), Status.DID_NOT_TRAIN, "training accuracy 0.130 after 5 epochs, 0.100 at the start"),
        (FLAT[:5] + [(2.5, 0.30)], Budget(5, 0.9), Status.DID_NOT_TRAIN, "no progress in the second half"),
        (
            [(2.3, 0.1), (1.0, 0.6), (0.9, 0.601), (0.85, 0.602), (0.8, 0.603)],
            Budget(10, 0.9, patience=3),
            Status.STALLED,
            f"gained less than {STALL_GAIN} in the last 3 epochs (best 0.6030 in epoch 4)",
        ),
    ],
)
def test_each_rule_stops_its_curve(rows, budget, status, words):
    c = curve(*rows)
    stop = stop_reason(c, len(c) - 1, budget)
    assert stop is not None and stop[0] is status and words in stop[1], stop


@pytest.mark.parametrize(
    "rows,budget",
    [
        (LEARNING[:5], BUDGET),  # learning, within the budget, short of the target
        ([(2.3, 0.1), (DIVERGED_LOSS, 0.1)], BUDGET),  # at the threshold itself: not above it
        ([(2.3, 0.1), (1.0, 0.6), (0.9, 0.601), (0.85, 0.602), (0.8, 0.603)], Budget(10, 0.9)),  # no patience
        ([(2.3, 0.1), (1.0, 0.6), (0.9, 0.601), (0.85, 0.602), (0.8, 0.62)], BUDGET),  # gained >= STALL_GAIN
        ([(2.3, 0.1), (2.3, 0.1), (2.3, 0.1)], BUDGET),  # too early to call it stalled (epoch 2 < patience 3)
    ],
)
def test_a_curve_that_breaks_no_rule_goes_on(rows, budget):
    c = curve(*rows)
    assert stop_reason(c, len(c) - 1, budget) is None
