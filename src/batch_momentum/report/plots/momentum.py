"""Figures of the critical-point experiments (batch_momentum.critical).

Every function takes the momentum step's records (critical.records.CriticalResult) and returns a Figure,
λ coloured with the report's palette (style.lam_colors); nothing is saved or shown here. The surfaces
(contours, trajectories) are matplotlib, each line labelled with its λ; the escape fractions are a
seaborn mapping of escape_frame.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn.objects as so

from batch_momentum.analysis.momentum import end_1d
from batch_momentum.critical.records import CriticalResult, cells_frame
from batch_momentum.critical.surfaces import f1, f2
from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import NAMES, draw, lam_colors, named, palette

CASE = "title"
CASE_TITLES = {"saddle": "started on the 2-D saddle", "minimum": "started in the shallow 1-D minimum"}


def plot_surface_1d(result: CriticalResult):
    """f(x) with one trajectory per λ drawn on it (top, offset 0.12 per λ) and x^t against t (bottom)."""
    s1 = result.surface_1d
    col = lam_colors(result.lambdas)
    summary = {s.momentum: s for s in result.summary}
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 7), gridspec_kw={"height_ratios": [3, 2]})
    xs = np.linspace(-1.2, 3.5, 500)
    ax.plot(xs, f1(xs), color="0.25", lw=1.5, zorder=1)
    for k, run in enumerate(sorted(s1.runs, key=lambda r: r.momentum)):
        x = np.asarray(run.trajectory)[:, 0]  # (steps + 1,)
        c = col[run.momentum]
        # a small vertical offset per λ so that the balls do not hide each other
        ax.plot(x, f1(x) + 0.12 * k, "o-", ms=2.5, lw=0.6, alpha=0.6, color=c, label=end_1d(summary[run.momentum]))
        ax2.plot(np.arange(len(x)), x, color=c, lw=1.2, label=f"λ = {run.momentum:g}")
    for p in s1.critical_points:
        x = p.point[0]
        ax.plot([x], [p.value], "k*", ms=9, zorder=3)
        dy = 10 if p.kind == "local max" else -16
        ax.annotate(p.name, (x, p.value), textcoords="offset points", xytext=(0, dy), ha="center", fontsize=8)
        ax2.axhline(x, color="0.7", lw=0.6, ls=":")
    ax.set_ylim(-4.6, 2.5)
    ax.set(
        xlabel="x",
        ylabel="f(x)  (curves offset by 0.12 per λ)",
        title="1-D surface: GD stalls at the flat saddle, momentum rolls on",
    )
    ax.legend(fontsize=7, loc="lower left")
    ax2.set_xscale("symlog", linthresh=10)
    ax2.set(xlim=(0, result.config.steps_1d + 1), xlabel="step t", ylabel="x^t")
    fig.tight_layout()
    return fig


def plot_surface_2d(result: CriticalResult, show_noisy: bool = True):
    """Contours of f(x, y) = (x^2-1)^2/4 + y^2/2 with the offset run per λ (solid), the first
    noisy run from the stable manifold x = 0 (dashed), and the escape lines |x| = escape_radius."""
    s2 = result.surface_2d
    col = lam_colors(result.lambdas)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    gx, gy = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-1.2, 1.2, 240))
    cs = ax.contour(
        gx, gy, f2(np.stack([gx, gy], axis=-1)), levels=np.linspace(0.0, 1.2, 16), cmap="Greys", linewidths=0.7
    )
    ax.clabel(cs, cs.levels[::3], fontsize=6)
    for xv in (-s2.escape_radius, s2.escape_radius):
        ax.axvline(xv, color="tab:red", lw=0.7, ls=":")
    runs = sorted(s2.runs, key=lambda r: r.momentum)
    for k, r in enumerate(runs):
        c = col[r.momentum]
        tr = np.asarray(r.offset.trajectory)  # (steps + 1, 2)
        lw = 1.0 + 1.5 * (len(runs) - 1 - k) / max(1, len(runs) - 1)  # thicker below: paths overlap
        step = r.offset.first_escape_step
        ax.plot(
            tr[:, 0],
            tr[:, 1],
            "-",
            lw=lw,
            color=c,
            label=f"λ = {r.momentum:g}: escapes at step {step if step is not None else '—'}",
        )
        if show_noisy and r.noisy:
            trn = np.asarray(r.noisy[0].trajectory)
            ax.plot(trn[:, 0], trn[:, 1], "--", lw=0.9, color=c, alpha=0.8)
    for p in s2.critical_points:
        ax.plot(*p.point, "k*", ms=10)
        ax.annotate(p.name, p.point, textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    ax.set(xlabel="x (unstable direction at the saddle)", ylabel="y")
    ax.set_title("2-D saddle: solid = tiny offset off x = 0\ndashed = gradient noise started on x = 0", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


FRACTION, STEP = "escape_fraction", "median_escape_step"  # the two rows of plot_escape_fraction


def escape_frame(result: CriticalResult) -> pd.DataFrame:
    """One row per finite-sum cell (records.cells_frame: case, λ, B, escape_fraction, median_escape_step
    (NaN: no seed escaped), ...), CASE its title with the case's step budget and η."""
    fs = result.finite_sum
    titles = {fc.case: CASE_TITLES.get(fc.case, fc.case) + f" ({fc.steps} steps, η = {fc.lr:g})" for fc in fs.cases}
    frame = cells_frame(fs.cells).astype({STEP: float})
    return frame.assign(**{CASE: frame["case"].map(titles)}).sort_values([T.MOMENTUM, T.BATCH_SIZE], kind="stable")


def plot_escape_fraction(result: CriticalResult):
    """Finite-sum cases started at a critical point of the mean loss: top, the fraction of seeds that escape
    against B; bottom, the median step of escape among those that did (log). One column per case (in the
    order of finite_sum.cases), one line per λ."""
    fs = result.finite_sum
    frame = escape_frame(result)
    plot = (
        so.Plot(named(frame), x=T.BATCH_SIZE, color=NAMES[T.MOMENTUM])
        .pair(y=[FRACTION, STEP])
        .facet(col=CASE, order=list(dict.fromkeys(frame[CASE])))
        .add(so.Line(marker="o"))
        .scale(color=palette(frame, T.MOMENTUM))
        .limit(y0=(-0.05, 1.05))
        .label(
            x=f"batch size B (N = {fs.n}: full batch, never escapes)",
            y0=f"fraction of {fs.seeds} seeds that escape",
            y1="median escape step (escaped seeds)",
        )
    )
    fig = draw(plot, (5.2 * len(fs.cases) + 1.2, 6.5), batch=fs.batch_sizes)
    for ax in fig.axes[len(fs.cases) :]:  # the second row: median steps
        ax.set_yscale("log")
    fig.suptitle("Critical point of L = mean of l_n, but not of each l_n: only minibatches move", fontsize=11)
    return fig
