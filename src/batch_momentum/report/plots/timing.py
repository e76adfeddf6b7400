"""Figures of the timing step: time per update (parallel and sequential) and per epoch against B, log-log,
a seaborn mapping of timing_frame; each function returns a Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn.objects as so

from batch_momentum.analysis.formats import timing_device
from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import MARK, PANEL, RUN, X, Y, draw

UPDATE, EPOCH = "time for one update (s)", "time for one epoch (s)"  # the panels
WAY, LO, HI = "way", "lo", "hi"  # how it was timed; the min-max band over repeats
PARALLEL, SEQUENTIAL = "parallel (one call per batch)", "sequential (one example at a time)"
ESTIMATED, MEASURED = "estimated: updates per epoch × time per update", "measured epoch"
EXTRAPOLATED = "extrapolated from a subset"  # the mark of a sequential time not measured on the whole batch
COLORS = {PARALLEL: "C0", SEQUENTIAL: "C3", ESTIMATED: "C0", MEASURED: "C1"}


def timing_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (B, way): PANEL (UPDATE or EPOCH), WAY, X = B, Y = the median seconds, LO..HI its band
    over repeats (update times only), MARK = EXTRAPOLATED for a sequential time extrapolated from fewer
    examples, else RUN; an epoch that was not measured (beyond the budget) is left out."""
    d = df.sort_values(T.BATCH_SIZE)
    b, nan = d[T.BATCH_SIZE], np.full(len(d), np.nan)
    extrapolated = np.where(d[T.SEQUENTIAL_EXTRAPOLATED].astype(bool), EXTRAPOLATED, RUN)  # tables.read_timing
    parts = [
        (UPDATE, PARALLEL, T.PARALLEL_MEDIAN_S, d[T.PARALLEL_MIN_S], d[T.PARALLEL_MAX_S], RUN),
        (UPDATE, SEQUENTIAL, T.SEQUENTIAL_MEDIAN_S, d[T.SEQUENTIAL_MIN_S], d[T.SEQUENTIAL_MAX_S], extrapolated),
        (EPOCH, ESTIMATED, T.EPOCH_ESTIMATED_S, nan, nan, RUN),
        (EPOCH, MEASURED, T.EPOCH_MEASURED_S, nan, nan, RUN),
    ]
    frames = [
        pd.DataFrame({PANEL: panel, WAY: way, X: b, Y: d[col], LO: lo, HI: hi, MARK: mark})
        for panel, way, col, lo, hi, mark in parts
    ]
    return pd.concat(frames, ignore_index=True).dropna(subset=[Y])


def plot_timing(df: pd.DataFrame, panels=(UPDATE, EPOCH), title: str = ""):
    """Time per update (parallel and sequential medians with their min-max bands; sequential times
    extrapolated from a subset ringed) and per epoch (the estimate as a line, measured epochs as dots),
    against B on log-log axes, one panel each; the device in the title."""
    frame = timing_frame(df)
    frame = frame[frame[PANEL].isin(panels)]
    n_train = f" (N = {int(df[T.N_TRAIN].iloc[0])})" if T.N_TRAIN in df else ""
    plot = (
        so.Plot(frame, x=X, y=Y, color=WAY)
        .add(so.Line(marker="o", pointsize=4), data=frame[frame[WAY] != MEASURED])
        .add(so.Band(), data=frame[frame[LO].notna()], ymin=LO, ymax=HI)
        .add(so.Dot(pointsize=6), data=frame[frame[WAY] == MEASURED])
        .add(so.Dot(pointsize=11, fill=False), data=frame[frame[MARK] == EXTRAPOLATED], marker=MARK)
        .facet(col=PANEL, order=list(panels))
        .share(y=False)
        .scale(color=COLORS)
        .label(x="batch size B", y="", color="", marker="", title=lambda p: p + (n_train if p == EPOCH else ""))
    )
    fig = draw(plot, (5.5 * len(panels) + 3, 4.2), batch=frame[X], logy=True)
    fig.suptitle(title or timing_device(df), fontsize=10)
    return fig


def plot_time_per_update(df: pd.DataFrame):
    """Time for one update vs batch size, log-log: the lecture's parallel-computing picture."""
    return plot_timing(df, (UPDATE,), f"Time per update\n{timing_device(df)}")


def plot_time_per_epoch(df: pd.DataFrame):
    """Time for one epoch vs batch size, log-log: ceil(N/B) × the median update time, and measured epochs."""
    return plot_timing(df, (EPOCH,), f"Time per epoch\n{timing_device(df)}")
