"""Generalization: test accuracy at equal training accuracy, small against large batch, each seed at the
η it kept, with the η view (analysis.eta)."""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis import eta
from batch_momentum.analysis.compare import compare, comparison_row, describe
from batch_momentum.analysis.formats import pct
from batch_momentum.io import tables as T


def _choices(candidates: pd.DataFrame) -> str:
    """Per cell, the η its seeds kept, with how many seeds kept each, and the η tried."""
    parts = []
    for cell, c in candidates.groupby(T.CELL, sort=False):
        kept = c[c[T.CHOSEN]][T.LR].value_counts().sort_index()
        tried = [float(v) for v in sorted(c[T.LR].unique())]
        parts.append(f"{cell}: η kept " + ", ".join(f"{lr:g} by {n}" for lr, n in kept.items()) + f" of {tried}")
    return "; ".join(parts)


def generalization_row(equal: pd.DataFrame, candidates: pd.DataFrame, params, brackets=None) -> dict:
    """Generalization: test accuracy of the equal-accuracy runs, small against large batch, each seed at
    the η it kept; per λ the η view (analysis.eta): each side's kept η, the bracket of its best η
    (`brackets`, T.BRACKETS; default: from the candidates), and whether the verdict stays the same at the
    neighbouring η (robust) or not (depends on η). A λ where a side's best η is not bracketed is
    inconclusive, with that reason."""
    ea = params.equal_acc
    protocol = (
        f"Keskar et al.'s protocol: B={ea.batch_size[0]} and B={ea.batch_size[1]} each trained until "
        f"the training accuracy reaches {ea.target_train_acc} (at most {ea.max_epochs} epochs) at every step "
        f"η/(1−λ) of the start of the sweep ({list(ea.step_small)} small, {list(ea.step_large)} large), extended "
        f"by ×{ea.extend_factor:g} (at most {ea.extend_cap} steps a side) while a side's best η is not bracketed; "
        f"each seed keeps the η "
        f"with its best validation accuracy among its runs at the target, so the choice is inside the interval "
        f"({_choices(candidates)})"
    )
    v = params.verdict
    sizes = tuple(ea.batch_size)
    gen = compare(equal, T.TEST_ACC, "smaller", sizes, v.margin_accuracy, reached_only=True, power=v.power)
    brackets = eta.brackets_of(candidates) if brackets is None else brackets
    open_at = []
    for p in gen:
        view = eta.neighbour_gaps(candidates, p["momentum"], sizes, "smaller", v.margin_accuracy, brackets)
        p["eta"] = view
        p["eta_robust"] = view["robust"]
        sides = eta.gate(p, brackets, sizes)
        open_at += [f"{b} at λ = {p['momentum']:g}" for b in sides]
        p["note"] = (
            f"λ={p['momentum']:g}, η view: "
            + eta.describe(view, sizes, pct)
            + "."
            + (f" {p['reason']}: the verdict at this λ is inconclusive." if sides else "")
        )
    depends = [p["momentum"] for p in gen if p["eta_robust"] == eta.DEPENDS]
    flags = ([f"{eta.NOT_BRACKETED_TEXT} for {', '.join(open_at)}"] if open_at else []) + (
        [f"the verdict {eta.DEPENDS} at λ = {', '.join(f'{m:g}' for m in depends)}"] if depends else []
    )
    row = comparison_row(
        "Generalization",
        "generalization",
        ("Better", "Worse"),
        gen,
        pct,
        f"test accuracy at equal training accuracy. {protocol}. Per λ: "
        + describe(gen, pct)
        + ". "
        + " ".join(p["note"] for p in gen),
        margin_text=f"a difference within ±{100 * v.margin_accuracy:g} points is no difference",
    )
    return dict(row, flags=flags)
