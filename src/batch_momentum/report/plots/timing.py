"""Figures of the timing step and of the gradient-noise measures (matplotlib, Agg).

Each function returns a matplotlib Figure; the caller saves or embeds it.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from batch_momentum.analysis.formats import timing_device  # noqa: E402


def _extrapolated(df: pd.DataFrame) -> np.ndarray:
    col = df["sequential_extrapolated"]
    if col.dtype != bool:
        col = col.astype(str).str.lower().eq("true")
    return col.to_numpy(dtype=bool)


def _finish_log_log(fig, ax, ylabel: str, title: str):
    """Log-log axes against batch size, with the labels, grid and legend of both timing figures."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size B")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _draw_update(ax, d: pd.DataFrame) -> None:
    b = d["batch_size"].to_numpy(dtype=float)
    ax.plot(b, d["parallel_median_s"], "o-", color="C0", label="parallel (one call per batch)")
    ax.fill_between(b, d["parallel_min_s"], d["parallel_max_s"], color="C0", alpha=0.2, linewidth=0)
    ax.plot(b, d["sequential_median_s"], "s-", color="C3", label="sequential (one example at a time)")
    ax.fill_between(b, d["sequential_min_s"], d["sequential_max_s"], color="C3", alpha=0.2, linewidth=0)
    ext = _extrapolated(d)
    if ext.any():
        ax.plot(b[ext], d["sequential_median_s"].to_numpy()[ext], "s", markerfacecolor="white",
                markeredgecolor="C3", markersize=8, linestyle="none",
                label="sequential, extrapolated from a subset")


def _draw_epoch(ax, d: pd.DataFrame) -> None:
    b = d["batch_size"].to_numpy(dtype=float)
    ax.plot(b, d["epoch_estimated_s"], "-", color="C0", label="estimated: updates per epoch × time per update")
    meas = d["epoch_measured_s"].to_numpy(dtype=float)
    ok = np.isfinite(meas)
    if ok.any():
        ax.plot(b[ok], meas[ok], "o", color="C1", label="measured epoch")


def _ticks(ax, d: pd.DataFrame) -> None:
    from batch_momentum.report.plots.style import batch_axis

    batch_axis(ax, d["batch_size"], "batch size B")


def plot_time_per_update(df: pd.DataFrame):
    """Time for one update vs batch size, log-log: the lecture's parallel-computing picture.

    Two lines (medians): parallel (the whole batch in one call) and sequential (the examples
    one after another), each with its min-max band over the repeats; sequential points
    extrapolated from `sequential_cap` examples are drawn hollow.
    """
    d = df.sort_values("batch_size")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _draw_update(ax, d)
    _finish_log_log(fig, ax, "time for one update (s)", f"Time per update\n{timing_device(d)}")
    _ticks(ax, d)
    return fig


def plot_time_per_epoch(df: pd.DataFrame):
    """Time for one epoch vs batch size, log-log: the estimate ceil(N/B) x median update
    time as a line, measured epochs (where within the budget) as points."""
    d = df.sort_values("batch_size")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _draw_epoch(ax, d)
    _finish_log_log(fig, ax, "time for one epoch (s)",
                    f"Time per epoch (N = {int(d['n_train'].iloc[0])})\n{timing_device(d)}")
    _ticks(ax, d)
    return fig


def plot_timing(df: pd.DataFrame):
    """Both timing views side by side: time per update (parallel and sequential) and time per epoch."""
    d = df.sort_values("batch_size")
    fig, (ax_u, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    _draw_update(ax_u, d)
    _finish_log_log(fig, ax_u, "time for one update (s)", "Time per update")
    _draw_epoch(ax_e, d)
    _finish_log_log(fig, ax_e, "time for one epoch (s)", f"Time per epoch (N = {int(d['n_train'].iloc[0])})")
    for ax in (ax_u, ax_e):
        _ticks(ax, d)
    fig.suptitle(timing_device(d), fontsize=10)
    fig.tight_layout()
    return fig


def plot_noise_vs_batch(cells: pd.DataFrame):
    """Gradient noise vs batch size, one line per momentum (mean over seeds), log x.

    Left: cosine between a batch gradient and the full gradient: expected from the noise
    scale for batches drawn from the whole training set (cosine_expected_*), at the final
    (solid) and initial (dashed) weights, and sampled from the measured subset at the final
    weights (hollow circles). Without the expected columns the sampled ones are the lines.
    Right: the noise-to-signal ratio B_simple/B at the final weights (McCandlish et al.
    2018), log y.
    """
    need = ["batch_size", "momentum", "cosine_init", "cosine_final", "nsr_final"]
    missing = [c for c in need if c not in cells.columns]
    if missing:
        raise ValueError(f"plot_noise_vs_batch: the cell table lacks columns {missing}")
    expected = {"cosine_expected_final", "cosine_expected_init"} <= set(cells.columns)
    cols = need[2:] + (["cosine_expected_final", "cosine_expected_init"] if expected else [])
    line_final, line_init = ("cosine_expected_final", "cosine_expected_init") if expected else ("cosine_final",
                                                                                                "cosine_init")
    g = cells.groupby(["momentum", "batch_size"], as_index=False)[cols].mean(numeric_only=True)
    fig, (ax_c, ax_n) = plt.subplots(1, 2, figsize=(10, 4.2))
    for i, (lam, part) in enumerate(g.groupby("momentum")):
        part = part.sort_values("batch_size")
        color = f"C{i % 10}"
        ax_c.plot(part["batch_size"], part[line_final], "o-", color=color, label=f"λ = {lam:g}, final")
        ax_c.plot(part["batch_size"], part[line_init], "x--", color=color, alpha=0.6, label=f"λ = {lam:g}, init")
        if expected:
            ax_c.plot(part["batch_size"], part["cosine_final"], "o", markerfacecolor="none", markersize=9,
                      color=color, label=f"λ = {lam:g}, final, sampled on the subset")
        nsr = part["nsr_final"].to_numpy(dtype=float)
        ok = np.isfinite(nsr) & (nsr > 0)
        ax_n.plot(part["batch_size"].to_numpy()[ok], nsr[ok], "o-", color=color, label=f"λ = {lam:g}")
    ax_c.set_xscale("log")
    ax_c.set_ylim(-0.05, 1.05)
    ax_c.set_xlabel("batch size B")
    ax_c.set_ylabel("cos(batch gradient, full gradient)")
    ax_c.set_title("Batch gradient vs full gradient", fontsize=10)
    ax_c.legend(fontsize=7)
    ax_n.set_xscale("log")
    if (g["nsr_final"] > 0).any():
        ax_n.set_yscale("log")
    ax_n.set_xlabel("batch size B")
    ax_n.set_ylabel("noise-to-signal B_simple / B (final weights)")
    ax_n.set_title("Noise-to-signal ratio of a batch gradient", fontsize=10)
    ax_n.legend(fontsize=7)
    from batch_momentum.report.plots.style import batch_axis

    for ax in (ax_c, ax_n):
        batch_axis(ax, g["batch_size"], "batch size B")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
