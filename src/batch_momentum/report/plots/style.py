"""What every figure of the report shares: one colour per λ and one per B (a value has the same colour in
every figure, whichever values a figure shows), the marks of runs that do not count, when a measure gets a
log axis, and how a seaborn.objects plot becomes a Figure.

A figure is a seaborn mapping of a tidy frame, one row per point: its position (X, Y), its λ and B
(T.MOMENTUM, T.BATCH_SIZE), its panel (PANEL) and its mark (MARK: a run that counts, one short of the
target, one that did not train, a level never reached, or the LINE through the runs). Each figure's frame
is built by a function beside it (*_frame), and that frame is what the tests check."""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn.objects as so
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, NullLocator

from batch_momentum.io import tables as T

# seaborn 0.13.2 passes pandas.concat's copy= keyword, which pandas 3 deprecates: one line per figure in
# every log, about seaborn's code, not ours
warnings.filterwarnings("ignore", message="The copy keyword is deprecated", module="seaborn")

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
    """{λ: colour} for the given λ, in order (lam_color of each): the palette seaborn gets for λ."""
    return {lam: lam_color(lam) for lam in sorted(set(float(v) for v in lams))}


def batch_colors(sizes) -> dict:
    """{B: colour} for the given batch sizes, in order (batch_color of each): the palette for B."""
    return {b: batch_color(b) for b in sorted(set(int(v) for v in sizes))}


PALETTES = {T.MOMENTUM: lam_colors, T.BATCH_SIZE: batch_colors}
NAMES = {T.MOMENTUM: "λ", T.BATCH_SIZE: "B"}  # the columns that name a value in a legend, and their titles


def named(frame: pd.DataFrame) -> pd.DataFrame:
    """frame with a "λ" and a "B" column: each value as the legend shows it (0.5, 512). seaborn maps these
    text columns: a number column that one layer's data lacks turns float and splits a level in two."""
    return frame.assign(**{name: frame[var].map("{:g}".format) for var, name in NAMES.items() if var in frame})


def palette(frame: pd.DataFrame, var: str) -> so.Nominal:
    """The page's palette of `var` (λ or B) over the values in frame[var], keyed as `named` writes them,
    in order of value: the colour scale of the column NAMES[var]."""
    colors = PALETTES[var](frame[var])
    return so.Nominal({f"{v:g}": c for v, c in colors.items()}, order=[f"{v:g}" for v in colors])


# ----------------------------------------------------------------------------- tidy frames and their marks
X, Y, PANEL, MARK = "x", "y", "panel", "mark"
LINE, RUN = "mean", "run"
SHORT, FAILED, NEVER = "short of the target", "did not train", "never reached"
MARKERS = {RUN: "o", SHORT: "o", FAILED: "x", NEVER: "^"}  # a run that does not count: hollow or crossed
FILLS = {RUN: True, SHORT: False, FAILED: False, NEVER: False}


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


def runs_and_line(frame: pd.DataFrame, hue: str = T.MOMENTUM, line=None, dots=None) -> so.Plot:
    """The usual mapping: the LINE rows joined along X, the other rows as dots (marker and fill by MARK),
    colour by `hue` in the page's palette; facets and labels are the caller's."""
    line = so.Line(marker="o", pointsize=3) if line is None else line
    frame = named(frame)
    return (
        so.Plot(frame, x=X, y=Y, color=NAMES[hue])
        .add(line, data=frame[frame[MARK] == LINE])
        .add(
            so.Dot(pointsize=5, alpha=0.85) if dots is None else dots,
            data=frame[frame[MARK] != LINE],
            marker=MARK,
            fill=MARK,
        )
        .scale(color=palette(frame, hue), marker=MARKERS, fill=FILLS)
        .label(marker="", fill="")
    )


# ----------------------------------------------------------------------------- axes and figures
ACCURACIES = (T.TRAIN_ACC, T.VAL_ACC, T.TEST_ACC)


def measure_scale(values, column: str | None = None) -> str:
    """The y scale of a measure: "log" when it has a finite value and every finite one is > 0 (a sharpness
    spans orders of magnitude), "linear" otherwise (a trace estimate can be negative) and for an accuracy."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return "log" if column not in ACCURACIES and v.size and (v > 0).all() else "linear"


# Small multiples: at most this many panels side by side. The page is 1150 px wide and a figure is drawn at
# 110 dpi, so three panels of 3.2-4 inches with a legend stay about 330 px or more wide each on the page;
# four (the former wrap) shrank them to about 250 px, too small to read their axes.
PER_ROW = 3


def facet_size(n_panels: int, panel: tuple[float, float], legend: float = 1.5) -> tuple[float, float]:
    """The size in inches of a figure of n_panels panels of `panel` (width, height) inches each, PER_ROW to a
    row (facet(..., wrap=PER_ROW)), with `legend` inches for the legend on the right."""
    n = max(n_panels, 1)
    return (panel[0] * min(n, PER_ROW) + legend, panel[1] * -(-n // PER_ROW))


def draw(plot: so.Plot, size: tuple[float, float], batch=None, logx: bool = False, logy: bool = False) -> Figure:
    """The plot drawn on a new Figure of `size` inches (its legend to the right), then matplotlib's own log
    axes (what a reader and a test see as "log"): x at the batch sizes `batch`, one tick each, or logx; logy."""
    fig = Figure(figsize=size, layout="constrained")
    plot.on(fig).plot()
    for ax in fig.axes:
        ax.grid(True, which="both", alpha=0.3)
        if batch is not None or logx:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # labels on minor ticks crowd a short range
        if batch is not None:
            sizes = sorted(set(int(v) for v in batch))
            ax.set_xticks(sizes, [str(b) for b in sizes])
            ax.xaxis.set_minor_locator(NullLocator())
        if logy:
            ax.set_yscale("log")
    return fig


def panel_scales(fig: Figure, frame: pd.DataFrame, panels) -> list[str]:
    """Each panel's y scale (measure_scale of its values), panels in facet order; the scales set."""
    scales = [measure_scale(frame[frame[PANEL] == p][Y], p) for p in panels]
    for ax, scale in zip(fig.axes, scales):
        ax.set_yscale(scale)
    return scales
