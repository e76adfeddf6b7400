"""Figures for sharpness, interpolation and 1-D landscape curves (return Figures; no I/O).

* plot_sharpness_vs_batch: a sharpness measure (ε-sharpness, Keskar et al. 2017 Metric
  2.1; top Hessian eigenvalue; Hessian trace) against batch size, one line per momentum.
* plot_interpolation: Keskar et al. 2017 Figure 3 — loss (left axis) and accuracy (right
  axis) along θ(α) = α·θ_LB + (1−α)·θ_SB, train solid, test dashed.
* plot_direction_curves: f(θ + t·d) along filter-normalized directions (Li et al. 2018).
"""
from __future__ import annotations

from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from batch_momentum.analysis import stats  # noqa: E402


def plot_sharpness_vs_batch(df: pd.DataFrame, column: str, ylabel: str, logy: bool | None = None) -> Figure:
    """One line per momentum: mean of `column` over seeds vs batch_size (log2 x axis),
    band = min..max over seeds. df: one row per cell (batch_size, momentum, seed, column);
    rows with a missing or non-finite value (diverged cells) are left out.
    logy: None = log y axis when every value is > 0 (Keskar's φ spans orders of magnitude)."""
    missing = {"batch_size", "momentum", column} - set(df.columns)
    if missing:
        raise ValueError(f"plot_sharpness_vs_batch: df lacks columns {sorted(missing)}; it has {list(df.columns)}")
    df = df[np.isfinite(df[column].astype(float))]
    fig, ax = plt.subplots(figsize=(6, 4))
    moms = sorted(df["momentum"].unique())
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(moms), 1)))
    for mom, color in zip(moms, colors):
        g = df[df["momentum"] == mom].groupby("batch_size")[column].agg(["mean", "min", "max"]).sort_index()
        bs = g.index.to_numpy(dtype=float)
        ax.plot(bs, g["mean"], marker="o", color=color, label=f"momentum λ = {mom:g}")
        ax.fill_between(bs, g["min"], g["max"], color=color, alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    if logy is None:
        logy = len(df) > 0 and bool((df[column] > 0).all())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if moms:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_interpolation(curve: Mapping[str, list], title: str = "") -> Figure:
    """Keskar et al. 2017 Figure 3: loss (left axis, blue) and accuracy (right axis, red)
    along α; train solid, test dashed (other splits dotted). curve: output of
    landscape.interpolate ({"alpha", "<split>_loss", "<split>_acc"})."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax2 = ax.twinx()
    alpha = curve["alpha"]
    splits = [k[: -len("_loss")] for k in curve if k.endswith("_loss")]
    styles = {"train": "-", "test": "--"}
    for s in splits:
        ls = styles.get(s, ":")
        ax.plot(alpha, curve[f"{s}_loss"], ls, color="tab:blue", label=f"{s} loss")
        if f"{s}_acc" in curve:
            ax2.plot(alpha, curve[f"{s}_acc"], ls, color="tab:red", label=f"{s} accuracy")
    ax.set_xlabel("α  (0: small batch, 1: large batch)")
    ax.set_ylabel("cross-entropy", color="tab:blue")
    ax2.set_ylabel("accuracy", color="tab:red")
    ax.set_title(title)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [l.get_label() for l in lines], fontsize=8, loc="upper center")
    fig.tight_layout()
    return fig


def plot_direction_curves(curves: Mapping[str, Mapping[str, list]]) -> Figure:
    """Overlay of 1-D curves loss vs t, one per label (landscape.direction_curve outputs)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, c in curves.items():
        ax.plot(c["t"], c["loss"], label=str(label))
    ax.set_xlabel("t  (θ + t·d, d filter-normalized)")
    ax.set_ylabel("training loss")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sharpness_grid(df: pd.DataFrame, measures: list[tuple[str, str]]) -> Figure:
    """Every sharpness measure of the grid's runs against B, one panel per measure, one line per λ
    through the runs with status ok (mean); runs at the training-accuracy target filled, runs that
    stopped short of it hollow: their "sharpness" describes where the budget left them, not a minimum.
    Runs that diverged or did not train are left out. Log y axes."""
    from batch_momentum.report.plots.style import batch_axis, facets, lam_colors, legend_below

    ok = df[df.status == "ok"]
    at = stats.at_target(ok)
    colors = lam_colors(df.momentum)
    fig, axes = facets(len(measures), width=3.6, height=3.3)
    for ax, (col, label) in zip(axes, measures):
        for lam, c in colors.items():
            sel = ok.momentum == lam
            g = ok[sel].groupby("batch_size")[col].mean()
            ax.plot(g.index, g.values, "-", color=c, label=f"λ = {lam:g}")
            ax.plot(ok[sel & at].batch_size, ok[sel & at][col], "o", color=c, ms=4)
            ax.plot(ok[sel & ~at].batch_size, ok[sel & ~at][col], "o", color=c, ms=5, mfc="none",
                    label="short of the target")
        batch_axis(ax, df.batch_size, "batch size B")
        vals = ok[col].to_numpy(dtype=float)
        if np.isfinite(vals).any() and (vals[np.isfinite(vals)] > 0).all():
            ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    legend_below(fig, axes)
    return fig


def plot_interpolations(curves: list[Mapping[str, list]]) -> Figure:
    """Keskar et al. 2017 Figure 3, one panel per λ: loss (log axis, blue) and accuracy (red) along
    θ(α) = α·θ_LB + (1−α)·θ_SB between runs of one seed, train solid, test dashed."""
    from batch_momentum.report.plots.style import facets, legend_below

    curves = [c for c in curves if c.get("alpha")]
    fig, axes = facets(max(len(curves), 1), width=4.2, height=3.4)
    twins = []
    for ax, c in zip(axes, curves):
        ax2 = ax.twinx()
        twins.append(ax2)
        for split, ls in (("train", "-"), ("test", "--")):
            if f"{split}_loss" in c:
                ax.plot(c["alpha"], c[f"{split}_loss"], ls, color="tab:blue", label=f"{split} loss")
            if f"{split}_acc" in c:
                ax2.plot(c["alpha"], c[f"{split}_acc"], ls, color="tab:red", label=f"{split} accuracy")
        ax.set_yscale("log")
        ax.axvline(0, color="0.6", lw=0.8)
        ax.axvline(1, color="0.6", lw=0.8)
        ax.set_xlabel("α (0: small batch, 1: large batch)")
        ax.set_title(f"λ = {c['momentum']:g}, seed {c['seed']}", fontsize=10)
        ax2.set_ylim(0, 1.02)
    axes[0].set_ylabel("cross-entropy (log)", color="tab:blue")
    if twins:
        twins[-1].set_ylabel("accuracy", color="tab:red")
    legend_below(fig, axes + twins)
    return fig


def plot_directions_by_lambda(directions: pd.DataFrame, sizes: tuple[int, int], seed: int) -> Figure:
    """Training loss along a filter-normalized random direction (Li et al. 2018) through the final
    weights of the small and the large batch, one panel per λ, one seed; log loss axis."""
    from batch_momentum.report.plots.style import facets, legend_below

    lams = sorted(directions.momentum.unique())
    fig, axes = facets(max(len(lams), 1), width=3.8, height=3.2, sharey=True)
    for ax, lam in zip(axes, lams):
        for b, color in zip(sizes, ("tab:blue", "tab:red")):
            d = directions[(directions.momentum == lam) & (directions.batch_size == b) & (directions.seed == seed)]
            if len(d):
                ax.plot(d.t, d.loss, color=color, label=f"B = {b}")
        ax.set_yscale("log")
        ax.set_xlabel("t (θ + t·d)")
        ax.set_title(f"λ = {lam:g}, seed {seed}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("training loss (log)")
    legend_below(fig, axes)
    return fig
