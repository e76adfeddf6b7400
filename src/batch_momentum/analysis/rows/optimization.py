"""Optimization: the small batch trains better under one epoch budget."""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis.compare import compare, comparison_row, describe
from batch_momentum.analysis.formats import pct, secs
from batch_momentum.io import tables as T


def time_to_level(tta: pd.DataFrame, sizes: tuple[int, int]) -> str:
    """In words, per λ: the median updates and wall-clock seconds over seeds that the small and the large
    batch took to first reach the highest training-accuracy level of the table; "never" when no seed did."""
    train = tta[tta[T.MEASURE] == T.TRAIN_ACC]
    if not len(train):
        return ""
    level = train[T.LEVEL].max()
    parts = []
    for lam, at in train[train[T.LEVEL] == level].groupby(T.MOMENTUM):
        sides = []
        for b in sizes:
            runs = at[at[T.BATCH_SIZE] == b]
            hit = runs.dropna(subset=[T.UPDATES])
            if not len(runs):
                continue
            sides.append(
                f"B={b} "
                + (
                    "never"
                    if not len(hit)
                    else f"{hit[T.UPDATES].median():.0f} updates, {secs(hit[T.WALL_S].median())}"
                    + (f" ({len(hit)} of {len(runs)} seeds)" if len(hit) < len(runs) else "")
                )
            )
        parts.append(f"λ={lam:g}: " + " vs ".join(sides))
    return (
        f"Time to {100 * level:.0f}% training accuracy (median over seeds; wall-clock of the training job, which "
        f"trains a cell's seeds together): " + "; ".join(parts) + "."
    )


def eta_text(tr) -> str:
    """The grid's η in words: one η, or η per λ under lr_momentum "step"."""
    if tr.lr_momentum == "step":
        return f"η = {tr.lr:g}·(1 − λ) (the same step η/(1 − λ) = {tr.lr:g} at every λ)"
    return f"η = {tr.lr:g} at every λ"


def optimization_row(table: pd.DataFrame, sizes: tuple[int, int], params, tta: pd.DataFrame | None) -> dict:
    """Optimization: the small batch trains better under one epoch budget."""
    tr = params.train
    v = params.verdict
    opt = compare(table, T.TRAIN_ACC, "smaller", sizes, v.margin_accuracy, power=v.power)
    return comparison_row(
        "Optimization",
        "optimization",
        ("Better", "Worse"),
        opt,
        pct,
        f"final training accuracy after the same budget of {tr.max_epochs} epochs at "
        f"{eta_text(tr)} (the lecture's MNIST and CIFAR-10 curves; a run stops early "
        f"at {tr.target_train_acc}), per λ; runs that diverged or did not train are "
        f"counted, not averaged: " + describe(opt, pct) + ". " + (time_to_level(tta, sizes) if tta is not None else ""),
        margin_text=f"a difference within ±{100 * v.margin_accuracy:g} points is no difference",
    )
