"""Sharp vs flat minima: every sharpness measure of the equal-accuracy runs, large over small, the
primary one deciding; and where each side sits against its edge of stability."""

from __future__ import annotations

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis import eta, stats
from batch_momentum.analysis.compare import compare, comparison_row, describe, primary_measure, sharpness_measures
from batch_momentum.analysis.formats import missing as _nan
from batch_momentum.analysis.formats import num
from batch_momentum.io import tables as T

EDGE = 0.8  # a run "sits at its edge of stability" when its top eigenvalue is at least this share of 2(1+λ)/η


def edge_of_stability(equal: pd.DataFrame, sizes: tuple[int, int]) -> list[dict]:
    """Per λ and side, over the runs at the target: η, the threshold 2(1 + λ)/η, the median top Hessian
    eigenvalue and the median of eigenvalue / threshold (T.EDGE_RATIO), and whether the side sits at its
    edge of stability (median ratio >= EDGE): then its sharpness is set by its η (Cohen et al. 2021, "Gradient
    descent on neural networks typically occurs at the edge of stability"), not by its batch size alone."""
    out = []
    if T.HESSIAN_TOP not in equal:
        return out
    for lam in sorted(equal[T.MOMENTUM].unique()):
        row = {"momentum": float(lam)}
        for side, b in zip(("small", "large"), sizes):
            runs = equal[(equal[T.MOMENTUM] == lam) & (equal[T.BATCH_SIZE] == b)]
            runs = runs[stats.counted(runs) & runs[T.HESSIAN_TOP].notna()]
            if not len(runs):
                row[side] = None
                continue
            lr = float(runs[T.LR].median())
            ratio = float((runs[T.HESSIAN_TOP] / config.stability_threshold(runs[T.LR], lam)).median())
            row[side] = dict(
                batch_size=int(b),
                lr=lr,
                threshold=float(config.stability_threshold(lr, lam)),
                top=float(runs[T.HESSIAN_TOP].median()),
                edge_ratio=ratio,
                at_edge=bool(ratio >= EDGE),
            )
        out.append(row)
    return out


def edge_text(edges: list[dict]) -> str:
    """The edge of stability in words, per λ and side."""
    parts = []
    for e in edges:
        sides = [
            f"B={s['batch_size']} at η = {s['lr']:g}: top eigenvalue {s['top']:.3g} vs 2(1+λ)/η = {s['threshold']:.3g} "
            f"({s['edge_ratio']:.0%}{', at the edge' if s['at_edge'] else ''})"
            for s in (e["small"], e["large"])
            if s
        ]
        if sides:
            parts.append(f"λ={e['momentum']:g}: " + ", ".join(sides))
    if not parts:
        return ""
    pinned = [e["momentum"] for e in edges if e["large"] and e["large"]["at_edge"]]
    return (
        "Edge of stability (gradient descent with momentum is stable only where the top eigenvalue is below "
        "2(1+λ)/η; Cohen et al. 2021 find full-batch training sits at that edge): "
        + "; ".join(parts)
        + ". "
        + (
            f"The large batch sits at its edge at λ = {', '.join(f'{m:g}' for m in pinned)}: its sharpness is "
            f"set by its tuned η, so tuning η per batch size can close the sharpness gap by itself."
            if pinned
            else f"No large-batch run reaches {EDGE:.0%} of its threshold: its η does not pin its sharpness."
        )
    )


def _direction(r: dict) -> int:
    """+1 when a ratio's interval lies above 1 (large sharper), −1 below 1, 0 when it holds 1 or is missing."""
    lo, hi = r["ratio"]["lo"], r["ratio"]["hi"]
    if _nan(lo) or _nan(hi):
        return 0
    return 1 if lo > 1 else -1 if hi < 1 else 0


def agreement(primary: str, per_measure: dict[str, dict]) -> dict:
    """At one λ, the other measures against the primary one: each "agrees" (the same verdict) or "disagrees"
    (with its verdict), and `disagree` True when two measures point in opposite directions with intervals
    that both exclude 1."""
    others = {
        label: "agrees" if r["verdict"] == per_measure[primary]["verdict"] else f"disagrees ({r['verdict']})"
        for label, r in per_measure.items()
        if label != primary
    }
    directions = {_direction(r) for r in per_measure.values()}
    return dict(others=others, disagree={1, -1} <= directions)


def sharpness_row(equal: pd.DataFrame, params, brackets: pd.DataFrame | None = None) -> dict:
    """Sharp vs flat minima: every sharpness measure of the equal-accuracy runs, large over small. The
    primary measure, named in params before any run (verdict.sharpness_primary), gives the verdict per λ;
    the others are listed as agreeing or not, and "measures disagree" where two of them point in opposite
    directions with intervals that exclude 1. With `brackets` (T.BRACKETS), a λ where a side's best η is not
    bracketed is inconclusive, with that reason (the runs compared are at the tuned η)."""
    sizes = params.equal_acc.batch_size
    primary = primary_measure(params)
    per_measure = {
        m.label: compare(
            equal,
            m.column,
            "larger",
            sizes,
            params.verdict.margin_ratio,
            ratio=True,
            reached_only=True,
            power=params.verdict.power,
        )
        for m in sharpness_measures(params)
    }  # compare: a missing column is all NaN
    sharp = []
    for k, first in enumerate(per_measure[primary.label]):
        agree = agreement(primary.label, {label: rows[k] for label, rows in per_measure.items()})
        note = (
            f"λ={first['momentum']:g}: the {primary.label} decides ({first['verdict']}); "
            + "; ".join(f"{label} {a}" for label, a in agree["others"].items())
            + ("; measures disagree" if agree["disagree"] else "")
        )
        sharp.append(
            dict(
                first,
                measures={label: rows[k]["verdict"] for label, rows in per_measure.items()},
                agreement=agree["others"],
                measures_disagree=agree["disagree"],
                note=note,
            )
        )
    open_at = []
    for entry in sharp if brackets is not None else []:
        sides = eta.gate(entry, brackets, tuple(sizes))
        open_at += [f"{b} at λ = {entry['momentum']:g}" for b in sides]
        entry["note"] += f"; {entry['reason']}: inconclusive" if sides else ""
    edges = edge_of_stability(equal, sizes)
    for entry, edge in zip(sharp, edges):
        entry["edge"] = edge
    disagree = [p["momentum"] for p in sharp if p["measures_disagree"]]
    row = comparison_row(
        "Sharp vs flat minima",
        "sharpness",
        ("Flat minimum", "Sharp minimum"),
        sharp,
        num,
        f"every sharpness measure of the training loss at the final weights, at equal training accuracy (the "
        f"runs of the Generalization row); ratio large/small of geometric means over seeds. The verdict is the "
        f"{primary.label}'s (verdict.sharpness_primary, set before any run); the other measures agree or not. "
        + " ".join(f"{label}: {describe(r, num, ratio=True)}." for label, r in per_measure.items())
        + (" " + edge_text(edges) if edges else ""),
        label=f"{primary.label} ",
        margin_text=f"a ratio within ×/÷{params.verdict.margin_ratio:g} is no difference",
    )
    flags = [f"measures disagree at λ = {', '.join(f'{m:g}' for m in disagree)}"] if disagree else []
    flags += [f"{eta.NOT_BRACKETED_TEXT} for {', '.join(open_at)}"] if open_at else []
    return dict(row, edge_of_stability=edges, primary=primary.label, headline_label=primary.label, flags=flags)
