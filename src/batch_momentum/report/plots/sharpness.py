"""Figures for sharpness, interpolation and 1-D landscape curves (return Figures; no I/O).

* plot_sharpness_vs_batch: a sharpness measure (ε-sharpness, Keskar et al. 2017 Metric 2.1; top Hessian
  eigenvalue; Hessian trace) against batch size, one line per λ with its min-max band over seeds.
* plot_sharpness_grid: every measure of the grid (sharpness_grid_frame), one panel per measure.
* plot_stability: the top eigenvalue of each equal-accuracy run against its learning rate's stability
  threshold 2(1+λ)/η (stability_frame; Cohen et al. 2021, the edge of stability).
* plot_directions_by_lambda: loss along a filter-normalized direction (Li et al. 2018), per λ.
These are seaborn mappings of tidy frames (see style). Twin-axis figures stay matplotlib:
plot_interpolation(s) (Keskar et al. 2017 Figure 3: loss left, accuracy right, along
θ(α) = α·θ_LB + (1−α)·θ_SB) and plot_direction_curves (an overlay of given curves).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn.objects as so
from matplotlib.figure import Figure

from batch_momentum import config
from batch_momentum.analysis.stats import at_target, counted
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.report.plots.style import (
    FAILED,
    FILLS,
    MARK,
    NAMES,
    PANEL,
    PER_ROW,
    RUN,
    SHORT,
    X,
    Y,
    draw,
    facet_size,
    measure_scale,
    named,
    palette,
    panel_scales,
    points,
    runs_and_line,
    summary,
)

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
    """One line per λ: the mean of `column` over seeds against B (log x axis), band = min..max over seeds
    (sharpness_summary: non-finite values, from diverged cells, left out). logy: None = log y axis when
    every value is > 0 (style.measure_scale)."""
    g = sharpness_summary(df, column)
    plot = (
        so.Plot(named(g), x=T.BATCH_SIZE, y="mean", ymin="min", ymax="max", color=NAMES[T.MOMENTUM])
        .add(so.Line(marker="o"))
        .add(so.Band())
        .scale(color=palette(g, T.MOMENTUM))
        .label(x="batch size B", y=ylabel)
    )
    fig = draw(plot, (6, 4), batch=g[T.BATCH_SIZE])
    fig.axes[0].set_yscale(measure_scale(g[["min", "max"]], column) if logy is None else ("log" if logy else "linear"))
    return fig


def interpolation_axes(ax, curve: Mapping[str, list]):
    """Keskar et al. 2017 Figure 3 on ax: loss (ax, blue) and accuracy (a twin axis, red, returned) along α
    per split of the curve, train solid, test dashed, other splits dotted."""
    ax2 = ax.twinx()
    for s in [k[: -len("_loss")] for k in curve if k.endswith("_loss")]:
        ls = dict(SPLIT_LINES).get(s, ":")
        ax.plot(curve[T.ALPHA], curve[T.loss_column(s)], ls, color="tab:blue", label=f"{s} loss")
        if T.acc_column(s) in curve:
            ax2.plot(curve[T.ALPHA], curve[T.acc_column(s)], ls, color="tab:red", label=f"{s} accuracy")
    ax.set_xlabel("α (0: small batch, 1: large batch)")
    return ax2


def plot_interpolation(curve: Mapping[str, list], title: str = "") -> Figure:
    """One interpolation (landscape.interpolate's {"alpha", "<split>_loss", "<split>_acc"}), linear axes."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax2 = interpolation_axes(ax, curve)
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
    """Every sharpness measure of the grid's runs against B, one panel per measure, one line per λ through
    the runs with status ok (mean); runs at the training-accuracy target filled, runs that stopped short of
    it hollow: their "sharpness" describes where the budget left them, not a minimum. Log y axes where
    every value is positive."""
    cols = [col for col, _ in measures]
    frame = sharpness_grid_frame(df, cols)
    plot = runs_and_line(frame).facet(col=PANEL, order=cols, wrap=PER_ROW).share(y=False)
    fig = draw(
        plot.label(x="batch size B", y="", title=dict(measures).get), facet_size(len(cols), (3.6, 3.3)), batch=frame[X]
    )
    panel_scales(fig, frame, cols)
    return fig


SIDE, RATIO = "side", "ratio"  # the columns stability_frame adds


def stability_frame(equal: pd.DataFrame, sizes: tuple[int, int]) -> pd.DataFrame:
    """The points of plot_stability: every equal-accuracy run of the two sizes with a top eigenvalue, at
    X = its stability threshold 2(1+λ)/η (config.stability_threshold), Y = its top Hessian
    eigenvalue; SIDE = "small"/"large" with its B; RUN when it counts (ok, at the target), SHORT when ok but
    short of it, FAILED otherwise; and RATIO = Y/X (1: at the edge of stability)."""

    runs = equal[equal[T.BATCH_SIZE].isin(sizes) & np.isfinite(equal[T.HESSIAN_TOP].astype(float))]
    x = config.stability_threshold(runs[T.LR].astype(float), runs[T.MOMENTUM].astype(float))
    marks = np.where(counted(runs), RUN, np.where(runs[T.STATUS] == Status.OK.value, SHORT, FAILED))
    frame = points(runs, T.HESSIAN_TOP, T.HESSIAN_TOP, marks, x=x)
    side = frame[T.BATCH_SIZE].map({sizes[0]: "small", sizes[1]: "large"})
    return frame.assign(**{SIDE: side + " B = " + frame[T.BATCH_SIZE].astype(str), RATIO: frame[Y] / frame[X]})


def edge_text(frame: pd.DataFrame) -> str:
    """Per side and λ, the median over the runs that count of eigenvalue / threshold, in words."""
    done = frame[frame[MARK] == RUN]
    med = done.groupby([SIDE, T.MOMENTUM], sort=False)[RATIO].median()
    return "; ".join(
        f"{side}: " + ", ".join(f"λ={lam:g}: {med[side][lam]:.2f}" for lam in sorted(med[side].index))
        for side in dict.fromkeys(done[SIDE])
    )


def plot_stability(equal: pd.DataFrame, sizes: tuple[int, int]) -> Figure:
    """Sharpness against the stability threshold: each equal-accuracy run's top Hessian eigenvalue against
    2(1+λ)/η, log axes, colour λ (the page's palette), marker the batch size, hollow when the run does not
    count, and the line y = x: a run on it sits at its learning rate's edge of stability."""
    frame = named(stability_frame(equal, sizes))
    plot = (
        so.Plot(frame, x=X, y=Y, color=NAMES[T.MOMENTUM], marker=SIDE, fill=MARK)
        .add(so.Dot(pointsize=7, alpha=0.9))
        .scale(color=palette(frame, T.MOMENTUM), marker=["o", "s"], fill=FILLS)
        .label(x="stability threshold 2(1+λ)/η", y="top Hessian eigenvalue", marker="", fill="")
    )
    fig = draw(plot, (6.4, 4.6), logx=True, logy=True)
    ax = fig.axes[0]
    ends = frame[[X, Y]].to_numpy(dtype=float).ravel()
    lo, hi = (ends.min() / 1.5, ends.max() * 1.5) if len(frame) else (0.1, 10.0)
    ax.plot([lo, hi], [lo, hi], "--", color="0.4", lw=1, label="y = x: the edge of stability")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_interpolations(curves: list[Mapping[str, list]]) -> Figure:
    """Keskar et al. 2017 Figure 3, one panel per λ: loss (log axis, blue) and accuracy (red) along
    θ(α) = α·θ_LB + (1−α)·θ_SB between runs of one seed, train solid, test dashed (twin axes: matplotlib)."""
    curves = [c for c in curves if c.get(T.ALPHA)]
    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 0.6, 3.6), squeeze=False)
    for ax, c in zip(axes[0], curves):
        ax2 = interpolation_axes(ax, c)
        ax.set_yscale("log")
        for a in (0, 1):
            ax.axvline(a, color="0.6", lw=0.8)
        ax.set_title(f"λ = {c[T.MOMENTUM]:g}, seed {c[T.SEED]}", fontsize=10)
        ax2.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("cross-entropy (log)", color="tab:blue")
    lines = [line for ax in fig.axes for line in ax.get_lines() if not line.get_label().startswith("_")]
    labels = dict(zip([line.get_label() for line in lines], lines))  # one entry per label
    fig.legend(labels.values(), labels.keys(), loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def directions_frame(directions: pd.DataFrame, sizes: tuple[int, int], seed: int) -> pd.DataFrame:
    """The lines of plot_directions_by_lambda: the rows (λ, B, t, loss) of the two sizes and one seed."""
    return directions[(directions[T.SEED] == seed) & directions[T.BATCH_SIZE].isin(sizes)]


def plot_directions_by_lambda(directions: pd.DataFrame, sizes: tuple[int, int], seed: int) -> Figure:
    """Training loss along a filter-normalized random direction (Li et al. 2018) through the final weights
    of the small and the large batch (colour B), one panel per λ, one seed; log loss axis."""
    d = directions_frame(directions, sizes, seed)
    plot = (
        so.Plot(named(d), x=T.T, y=T.LOSS, color=NAMES[T.BATCH_SIZE])
        .add(so.Line())
        .facet(col=T.MOMENTUM, wrap=PER_ROW)
        .scale(color=palette(d, T.BATCH_SIZE))
        .label(x="t (θ + t·d)", y="training loss (log)", title=lambda v: f"λ = {float(v):g}, seed {seed}")
    )
    return draw(plot, facet_size(d[T.MOMENTUM].nunique(), (3.8, 3.2), legend=1.2), logy=True)
