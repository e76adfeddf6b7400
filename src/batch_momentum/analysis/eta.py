"""The η view of the equal-accuracy protocol: every candidate η of both batch sizes, what it gives, and
how much of the gap between the batch sizes is the batch size and how much the learning rate.

From reports/tables/candidates.csv (one row per (B, λ, η, seed), with test accuracy and top Hessian
eigenvalue): per (λ, B, η) the mean and 95% interval over seeds (eta_frame); per (λ, B) the η most seeds
kept and the bracket of its best η (side_summary, from reports/tables/brackets.csv or, where that is not
given, from the candidates themselves: training.bracket); and the gap large − small at each
side's kept η and at its neighbours in the sweep, with the verdict each gives (neighbour_gaps): the
generalization verdict is "robust" when the neighbours give the same verdict, "depends on η" otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batch_momentum import config
from batch_momentum.analysis import stats
from batch_momentum.analysis.verdicts import INCONCLUSIVE, NOT_MEASURED, verdict
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.training import bracket

ROBUST, DEPENDS = "robust", "depends on η"
NOT_BRACKETED_TEXT = "η not bracketed"


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
            "extension": bool(T.SWEEP_ROUND in c and (c[T.SWEEP_ROUND] > 0).any()),  # added by the extension
            T.STABILITY_THRESHOLD: config.stability_threshold(float(lr), float(lam)),
        }
        for col in (T.VAL_ACC, T.TEST_ACC, T.HESSIAN_TOP):
            m = stats.mean_interval(used[col]) if col in used else stats.mean_interval([])
            row.update({col: m["mean"], f"{col}_lo": m["lo"], f"{col}_hi": m["hi"]})
        rows.append(row)
    cols = [T.MOMENTUM, T.BATCH_SIZE, T.LR, "step", "seeds", "at_target", "kept", "short", "extension"]
    cols.append(T.STABILITY_THRESHOLD)
    return pd.DataFrame(
        rows, columns=cols + [f"{c}{s}" for c in (T.VAL_ACC, T.TEST_ACC, T.HESSIAN_TOP) for s in ("", "_lo", "_hi")]
    )


def side_summary(view: pd.DataFrame, row: dict | None = None) -> dict:
    """One side (the eta_frame rows of one λ and B): the η most of its seeds kept (ties: the better mean
    validation accuracy), the η that train (at least half the seeds at the target), and its bracket (a
    T.BRACKET_ROW dict, or None): `bracket` its status, `bracket_text` the status in words."""
    view = view.sort_values(T.LR)
    lrs = [float(v) for v in view[T.LR]]
    status = row[T.BRACKET] if row else ""
    text = bracket.status_text(row) if row else ""
    if not len(view) or view["kept"].max() == 0:
        return dict(lrs=lrs, kept=None, trains=[], bracket=status, bracket_text=text, kept_by=0, seeds=0)
    best = view.sort_values(["kept", T.VAL_ACC], ascending=False).iloc[0]
    trains = [float(v) for v in view[view["at_target"] * 2 >= view["seeds"]][T.LR]]
    return dict(
        lrs=lrs,
        kept=float(best[T.LR]),
        trains=trains,
        bracket=status,
        bracket_text=text,
        kept_by=int(best["kept"]),
        seeds=int(best["seeds"]),
    )


def brackets_of(candidates: pd.DataFrame) -> pd.DataFrame:
    """The T.BRACKETS table the candidates give (training.bracket.bracket per λ and B; the steps added are
    those of a sweep round > 0): what train_equal certified, for callers without brackets.csv."""
    rows = []
    for (lam, b), c in candidates.groupby([T.MOMENTUM, T.BATCH_SIZE]):
        side = bracket.bracket(c.to_dict("records"))
        added = c[c[T.SWEEP_ROUND] > 0][T.LR].unique() if T.SWEEP_ROUND in c else []
        side.update({T.MOMENTUM: float(lam), T.BATCH_SIZE: int(b), T.STEPS_ADDED: sorted(float(v) for v in added)})
        rows.append({**side, T.CELL: f"bs{int(b)}_lam{float(lam):g}"})
    return T.BRACKETS.frame(rows)


def side_bracket(brackets: pd.DataFrame, lam: float, b: int) -> dict | None:
    """The bracket row of one side (λ, B), or None when the table has none."""
    hit = brackets[np.isclose(brackets[T.MOMENTUM].astype(float), lam) & (brackets[T.BATCH_SIZE] == b)]
    return hit.iloc[0].to_dict() if len(hit) else None


def gate(entry: dict, brackets: pd.DataFrame, sizes: tuple[int, int]) -> list[str]:
    """One λ of a row that rests on the tuned η (generalization, sharpness): each side's bracket status
    into the entry (bracket_small, bracket_large; `brackets` in words), and where a side is not bracketed
    the verdict becomes inconclusive with that reason. Returns the sides not bracketed ("B=512")."""
    lam, open_sides, words = float(entry["momentum"]), [], {}
    for side, b in zip(("small", "large"), sizes):
        row = side_bracket(brackets, lam, b)
        entry[f"bracket_{side}"] = row[T.BRACKET] if row else ""
        words[side] = f"B={b}: " + (bracket.status_text(row) if row else "no bracket recorded")
        if row and row[T.BRACKET] == T.NOT_BRACKETED:
            open_sides.append((b, row))
    entry["brackets"] = words
    if open_sides:
        entry["verdict"] = INCONCLUSIVE
        entry.pop("seeds_needed", None)
        entry["reason"] = f"{NOT_BRACKETED_TEXT}: " + "; ".join(
            f"B={b}'s " + bracket.status_text(row).removeprefix(f"{T.NOT_BRACKETED}: ") for b, row in open_sides
        )
    return [f"B={b}" for b, _ in open_sides]


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


def neighbour_gaps(
    candidates: pd.DataFrame, lam: float, sizes: tuple[int, int], claim: str, margin: float, brackets=None
) -> dict:
    """At one λ: each side's summary (side_summary), the gap at the kept pair of η and with one side moved to
    each neighbour of its kept η in the sweep, and ROBUST when every measured neighbour gives the verdict of
    the kept pair, DEPENDS otherwise ("" when the kept pair has no verdict)."""
    view = eta_frame(candidates[candidates[T.MOMENTUM] == lam])
    brackets = brackets_of(candidates) if brackets is None else brackets
    summaries = [side_summary(view[view[T.BATCH_SIZE] == b], side_bracket(brackets, lam, b)) for b in sizes]
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
    """One λ of neighbour_gaps in words: each side's kept η (and its best η's bracket), the gap at the kept pair and at
    the neighbours, and robust or depends on η."""
    parts = []
    for side, b in zip(("small", "large"), sizes):
        s = view[side]
        if s["kept"] is None:
            parts.append(f"B={b}: no η kept")
            continue
        where = f", best η {s['bracket_text']}" if s["bracket_text"] else ""
        parts.append(f"B={b} kept η = {s['kept']:g} by {s['kept_by']} of {s['seeds']} seeds{where}")
    text = "; ".join(parts)
    if view["kept"] is not None:
        text += ". Gap large − small at the kept η " + _gap_text(view["kept"], fmt)
        if view["neighbours"]:
            text += "; at the neighbours " + "; ".join(_gap_text(g, fmt) for g in view["neighbours"])
        text += f": {view['robust']}" if view["robust"] else ""
    return text
