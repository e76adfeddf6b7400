"""Figures of the sharp-vs-flat section: measures vs batch size and the 1-D curves."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def plot_sharpness_vs_batch(df: pd.DataFrame, column: str, ylabel: str):
    """One line per λ (mean over seeds, band = range over seeds), log2 batch-size axis."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sns.lineplot(data=df[df[column].notna()], x="batch_size", y=column, hue="momentum", palette="viridis",
                 marker="o", errorbar=("pi", 100), ax=ax)
    ax.set_xscale("log", base=2)
    if (df[column].dropna() > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("batch size B (log scale)")
    ax.set_ylabel(ylabel)
    ax.legend(title="λ")
    fig.tight_layout()
    return fig


def plot_interpolation(curve: dict, title: str):
    """Keskar et al. 2017, Figure 3: loss (left axis) and accuracy (right axis) along alpha;
    train solid, test dashed; alpha = 0 is the small-batch, alpha = 1 the large-batch solution."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    acc = ax.twinx()
    for split, style in (("train", "-"), ("test", "--")):
        ax.plot(curve["alpha"], curve[f"{split}_loss"], style, color="tab:blue", label=f"{split} loss")
        acc.plot(curve["alpha"], curve[f"{split}_acc"], style, color="tab:red", label=f"{split} accuracy")
    ax.set_yscale("log")
    ax.set_xlabel("α")
    ax.set_ylabel("cross-entropy (log scale)", color="tab:blue")
    acc.set_ylabel("accuracy", color="tab:red")
    for a in (0, 1):
        ax.axvline(a, color="0.7", lw=0.8)
    lines = ax.get_legend_handles_labels()
    more = acc.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper center")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_direction_curves(curves: dict):
    """Training loss along a filter-normalized direction, one line per label."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, c in curves.items():
        ax.plot(c["t"], c["loss"], marker=".", label=label)
    ax.set_xlabel("t (step along the filter-normalized direction)")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.tight_layout()
    return fig
