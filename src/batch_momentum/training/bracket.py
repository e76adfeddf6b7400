"""Is a side's best η bracketed by its own runs, and which steps to add where it is not (no torch here).

A side is one (λ, B) of the equal-accuracy protocol. Its steps lie on a ladder (neighbours a factor
`equal_acc.extend_factor` apart); it trains the start, then extends the ladder outward while its best η
sits at an end of what was tried, at most `equal_acc.extend_cap` steps in all. The rules, fixed before any
run of this protocol:

- a step TRAINS when at least half of its seeds reach the target with status ok (at_target·2 >= seeds);
- the best η is, among the steps that train, the highest mean validation accuracy over its seeds at the
  target (ties: the smaller η);
- each direction of the best is closed by its neighbour on the ladder: trained (it trains, so its mean
  validation accuracy is lower by construction), failed (it does not train: stalls, diverges, out of
  budget) or open (not tried yet).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from batch_momentum.io import tables as T
from batch_momentum.io.status import Status


def steps(rows: list[dict]) -> list[dict]:
    """One summary per η of a side's candidate rows: seeds, seeds at the target (status ok), the mean
    validation accuracy over those, and whether it trains; sorted by η."""
    by_lr: dict[float, list[dict]] = {}
    for r in rows:
        by_lr.setdefault(float(r[T.LR]), []).append(r)
    out = []
    for lr, rs in sorted(by_lr.items()):
        hit = [r for r in rs if r[T.REACHED_TARGET] in (True, 1) and r[T.STATUS] == Status.OK]  # NaN: not reached
        val = sum(float(r[T.VAL_ACC]) for r in hit) / len(hit) if hit else math.nan
        out.append(dict(lr=lr, seeds=len(rs), at_target=len(hit), val_acc=val, trains=2 * len(hit) >= len(rs)))
    return out


def bracket(rows: list[dict]) -> dict:
    """The bracket of a side's best η from its candidate rows (T.CELL_CANDIDATES: λ, B, η, seed, status,
    reached_target, val_acc): the T.BRACKET_ROW fields but the cell's steps_added (the caller knows them).
    The steps tried are contiguous on the ladder (the start, extended outward), so a neighbour on the ladder
    is the next step tried, or none at an end."""
    table = steps(rows)
    lrs = [s["lr"] for s in table]
    first = rows[0] if rows else {}
    out = {
        T.BATCH_SIZE: first.get(T.BATCH_SIZE),
        T.MOMENTUM: first.get(T.MOMENTUM),
        T.BEST_LR: math.nan,
        T.BRACKET: T.NO_ETA_TRAINS,
        T.LOWER_LR: math.nan,
        T.LOWER_BOUND: T.BOUND_OPEN,
        T.UPPER_LR: math.nan,
        T.UPPER_BOUND: T.BOUND_OPEN,
        T.STEPS_TRAINED: lrs,
    }
    trains = [s for s in table if s["trains"]]
    if not trains:
        return out
    best = max(trains, key=lambda s: (s["val_acc"], -s["lr"]))
    i = lrs.index(best["lr"])
    out[T.BEST_LR] = best["lr"]
    for key_lr, key_bound, j in ((T.LOWER_LR, T.LOWER_BOUND, i - 1), (T.UPPER_LR, T.UPPER_BOUND, i + 1)):
        if 0 <= j < len(table):
            out[key_lr] = table[j]["lr"]
            out[key_bound] = T.BOUND_TRAINED if table[j]["trains"] else T.BOUND_FAILED
    bounds = (out[T.LOWER_BOUND], out[T.UPPER_BOUND])
    out[T.BRACKET] = (
        T.NOT_BRACKETED
        if T.BOUND_OPEN in bounds
        else T.INTERIOR
        if bounds == (T.BOUND_TRAINED, T.BOUND_TRAINED)
        else T.BOUNDED_BY_FAILURE
    )
    return out


def next_steps(b: dict, factor: float, room: int) -> list[float]:
    """The ladder steps to add after bracket `b`: one beyond the tried range in each open direction of the
    best (the larger η first where only one fits in `room`); none when no η trains."""
    if b[T.BRACKET] == T.NO_ETA_TRAINS or room <= 0:
        return []
    lrs = b[T.STEPS_TRAINED]
    out = []
    if b[T.UPPER_BOUND] == T.BOUND_OPEN:
        out.append(_rounded(lrs[-1] * factor))
    if b[T.LOWER_BOUND] == T.BOUND_OPEN:
        out.append(_rounded(lrs[0] / factor))
    return sorted(out[:room])


def _rounded(lr: float) -> float:
    return float(f"{lr:.12g}")  # as config.EqualAcc.lrs rounds the start


def sweep(start: list[float], factor: float, cap: int, train: Callable[[list[float], int], list[dict]]) -> dict:
    """Train the start, then extend while the best η is open in a direction and fewer than `cap` steps were
    added. `train(lrs, round)` trains every seed at each of `lrs` and returns their candidate rows (round 0:
    the start; k: the k-th extension). Returns the rows of every round and the final bracket, with
    T.STEPS_ADDED and the ladder tried ("ladder": every η, "rounds": the η each round added)."""
    rows = list(train(list(start), 0))
    rounds = [list(start)]
    while True:
        b = bracket(rows)
        added = sum(len(r) for r in rounds[1:])
        new = next_steps(b, factor, cap - added)
        if not new:
            break
        rows += train(new, len(rounds))
        rounds.append(new)
    b[T.STEPS_ADDED] = [lr for r in rounds[1:] for lr in r]
    return dict(rows=rows, bracket=b, rounds=rounds)


def status_text(b: dict, fmt=lambda lr: f"{lr:.3g}") -> str:
    """A side's bracket in words: interior, bounded by failure at η = …, not bracketed (which end, why), or
    no η trains."""
    status = b[T.BRACKET]
    if status == T.BOUNDED_BY_FAILURE:
        failed = [
            b[k]
            for k, bound in ((T.LOWER_LR, T.LOWER_BOUND), (T.UPPER_LR, T.UPPER_BOUND))
            if b[bound] == T.BOUND_FAILED
        ]
        return f"{status} at η = {' and '.join(fmt(lr) for lr in failed)}"
    if status == T.NOT_BRACKETED:
        ends = [e for e, bound in (("smallest", T.LOWER_BOUND), ("largest", T.UPPER_BOUND)) if b[bound] == T.BOUND_OPEN]
        return f"{status}: best η {fmt(b[T.BEST_LR])} is the {' and '.join(ends)} step tried, cap reached"
    return str(status)
