"""The gradient-noise figure: how close a batch gradient is to the full gradient, and its noise-to-signal
ratio, against the batch size: a seaborn mapping of noise_frame (see style); returns a Figure."""

from __future__ import annotations

import pandas as pd
import seaborn.objects as so

from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import (
    MARK,
    NAMES,
    PANEL,
    X,
    Y,
    draw,
    measure_scale,
    named,
    palette,
    points,
)

COSINE, NSR = "cos(batch gradient, full gradient)", "noise-to-signal B_simple / B"  # the panels
FINAL, INIT, SAMPLED = "final weights", "initial weights", "final, sampled on the subset"  # the marks
LINESTYLES = {FINAL: "-", INIT: "--"}


def noise_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The points of plot_noise_vs_batch, each the mean over seeds per (λ, B). Panel COSINE: the cosine
    between a batch gradient and the full gradient at the final (FINAL) and the initial (INIT) weights,
    expected from the noise scale for batches drawn from the whole training set when the table has it
    (then the cosine sampled on the subset at the final weights is SAMPLED), else the sampled one.
    Panel NSR: the noise-to-signal ratio B_simple/B at the final weights (McCandlish et al. 2018)."""
    need = [T.BATCH_SIZE, T.MOMENTUM, T.NOISE_INIT.cosine, T.NOISE_FINAL.cosine, T.NOISE_FINAL.nsr]
    missing = [c for c in need if c not in cells.columns]
    if missing:
        raise ValueError(f"plot_noise_vs_batch: the cell table lacks columns {missing}")
    expected = {T.NOISE_FINAL.cosine_expected, T.NOISE_INIT.cosine_expected} <= set(cells.columns)
    final, init = T.NOISE_FINAL, T.NOISE_INIT
    lines = {
        FINAL: final.cosine_expected if expected else final.cosine,
        INIT: init.cosine_expected if expected else init.cosine,
    }
    if expected:
        lines[SAMPLED] = final.cosine
    means = cells.groupby([T.MOMENTUM, T.BATCH_SIZE], as_index=False).mean(numeric_only=True)
    cosines = [points(means, col, COSINE, mark) for mark, col in lines.items()]
    return pd.concat([*cosines, points(means, final.nsr, NSR, FINAL)], ignore_index=True)


def plot_noise_vs_batch(cells: pd.DataFrame):
    """Gradient noise vs batch size, one colour per λ, log x. Left: the cosine with the full gradient, final
    weights solid, initial dashed, sampled on the subset hollow. Right: the noise-to-signal ratio, log y
    where every value is positive."""
    frame = named(noise_frame(cells))
    plot = (
        so.Plot(frame, x=X, y=Y, color=NAMES[T.MOMENTUM])
        .add(so.Line(marker="o", pointsize=4), data=frame[frame[MARK] != SAMPLED], linestyle=MARK)
        .add(so.Dot(fill=False, pointsize=9), data=frame[frame[MARK] == SAMPLED], marker=MARK)
        .facet(col=PANEL, order=[COSINE, NSR])
        .share(y=False)
        .scale(color=palette(frame, T.MOMENTUM), linestyle=LINESTYLES)
        .label(x="batch size B", y="", linestyle="", marker="")
    )
    fig = draw(plot, (11, 4.2), batch=frame[X])
    fig.axes[0].set_ylim(-0.05, 1.05)
    fig.axes[1].set_yscale(measure_scale(frame[frame[PANEL] == NSR][Y]))
    return fig
