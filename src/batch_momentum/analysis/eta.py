"""The η view of the equal-accuracy protocol: every candidate η of both batch sizes, what it gives, and
how much of the gap between the batch sizes is the batch size and how much the learning rate.

From reports/tables/candidates.csv (one row per (B, λ, η, seed), with test accuracy and top Hessian
eigenvalue): per (λ, B, η) the mean and 95% interval over seeds (eta_frame); per (λ, B) the η most seeds
kept and whether it sits at the edge of the sweep (side_summary); and the gap large − small at each
side's kept η and at its neighbours in the sweep, with the verdict each gives (neighbour_gaps): the
generalization verdict is "robust" when the neighbours give the same verdict, "depends on η" otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batch_momentum import config
from batch_momentum.analysis import stats
from batch_momentum.analysis.verdicts import NOT_MEASURED, verdict
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status

ROBUST, DEPENDS = "robust", "depends on η"
EDGE_TEXT = "best η at the edge of the sweep"


def _trained(c: pd.DataFrame) -> pd.Series:
    """A candidate run counts in the η view when it reached the target (status ok)."""
    return (c[T.STATUS] == Status.OK) & stats.at_target(c)


def eta_frame(candidates: pd.DataFrame) -> pd.DataFrame:
    """One row per (λ, B, η): seeds, seeds at the target, seeds that kept it, and for validation and test
    accuracy and the top Hessian eigenvalue the mean and 95% interval over the seeds at the target (over
    every seed whose run ended finite where none reached it: `short` is then True, drawn hollow), and the
    stability threshold 2(1 + λ)/η."""
    rows = []
    for (lam, b, lr), c in candidates.groupby([T.MOMENTUM, T.BATCH_SIZE, T.LR]):
        hit = _trained(c)
        used = c[hit] if hit.any() else c[c[T.STATUS] != Status.DIVERGED]
        row = {
            T.MOMENTUM: float(lam),
            T.BATCH_SIZE: int(b),
            T.LR: float(lr),
            "step": float(lr) / (1 - float(lam)),
            "seeds": int(len(c)),
            "at_target": int(hit.sum()),
            "kept": int(c[T.CHOSEN].sum()),
            "short": bool(not hit.all()),
            T.STABILITY_THRESHOLD: config.stability_threshold(float(lr), float(lam)),
        }
        for col in (T.VAL_ACC, T.TEST_ACC, T.HESSIAN_TOP):
            m = stats.mean_interval(used[col]) if col in used else stats.mean_interval([])
            row.update({col: m["mean"], f"{col}_lo": m["lo"], f"{col}_hi": m["hi"]})
        rows.append(row)
    cols = [T.MOMENTUM, T.BATCH_SIZE, T.LR, "step", "seeds", "at_target", "kept", "short", T.STABILITY_THRESHOLD]
    return pd.DataFrame(
        rows, columns=cols + [f"{c}{s}" for c in (T.VAL_ACC, T.TEST_ACC, T.HESSIAN_TOP) for s in ("", "_lo", "_hi")]
    )


def side_summary(view: pd.DataFrame) -> dict:
    """One side (the eta_frame rows of one λ and B): the η most of its seeds kept (ties: the better mean
    validation accuracy), the η that train (at least half the seeds at the target), and whether the kept
    η is the smallest or the largest of those: then the sweep may not hold the best η ("edge")."""
    view = view.sort_values(T.LR)
    lrs = [float(v) for v in view[T.LR]]
    if not len(view) or view["kept"].max() == 0:
        return dict(lrs=lrs, kept=None, trains=[], edge="", kept_by=0, seeds=0)
    best = view.sort_values(["kept", T.VAL_ACC], ascending=False).iloc[0]
    trains = [float(v) for v in view[view["at_target"] * 2 >= view["seeds"]][T.LR]]
    kept = float(best[T.LR])
    edge = ""
    if kept in trains:
        edge = (
            "only" if len(trains) == 1 else "smallest" if kept == trains[0] else "largest" if kept == trains[-1] else ""
        )
    return dict(lrs=lrs, kept=kept, trains=trains, edge=edge, kept_by=int(best["kept"]), seeds=int(best["seeds"]))


def _neighbours(lrs: list[float], lr: float) -> list[float]:
    i = lrs.index(lr)
    return [lrs[j] for j in (i - 1, i + 1) if 0 <= j < len(lrs)]


def gap_at(
    candidates: pd.DataFrame, lam: float, sizes: tuple[int, int], lrs: tuple[float, float], claim: str, margin: float
) -> dict:
    """The paired difference large − small of test accuracy at one η per side (lrs = (η_small, η_large)),
    over the seeds whose runs both reached the target, with its 95% interval and verdict."""
    sides = []
    for b, lr in zip(sizes, lrs):
        c = candidates[
            (candidates[T.MOMENTUM] == lam) & (candidates[T.BATCH_SIZE] == b) & np.isclose(candidates[T.LR], lr)
        ]
        c = c[_trained(c)]
        sides.append(pd.Series(c[T.TEST_ACC].to_numpy(dtype=float), index=c[T.SEED].to_numpy()))
    seeds = sorted(set(sides[0].index) & set(sides[1].index))
    pair = stats.paired_interval(sides[0][seeds].to_numpy(), sides[1][seeds].to_numpy())
    v = verdict(pair["lo"], pair["hi"], claim, margin=margin) if pair["n"] >= 2 else NOT_MEASURED
    return dict(
        lr_small=lrs[0], lr_large=lrs[1], n=pair["n"], diff=pair["diff"], lo=pair["lo"], hi=pair["hi"], verdict=str(v)
    )


def neighbour_gaps(candidates: pd.DataFrame, lam: float, sizes: tuple[int, int], claim: str, margin: float) -> dict:
    """At one λ: each side's summary (side_summary), the gap at the kept pair of η and with one side moved to
    each neighbour of its kept η in the sweep, and ROBUST when every measured neighbour gives the verdict of
    the kept pair, DEPENDS otherwise ("" when the kept pair has no verdict)."""
    view = eta_frame(candidates[candidates[T.MOMENTUM] == lam])
    summaries = [side_summary(view[view[T.BATCH_SIZE] == b]) for b in sizes]
    out = dict(momentum=float(lam), small=summaries[0], large=summaries[1], kept=None, neighbours=[], robust="")
    ks, kl = summaries[0]["kept"], summaries[1]["kept"]
    if ks is None or kl is None:
        return out
    out["kept"] = gap_at(candidates, lam, sizes, (ks, kl), claim, margin)
    pairs = [(n, kl) for n in _neighbours(summaries[0]["lrs"], ks)] + [
        (ks, n) for n in _neighbours(summaries[1]["lrs"], kl)
    ]
    out["neighbours"] = [gap_at(candidates, lam, sizes, p, claim, margin) for p in pairs]
    measured = [g["verdict"] for g in out["neighbours"] if g["verdict"] != str(NOT_MEASURED)]
    if out["kept"]["verdict"] != str(NOT_MEASURED):
        out["robust"] = ROBUST if all(v == out["kept"]["verdict"] for v in measured) else DEPENDS
    return out


def _gap_text(g: dict, fmt) -> str:
    if g["n"] < 2:
        return f"(η {g['lr_small']:g} vs {g['lr_large']:g}) not measured ({g['n']} seed(s) at the target on both)"
    return (
        f"(η {g['lr_small']:g} vs {g['lr_large']:g}) {fmt(g['diff'])} [{fmt(g['lo'])}, {fmt(g['hi'])}] "
        f"(n = {g['n']}) {g['verdict']}"
    )


def describe(view: dict, sizes: tuple[int, int], fmt) -> str:
    """One λ of neighbour_gaps in words: each side's kept η (and the edge), the gap at the kept pair and at
    the neighbours, and robust or depends on η."""
    parts = []
    for side, b in zip(("small", "large"), sizes):
        s = view[side]
        if s["kept"] is None:
            parts.append(f"B={b}: no η kept")
            continue
        where = f", {EDGE_TEXT} (the {s['edge']} η that trains of {s['lrs']})" if s["edge"] else ""
        parts.append(f"B={b} kept η = {s['kept']:g} by {s['kept_by']} of {s['seeds']} seeds{where}")
    text = "; ".join(parts)
    if view["kept"] is not None:
        text += ". Gap large − small at the kept η " + _gap_text(view["kept"], fmt)
        if view["neighbours"]:
            text += "; at the neighbours " + "; ".join(_gap_text(g, fmt) for g in view["neighbours"])
        text += f": {view['robust']}" if view["robust"] else ""
    return text
