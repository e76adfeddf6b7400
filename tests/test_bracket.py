"""The bracket of a side's best η (training.bracket): planted outcomes with known answers, no training."""

import math

from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.training import bracket

SEEDS = (1, 2, 3, 4)
F = 2.0  # the ladder of these tests: 0.25, 0.5, 1, 2, 4, 8, ...


def _rows(lr, val, reached=SEEDS, status=Status.OK):
    """One candidate row per seed at `lr`: the seeds in `reached` at the target with validation accuracy `val`."""
    return [
        {
            T.BATCH_SIZE: 512,
            T.MOMENTUM: 0.0,
            T.LR: lr,
            T.SEED: s,
            T.STATUS: status if s in reached else Status.STALLED,
            T.REACHED_TARGET: s in reached,
            T.VAL_ACC: val,
        }
        for s in SEEDS
    ]


def planted(peak: float, fail_above: float = math.inf):
    """A `train` callable for bracket.sweep: validation accuracy rises to a peak at `peak` and falls beyond it
    (0.7 − 0.01·|log2(η/peak)|); every step above `fail_above` diverges in every seed. Records each call."""
    calls = []

    def train(lrs, sweep_round):
        calls.append((list(lrs), sweep_round))
        out = []
        for lr in lrs:
            if lr > fail_above:
                out += [dict(r, **{T.STATUS: Status.DIVERGED}) for r in _rows(lr, math.nan, reached=())]
            else:
                out += _rows(lr, 0.7 - 0.01 * abs(math.log2(lr / peak)))
        return [dict(r, **{T.SWEEP_ROUND: sweep_round}) for r in out]

    return train, calls


def test_a_side_rising_to_the_end_of_its_start_extends_until_the_planted_peak_and_is_then_interior():
    train, calls = planted(peak=4.0)
    result = bracket.sweep([0.5, 1.0, 2.0], F, 3, train)
    assert calls == [([0.5, 1.0, 2.0], 0), ([4.0], 1), ([8.0], 2)]  # 2 is the best of the start, then 4
    b = result["bracket"]
    assert b[T.BEST_LR] == 4.0 and b[T.BRACKET] == T.INTERIOR
    assert (b[T.LOWER_LR], b[T.LOWER_BOUND], b[T.UPPER_LR], b[T.UPPER_BOUND]) == (2.0, "trained", 8.0, "trained")
    assert b[T.STEPS_TRAINED] == [0.5, 1.0, 2.0, 4.0, 8.0] and b[T.STEPS_ADDED] == [4.0, 8.0]
    assert sorted({r[T.SWEEP_ROUND] for r in result["rows"] if r[T.LR] == 8.0}) == [2]
    assert bracket.status_text(b) == "interior"


def test_a_side_whose_next_step_diverges_stops_bounded_by_failure():
    train, calls = planted(peak=100.0, fail_above=2.0)  # still rising at 2; 4 diverges in every seed
    result = bracket.sweep([0.5, 1.0, 2.0], F, 3, train)
    b = result["bracket"]
    assert calls == [([0.5, 1.0, 2.0], 0), ([4.0], 1)]
    assert b[T.BEST_LR] == 2.0 and b[T.BRACKET] == T.BOUNDED_BY_FAILURE
    assert (b[T.LOWER_BOUND], b[T.UPPER_LR], b[T.UPPER_BOUND]) == ("trained", 4.0, "failed")
    assert bracket.status_text(b) == "bounded by failure at η = 4"


def test_the_cap_leaves_a_side_not_bracketed():
    train, calls = planted(peak=1000.0)
    b = bracket.sweep([0.5, 1.0, 2.0], F, 2, train)["bracket"]
    assert [c[0] for c in calls] == [[0.5, 1.0, 2.0], [4.0], [8.0]]
    assert b[T.BRACKET] == T.NOT_BRACKETED and b[T.BEST_LR] == 8.0 and b[T.UPPER_BOUND] == "open"
    assert bracket.status_text(b) == "not bracketed: best η 8 is the largest step tried, cap reached"
    never, calls = planted(peak=1000.0)
    assert bracket.sweep([0.5, 1.0], F, 0, never)["bracket"][T.STEPS_ADDED] == [] and len(calls) == 1  # cap 0


def test_half_the_seeds_train_a_step_fewer_fail_it_and_a_single_step_start_extends_both_ways_larger_first():
    rows = _rows(1.0, 0.6, reached=(1, 2)) + _rows(2.0, 0.7, reached=(1,))  # 2 of 4 train, 1 of 4 fails
    b = bracket.bracket(rows)
    assert b[T.BEST_LR] == 1.0 and (b[T.UPPER_LR], b[T.UPPER_BOUND], b[T.LOWER_BOUND]) == (2.0, "failed", "open")
    only = bracket.bracket(_rows(1.0, 0.6))
    assert bracket.next_steps(only, F, 2) == [0.5, 2.0] and bracket.next_steps(only, F, 1) == [2.0]
    nothing = bracket.bracket(_rows(1.0, 0.6, reached=(1,)))
    assert nothing[T.BRACKET] == T.NO_ETA_TRAINS and math.isnan(nothing[T.BEST_LR])
    assert bracket.next_steps(nothing, F, 3) == []  # nothing to bracket: no extension


def test_ties_keep_the_smaller_eta_and_extensions_are_rounded_like_the_start():
    b = bracket.bracket(_rows(0.1, 0.7) + _rows(0.2, 0.7) + _rows(0.4, 0.6))
    assert b[T.BEST_LR] == 0.1 and b[T.LOWER_BOUND] == "open"
    lower = bracket.next_steps(dict(b, **{T.STEPS_TRAINED: [0.3]}), 1.414214, 1)  # only the lower end is open
    assert lower == [0.212131968712] and lower[0] == float(f"{0.3 / 1.414214:.12g}")
