"""The noise-temperature view of the trained runs: each measure against g = ηN/(B(1−λ)), and against the
final training loss. Colour = λ (the page's palette), marker = B, hollow = short of the target: seaborn
mappings of tidy frames (see style); each function returns a Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn.objects as so

from batch_momentum.analysis.stats import at_target
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.report.plots.style import FILLS, MARK, NAMES, PANEL, RUN, SHORT, X, Y, draw, named, palette, points
from batch_momentum.report.plots.style import measure_scale as scale_of

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
AGAINST = "against"  # the x column of a point of plot_temperature_views
X_LABELS = {T.TEMPERATURE: "noise temperature g", T.TRAIN_LOSS: "final training loss"}


def scatter(frame: pd.DataFrame) -> so.Plot:
    """Dots at (X, Y): colour λ, one marker per batch size (in order of size), hollow when SHORT; log x."""
    markers = {f"{b:g}": m for b, m in zip(sorted(frame[T.BATCH_SIZE].unique()), MARKERS * 4)}
    return (
        so.Plot(named(frame), x=X, y=Y, color=NAMES[T.MOMENTUM], marker=NAMES[T.BATCH_SIZE], fill=MARK)
        .add(so.Dot(pointsize=6, alpha=0.85))
        .scale(color=palette(frame, T.MOMENTUM), marker=markers, fill=FILLS)
        .label(fill="")
    )


def vs_temperature_frame(df: pd.DataFrame, y: str, x: str = T.TEMPERATURE) -> pd.DataFrame:
    """The points of plot_vs_temperature: X = df[x] (> 0), Y = df[y], all RUN; rows missing either left out."""
    d = df.dropna(subset=[x, y])
    d = d[d[x] > 0]
    return points(d, y, y, RUN, x=d[x])


def plot_vs_temperature(df, y: str, ylabel: str | None = None, x: str = T.TEMPERATURE, stats: dict | None = None):
    """df[y] against the noise temperature g = ηN/(B(1−λ)) on a log x axis; colour = λ, marker = B; rows
    with NaN y are left out. With `stats` (a stats.collapse_stats result) its reading goes in the title.
    Works on the trained grid and on the finite-sum cells (escape_fraction)."""
    title = f"{ylabel or y} against the noise temperature" + (f"\n{stats.get('interpretation', '')}" if stats else "")
    plot = scatter(vs_temperature_frame(df, y, x)).label(x="noise temperature g = ηN / (B(1 − λ))", y=ylabel or y)
    return draw(plot.label(title=title), (7, 4.5), logx=True)


def temperature_frame(df: pd.DataFrame, columns) -> pd.DataFrame:
    """The points of plot_temperature_views: every run with status ok and g > 0, once per measure
    (PANEL = its column) and per x (AGAINST: the noise temperature g, the final training loss), RUN at
    the training-accuracy target and SHORT short of it; points without the measure are left out."""
    d = df[(df[T.STATUS] == Status.OK.value) & (df[T.TEMPERATURE] > 0)]
    marks = np.where(at_target(d), RUN, SHORT)
    frames = [points(d, y, y, marks, x=d[x]).assign(**{AGAINST: x}) for y in columns for x in X_LABELS]
    return pd.concat(frames, ignore_index=True).dropna(subset=[Y])


def plot_temperature_views(df, measures: list[tuple[str, str]]):
    """Each measure in a row of its own: against the noise temperature g = ηN/(B(1−λ)) (left) and against
    the final training loss (right), log x axes; colour = λ, marker = B, hollow = short of the
    training-accuracy target. The right column shows how much of a trend in g is how far training got.
    Two panels to a row keep each readable on the page (a row of four measures was about 250 px a panel)."""
    frame = temperature_frame(df, [y for y, _ in measures])
    cols = [y for y, _ in measures]
    titles = {**dict(measures), **X_LABELS}
    plot = scatter(frame).facet(col=AGAINST, row=PANEL, order={"col": list(X_LABELS), "row": cols})
    plot = plot.share(x="col", y="row").label(x="", y="", title=lambda v: titles.get(v, v))
    fig = draw(plot, (3.8 * len(X_LABELS) + 1.5, 2.9 * len(cols)), logx=True)
    for ax, (col, against) in zip(fig.axes, [(c, a) for c in cols for a in X_LABELS]):
        ax.set_yscale(scale_of(frame[(frame[PANEL] == col) & (frame[AGAINST] == against)][Y], col))
    return fig
