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
