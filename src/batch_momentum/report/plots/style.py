"""What every figure of the report shares: one colour per λ and one per batch size (a value has the
same colour in every figure, whichever values a figure shows), when a measure gets a log axis, how
a run that does not count is drawn, a batch-size axis ticked at the grid's sizes, panels, a legend.

A figure is drawn from a tidy frame, one row per point: its position (X, Y), its λ and B
(T.MOMENTUM, T.BATCH_SIZE), its panel (PANEL) and its mark (MARK: how it is drawn, see MARKS).
The frame is built by a small function beside each figure, and that is what the tests check."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, NullLocator

from batch_momentum.io import tables as T

# ----------------------------------------------------------------------------- palettes: the value alone
LOG2_B = (0.0, 13.0)  # log2 B over which the batch colours run: B = 1 to 8192 (larger B take the last)


def lam_color(lam: float):
    """λ's colour: 1 − √(1 − λ) through viridis up to 0.9. The stretch spreads the values where momentum
    grids crowd, near 1: λ = 0, 0.5, 0.9, 0.99 sit at 0, 0.26, 0.62, 0.81 of the colormap."""
    return plt.get_cmap("viridis")(0.9 * (1.0 - math.sqrt(1.0 - min(max(float(lam), 0.0), 1.0))))


def batch_color(b: float):
    """B's colour: log2 B through magma (0.1 to 0.85) over LOG2_B."""
    lo, hi = LOG2_B
    where = (min(max(math.log2(max(float(b), 1.0)), lo), hi) - lo) / (hi - lo)
    return plt.get_cmap("magma")(0.1 + 0.75 * where)


def lam_colors(lams) -> dict:
    """{λ: colour} for the given λ, in order (lam_color of each)."""
    return {lam: lam_color(lam) for lam in sorted(set(float(v) for v in lams))}


def batch_colors(sizes) -> dict:
    """{B: colour} for the given batch sizes, in order (batch_color of each)."""
    return {b: batch_color(b) for b in sorted(set(int(v) for v in sizes))}


# ----------------------------------------------------------------------------- axes
ACCURACIES = (T.TRAIN_ACC, T.VAL_ACC, T.TEST_ACC)


def measure_scale(values, column: str | None = None) -> str:
    """The y scale of a measure: "log" when it has a finite value and every finite one is > 0 (a sharpness
    spans orders of magnitude), "linear" otherwise (a trace estimate can be negative) and for an accuracy."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return "log" if column not in ACCURACIES and v.size and (v > 0).all() else "linear"


def batch_axis(ax, sizes, label: str = "batch size B (log scale)") -> None:
    """A log x axis with one tick per batch size of the grid, labelled with the size itself."""
    sizes = sorted(set(int(v) for v in sizes))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(b) for b in sizes])
    ax.set_xlabel(label)


def facets(n: int, width: float = 4.0, height: float = 3.3, sharey: bool = False, ncols: int = 4):
    """n panels, at most ncols to a row; the axes in reading order (unused ones hidden)."""
    cols = min(n, ncols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 0.6, height * rows), squeeze=False, sharey=sharey)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend_below(fig, axes, ncol: int = 6) -> None:
    """One legend for the whole figure, under it, from the handles of all axes (duplicates once)."""
    seen = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    if seen:
        fig.legend(
            list(seen.values()),
            list(seen.keys()),
            loc="lower center",
            ncol=min(ncol, len(seen)),
            fontsize=8,
            frameon=False,
            bbox_to_anchor=(0.5, -0.02),
        )
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    else:
        fig.tight_layout()


# ----------------------------------------------------------------------------- tidy frames and their marks
X, Y, PANEL, MARK = "x", "y", "panel", "mark"
LINE, RUN, SHORT, FAILED, NEVER = "line", "run", "short", "failed", "never"
MARKS = {  # how each mark is drawn; a label is formatted with the colour's variable and value
    LINE: dict(fmt="-", label="{var} = {value:g}"),  # the mean (or median) of the runs, joined along X
    RUN: dict(fmt="o", ms=4, alpha=0.8),  # a run that counts
    SHORT: dict(fmt="o", ms=5, mfc="none", label="short of the target"),  # hollow
    FAILED: dict(fmt="x", ms=7, mew=1.8, label="did not train (left out)"),  # crossed
    NEVER: dict(fmt="^", ms=8, mfc="none", label="never reached"),  # a triangle on the panel's top edge
}
HUES = {T.MOMENTUM: ("λ", lam_color), T.BATCH_SIZE: ("B", batch_color)}


def points(df: pd.DataFrame, y: str, panel, mark, x=None) -> pd.DataFrame:
    """df's rows as points: Y = df[y], X = B (or `x`), with their λ, B, PANEL = panel and MARK = mark (each
    a value or one per row); a row whose mark is missing (None, NaN) is left out."""
    frame = pd.DataFrame(
        {
            PANEL: panel,
            T.MOMENTUM: df[T.MOMENTUM],
            T.BATCH_SIZE: df[T.BATCH_SIZE],
            X: df[T.BATCH_SIZE] if x is None else x,
            Y: df[y],
            MARK: mark,
        },
        index=df.index,
    )
    return frame.dropna(subset=[MARK]).reset_index(drop=True)


def summary(frame: pd.DataFrame, marks, how: str = "mean") -> pd.DataFrame:
    """One LINE row per (panel, λ, B, X): the `how` (mean, median) of Y over the points marked `marks`."""
    counted = frame[frame[MARK].isin(marks)]
    keys = [PANEL, T.MOMENTUM, T.BATCH_SIZE, X]
    return counted.groupby(keys, as_index=False, sort=False)[Y].agg(how).assign(**{MARK: LINE})


def draw(ax, frame: pd.DataFrame, hue: str = T.MOMENTUM, marks: dict = MARKS) -> None:
    """The frame's points, one colour per value of `hue` (its palette), each mark as `marks` says, in that
    order; the points of one colour and mark are joined in X order where the mark's fmt has a line."""
    var, color = HUES[hue]
    for value in sorted(frame[hue].unique()):
        part = frame[frame[hue] == value]
        for mark, style in marks.items():
            rows = part[part[MARK] == mark].sort_values(X)
            if len(rows) or mark == LINE:  # an empty line still names its colour in the legend
                style = dict(style)
                fmt, label = style.pop("fmt"), style.pop("label", "_nolegend_").format(var=var, value=value)
                ax.plot(
                    rows[X].to_numpy(dtype=float),
                    rows[Y].to_numpy(dtype=float),
                    fmt,
                    color=color(value),
                    label=label,
                    **style,
                )
