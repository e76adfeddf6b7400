"""The verdicts of the lecture's table: one enumeration, the verdict an interval gives a claim, and
one verdict over several (per λ, or per measure)."""

from __future__ import annotations

from enum import Enum

import numpy as np


class Verdict(str, Enum):
    """A row's answer; the value is what reports/lecture.json holds."""

    HOLDS = "holds"
    PARTLY = "partly holds"
    DOES_NOT_HOLD = "does not hold"
    NO_DIFFERENCE = "no difference"
    INCONCLUSIVE = "inconclusive"
    NOT_MEASURED = "not measured"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


HOLDS, PARTLY, DOES_NOT_HOLD = Verdict.HOLDS, Verdict.PARTLY, Verdict.DOES_NOT_HOLD
NO_DIFFERENCE = Verdict.NO_DIFFERENCE
INCONCLUSIVE, NOT_MEASURED = Verdict.INCONCLUSIVE, Verdict.NOT_MEASURED
VERDICTS = tuple(Verdict)


def yes(holds: bool) -> Verdict:
    """A yes/no finding as a verdict."""
    return HOLDS if holds else DOES_NOT_HOLD


def verdict(lo: float, hi: float, claim: str, margin: float | None = None, same: float | None = None) -> Verdict:
    """The verdict that an interval [lo, hi] of a difference (large minus small) gives a claim.

    With a margin m > 0, the smallest difference that matters, an interval wholly inside [-m, m] is
    "no difference": both one-sided tests reject a difference of m or more (an equivalence test, two
    one-sided tests, each at half the interval's error rate). That comes first: a difference that is real
    but smaller than what matters is no difference for the lecture's claim. Otherwise:
    claim "larger": the large side is claimed higher (holds when lo > 0, does not hold when hi < 0);
    claim "smaller": the large side is claimed lower (holds when hi < 0, does not hold when lo > 0);
    claim "same" with `same` = s for a ratio: holds when the whole interval lies in [1/s, s], does not
    hold when it lies wholly outside it. Otherwise, or with a NaN end, inconclusive. For ratios pass
    log(lo), log(hi) and log(margin) with "larger"/"smaller", or the ratio's ends themselves with "same".
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if claim in ("larger", "smaller") and margin is not None and margin > 0 and -margin <= lo and hi <= margin:
        return NO_DIFFERENCE
    if claim == "larger":
        return HOLDS if lo > 0 else DOES_NOT_HOLD if hi < 0 else INCONCLUSIVE
    if claim == "smaller":
        return HOLDS if hi < 0 else DOES_NOT_HOLD if lo > 0 else INCONCLUSIVE
    if claim == "same":
        if same is None or same <= 1:
            raise ValueError(f"claim 'same' needs a factor same > 1, got {same}")
        if 1 / same <= lo and hi <= same:
            return HOLDS
        return DOES_NOT_HOLD if hi < 1 / same or lo > same else INCONCLUSIVE
    raise ValueError(f"claim must be 'larger', 'smaller' or 'same', got {claim!r}")


def combine(verdicts) -> Verdict:
    """One verdict over several (per λ, or per measure): the common one when all agree; else
    'partly holds' when some hold; else 'does not hold' when some fail (the rest inconclusive);
    else inconclusive. 'not measured' entries are skipped; none left: 'not measured'."""
    vs = [Verdict(v) for v in verdicts if v != NOT_MEASURED]
    if not vs:
        return NOT_MEASURED
    if all(v == vs[0] for v in vs):
        return vs[0]
    if HOLDS in vs or PARTLY in vs:
        return PARTLY
    if DOES_NOT_HOLD in vs:
        return DOES_NOT_HOLD
    return NO_DIFFERENCE if NO_DIFFERENCE in vs else INCONCLUSIVE
