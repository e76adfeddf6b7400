"""The noise-temperature view of the trained runs: each measure against g = ηN/(B(1−λ)), and
against the final training loss (matplotlib, Agg). Colour = λ (style.lam_color), marker = B,
hollow = short of the target; drawn from a tidy frame (see style). Each function returns a Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from batch_momentum.analysis.stats import at_target
from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import MARK, PANEL, RUN, SHORT, X, Y, lam_color, measure_scale, points
from batch_momentum.training.status import Status

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
AGAINST = "against"  # the x column of a point of plot_temperature_views
X_LABELS = {T.TEMPERATURE: "noise temperature g", T.TRAIN_LOSS: "final training loss"}


def _markers(sizes) -> dict:
    """One marker per batch size, in order of size."""
    return {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(sorted(set(sizes)))}


def _legend(lams, markers) -> list:
    """Legend handles: λ by its colour, B by its marker."""
    handles = [Line2D([], [], color=lam_color(lam), marker="o", ls="", label=f"λ = {lam:g}") for lam in lams]
    return handles + [Line2D([], [], color="0.4", marker=m, ls="", label=f"B = {b}") for b, m in markers.items()]


def _scatter(ax, frame: pd.DataFrame, markers: dict, edge=None, **style) -> None:
    """The frame's points per (λ, B, mark): colour λ (edge `edge` where given), marker B, hollow when SHORT."""
    for (lam, b, mark), rows in frame.groupby([T.MOMENTUM, T.BATCH_SIZE, MARK]):
        color = lam_color(lam)
        ax.scatter(
            rows[X],
            rows[Y],
            marker=markers[b],
            facecolors="none" if mark == SHORT else color,
            edgecolors=edge or color,
            **style,
        )


def plot_vs_temperature(df, y: str, ylabel: str | None = None, x: str = T.TEMPERATURE, stats: dict | None = None):
    """df[y] against the noise temperature g = eta N / (B (1 - lambda)) on a log x axis;
    colour = lambda, marker = batch size; rows with NaN y are left out. With `stats` (a
    stats.collapse_stats result) its verdict goes in the title. Works on the trained grid
    (test_acc, train_acc, a sharpness column) and on the finite-sum cells (escape_fraction)."""
    ylabel = ylabel or y
    d = df.dropna(subset=[x, y])
    d = d[d[x] > 0]
    frame = points(d, y, y, RUN, x=d[x])
    markers = _markers(frame[T.BATCH_SIZE])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    _scatter(ax, frame, markers, edge="k", s=40, alpha=0.85, linewidths=0.4)
    ax.set_xscale("log")
    ax.set_xlabel("noise temperature g = ηN / (B(1 − λ))")
    ax.set_ylabel(ylabel)
    ax.legend(handles=_legend(sorted(frame[T.MOMENTUM].unique()), markers), fontsize=7, ncol=2, loc="best")
    title = f"{ylabel} against the noise temperature"
    if stats:
        title += f"\n{stats.get('interpretation', '')}"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def temperature_frame(df: pd.DataFrame, columns) -> pd.DataFrame:
    """The points of plot_temperature_views: every run with status ok and g > 0, once per measure
    (PANEL = its column) and per x (AGAINST: the noise temperature g, the final training loss), RUN at
    the training-accuracy target and SHORT short of it; points without the measure are left out."""
    d = df[(df[T.STATUS] == Status.OK.value) & (df[T.TEMPERATURE] > 0)]
    marks = np.where(at_target(d), RUN, SHORT)
    frames = [points(d, y, y, marks, x=d[x]).assign(**{AGAINST: x}) for y in columns for x in X_LABELS]
    return pd.concat(frames, ignore_index=True).dropna(subset=[Y])


def plot_temperature_views(df, measures: list[tuple[str, str]]):
    """Each measure (columns) against the noise temperature g = ηN/(B(1−λ)) (top row) and against the
    final training loss (bottom row), log x axes; colour = λ, marker = B, hollow = short of the
    training-accuracy target. The bottom row shows how much of a trend in g is how far training got."""
    frame = temperature_frame(df, [y for y, _ in measures])
    markers = _markers(frame[T.BATCH_SIZE])
    fig, axes = plt.subplots(2, len(measures), figsize=(3.6 * len(measures) + 0.6, 6.4), squeeze=False)
    for j, (y, label) in enumerate(measures):
        for ax, x in zip(axes[:, j], X_LABELS):
            at = frame[(frame[PANEL] == y) & (frame[AGAINST] == x)]
            _scatter(ax, at, markers, s=34, alpha=0.85, linewidths=0.9)
            ax.set_xscale("log")
            ax.set_xlabel(X_LABELS[x])
            ax.set_yscale(measure_scale(at[Y], y))
            ax.grid(True, which="both", alpha=0.3)
        axes[0, j].set_title(label, fontsize=9)
    handles = _legend(sorted(frame[T.MOMENTUM].unique()), markers)
    handles.append(Line2D([], [], color="0.4", marker="o", mfc="none", ls="", label="short of the target"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
