"""Figures for sharpness, interpolation and 1-D landscape curves (return Figures; no I/O).

* plot_sharpness_vs_batch: a sharpness measure (ε-sharpness, Keskar et al. 2017 Metric
  2.1; top Hessian eigenvalue; Hessian trace) against batch size, one line per momentum.
* plot_interpolation: Keskar et al. 2017 Figure 3 — loss (left axis) and accuracy (right
  axis) along θ(α) = α·θ_LB + (1−α)·θ_SB, train solid, test dashed.
* plot_direction_curves: f(θ + t·d) along filter-normalized directions (Li et al. 2018).
* the report's figures: plot_sharpness_grid (every measure of the grid, from sharpness_grid_frame),
  plot_interpolations and plot_directions_by_lambda (the equal-accuracy runs, one panel per λ).
λ and B in their report-wide colours (style).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from batch_momentum.analysis.stats import at_target
from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import (
    PANEL,
    RUN,
    SHORT,
    Y,
    batch_axis,
    batch_color,
    draw,
    facets,
    lam_color,
    legend_below,
    measure_scale,
    points,
    summary,
)
from batch_momentum.training.status import Status

SPLIT_LINES = (("train", "-"), ("test", "--"))  # train solid, test dashed; other splits dotted


def sharpness_summary(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per (λ, B): the mean, min and max over seeds of `column`, from its finite values (diverged cells
    are left out)."""
    missing = {T.BATCH_SIZE, T.MOMENTUM, column} - set(df.columns)
    if missing:
        raise ValueError(f"plot_sharpness_vs_batch: df lacks columns {sorted(missing)}; it has {list(df.columns)}")
    d = df[np.isfinite(df[column].astype(float))]
    return d.groupby([T.MOMENTUM, T.BATCH_SIZE])[column].agg(["mean", "min", "max"]).reset_index()


def plot_sharpness_vs_batch(df: pd.DataFrame, column: str, ylabel: str, logy: bool | None = None) -> Figure:
    """One line per momentum: mean of `column` over seeds vs batch_size (log x axis),
    band = min..max over seeds. df: one row per cell (batch_size, momentum, seed, column);
    rows with a missing or non-finite value (diverged cells) are left out.
    logy: None = log y axis when every value is > 0 (style.measure_scale)."""
    g = sharpness_summary(df, column)
    fig, ax = plt.subplots(figsize=(6, 4))
    for lam, at in g.groupby(T.MOMENTUM):
        bs = at[T.BATCH_SIZE].to_numpy(dtype=float)
        ax.plot(bs, at["mean"], marker="o", color=lam_color(lam), label=f"momentum λ = {lam:g}")
        ax.fill_between(bs, at["min"], at["max"], color=lam_color(lam), alpha=0.2, linewidth=0)
    batch_axis(ax, g[T.BATCH_SIZE], "batch size")
    ax.set_yscale(measure_scale(g[["min", "max"]], column) if logy is None else ("log" if logy else "linear"))
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if len(g):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_interpolation(curve: Mapping[str, list], title: str = "") -> Figure:
    """Keskar et al. 2017 Figure 3: loss (left axis, blue) and accuracy (right axis, red)
    along α; train solid, test dashed (other splits dotted). curve: output of
    landscape.interpolate ({"alpha", "<split>_loss", "<split>_acc"})."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax2 = ax.twinx()
    splits = [k[: -len("_loss")] for k in curve if k.endswith("_loss")]
    for s in splits:
        ls = dict(SPLIT_LINES).get(s, ":")
        ax.plot(curve[T.ALPHA], curve[T.loss_column(s)], ls, color="tab:blue", label=f"{s} loss")
        if T.acc_column(s) in curve:
            ax2.plot(curve[T.ALPHA], curve[T.acc_column(s)], ls, color="tab:red", label=f"{s} accuracy")
    ax.set_xlabel("α  (0: small batch, 1: large batch)")
    ax.set_ylabel("cross-entropy", color="tab:blue")
    ax2.set_ylabel("accuracy", color="tab:red")
    ax.set_title(title)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper center")
    fig.tight_layout()
    return fig


def plot_direction_curves(curves: Mapping[str, Mapping[str, list]]) -> Figure:
    """Overlay of 1-D curves loss vs t, one per label (landscape.direction_curve outputs)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, c in curves.items():
        ax.plot(c[T.T], c[T.LOSS], label=str(label))
    ax.set_xlabel("t  (θ + t·d, d filter-normalized)")
    ax.set_ylabel("training loss")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sharpness_grid_frame(df: pd.DataFrame, columns) -> pd.DataFrame:
    """The points of plot_sharpness_grid, per measure (PANEL = its column): every run with status ok,
    RUN when at the training-accuracy target and SHORT when not, and per (λ, B) the mean of both (LINE).
    Runs that diverged or did not train are left out."""
    ok = df[df[T.STATUS] == Status.OK.value]
    marks = np.where(at_target(ok), RUN, SHORT)
    runs = pd.concat([points(ok, col, col, marks) for col in columns], ignore_index=True)
    return pd.concat([summary(runs, [RUN, SHORT]), runs], ignore_index=True)


def plot_sharpness_grid(df: pd.DataFrame, measures: list[tuple[str, str]]) -> Figure:
    """Every sharpness measure of the grid's runs against B, one panel per measure, one line per λ
    through the runs with status ok (mean); runs at the training-accuracy target filled, runs that
    stopped short of it hollow: their "sharpness" describes where the budget left them, not a minimum.
    Log y axes where every value is positive."""
    frame = sharpness_grid_frame(df, [col for col, _ in measures])
    fig, axes = facets(len(measures), width=3.6, height=3.3)
    for ax, (col, label) in zip(axes, measures):
        at = frame[frame[PANEL] == col]
        draw(ax, at)
        batch_axis(ax, df[T.BATCH_SIZE], "batch size B")
        ax.set_yscale(measure_scale(at[Y], col))
        ax.set_title(label, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    legend_below(fig, axes)
    return fig


def plot_interpolations(curves: list[Mapping[str, list]]) -> Figure:
    """Keskar et al. 2017 Figure 3, one panel per λ: loss (log axis, blue) and accuracy (red) along
    θ(α) = α·θ_LB + (1−α)·θ_SB between runs of one seed, train solid, test dashed."""
    curves = [c for c in curves if c.get(T.ALPHA)]
    fig, axes = facets(max(len(curves), 1), width=4.2, height=3.4)
    twins = []
    for ax, c in zip(axes, curves):
        ax2 = ax.twinx()
        twins.append(ax2)
        for split, ls in SPLIT_LINES:
            if T.loss_column(split) in c:
                ax.plot(c[T.ALPHA], c[T.loss_column(split)], ls, color="tab:blue", label=f"{split} loss")
            if T.acc_column(split) in c:
                ax2.plot(c[T.ALPHA], c[T.acc_column(split)], ls, color="tab:red", label=f"{split} accuracy")
        ax.set_yscale("log")
        ax.axvline(0, color="0.6", lw=0.8)
        ax.axvline(1, color="0.6", lw=0.8)
        ax.set_xlabel("α (0: small batch, 1: large batch)")
        ax.set_title(f"λ = {c[T.MOMENTUM]:g}, seed {c[T.SEED]}", fontsize=10)
        ax2.set_ylim(0, 1.02)
    axes[0].set_ylabel("cross-entropy (log)", color="tab:blue")
    if twins:
        twins[-1].set_ylabel("accuracy", color="tab:red")
    legend_below(fig, axes + twins)
    return fig


def plot_directions_by_lambda(directions: pd.DataFrame, sizes: tuple[int, int], seed: int) -> Figure:
    """Training loss along a filter-normalized random direction (Li et al. 2018) through the final
    weights of the small and the large batch (in their colours), one panel per λ, one seed; log loss axis."""
    d = directions[(directions[T.SEED] == seed) & directions[T.BATCH_SIZE].isin(sizes)]
    lams = sorted(directions[T.MOMENTUM].unique())
    fig, axes = facets(max(len(lams), 1), width=3.8, height=3.2, sharey=True)
    for ax, lam in zip(axes, lams):
        for b, run in d[d[T.MOMENTUM] == lam].groupby(T.BATCH_SIZE):
            ax.plot(run[T.T], run[T.LOSS], color=batch_color(b), label=f"B = {b}")
        ax.set_yscale("log")
        ax.set_xlabel("t (θ + t·d)")
        ax.set_title(f"λ = {lam:g}, seed {seed}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("training loss (log)")
    legend_below(fig, axes)
    return fig
