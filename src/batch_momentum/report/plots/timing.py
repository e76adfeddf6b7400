"""Figures of the timing step (matplotlib, Agg).

Each function returns a matplotlib Figure; the caller saves or embeds it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from batch_momentum.analysis.formats import timing_device
from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import batch_axis


def _finish_log_log(fig, ax, d: pd.DataFrame, ylabel: str, title: str):
    """Log-log axes against batch size (ticked at d's sizes), with the labels, grid and legend of the timing figures."""
    batch_axis(ax, d[T.BATCH_SIZE], "batch size B")
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _draw_update(ax, d: pd.DataFrame) -> None:
    b = d[T.BATCH_SIZE].to_numpy(dtype=float)
    ax.plot(b, d[T.PARALLEL_MEDIAN_S], "o-", color="C0", label="parallel (one call per batch)")
    ax.fill_between(b, d[T.PARALLEL_MIN_S], d[T.PARALLEL_MAX_S], color="C0", alpha=0.2, linewidth=0)
    ax.plot(b, d[T.SEQUENTIAL_MEDIAN_S], "s-", color="C3", label="sequential (one example at a time)")
    ax.fill_between(b, d[T.SEQUENTIAL_MIN_S], d[T.SEQUENTIAL_MAX_S], color="C3", alpha=0.2, linewidth=0)
    ext = d[T.SEQUENTIAL_EXTRAPOLATED].to_numpy(dtype=bool)  # booleans: tables.read_timing
    if ext.any():
        ax.plot(
            b[ext],
            d[T.SEQUENTIAL_MEDIAN_S].to_numpy()[ext],
            "s",
            markerfacecolor="white",
            markeredgecolor="C3",
            markersize=8,
            linestyle="none",
            label="sequential, extrapolated from a subset",
        )


def _draw_epoch(ax, d: pd.DataFrame) -> None:
    b = d[T.BATCH_SIZE].to_numpy(dtype=float)
    ax.plot(b, d[T.EPOCH_ESTIMATED_S], "-", color="C0", label="estimated: updates per epoch × time per update")
    meas = d[T.EPOCH_MEASURED_S].to_numpy(dtype=float)
    ok = np.isfinite(meas)
    if ok.any():
        ax.plot(b[ok], meas[ok], "o", color="C1", label="measured epoch")


def _epoch_title(d: pd.DataFrame) -> str:
    return f"Time per epoch (N = {int(d[T.N_TRAIN].iloc[0])})"


def plot_time_per_update(df: pd.DataFrame):
    """Time for one update vs batch size, log-log: the lecture's parallel-computing picture.

    Two lines (medians): parallel (the whole batch in one call) and sequential (the examples
    one after another), each with its min-max band over the repeats; sequential points
    extrapolated from `sequential_cap` examples are drawn hollow.
    """
    d = df.sort_values(T.BATCH_SIZE)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _draw_update(ax, d)
    return _finish_log_log(fig, ax, d, "time for one update (s)", f"Time per update\n{timing_device(d)}")


def plot_time_per_epoch(df: pd.DataFrame):
    """Time for one epoch vs batch size, log-log: the estimate ceil(N/B) x median update
    time as a line, measured epochs (where within the budget) as points."""
    d = df.sort_values(T.BATCH_SIZE)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _draw_epoch(ax, d)
    return _finish_log_log(fig, ax, d, "time for one epoch (s)", f"{_epoch_title(d)}\n{timing_device(d)}")


def plot_timing(df: pd.DataFrame):
    """Both timing views side by side: time per update (parallel and sequential) and time per epoch."""
    d = df.sort_values(T.BATCH_SIZE)
    fig, (ax_u, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    _draw_update(ax_u, d)
    _finish_log_log(fig, ax_u, d, "time for one update (s)", "Time per update")
    _draw_epoch(ax_e, d)
    _finish_log_log(fig, ax_e, d, "time for one epoch (s)", _epoch_title(d))
    fig.suptitle(timing_device(d), fontsize=10)
    fig.tight_layout()
    return fig
