"""What every figure of the report shares: colours per λ, a batch-size axis ticked at the grid's
sizes, and how a run that did not count (did not reach the target, did not train, diverged) is drawn."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402


def lam_colors(lams) -> dict:
    lams = sorted(set(float(v) for v in lams))
    cmap = plt.cm.viridis(np.linspace(0, 0.85, max(len(lams), 1)))
    return {lam: cmap[i] for i, lam in enumerate(lams)}


def batch_colors(sizes) -> dict:
    sizes = sorted(set(int(v) for v in sizes))
    cmap = plt.cm.magma(np.linspace(0.15, 0.8, max(len(sizes), 1)))
    return {b: cmap[i] for i, b in enumerate(sizes)}


def batch_axis(ax, sizes, label: str = "batch size B (log scale)") -> None:
    """A log x axis with one tick per batch size of the grid, labelled with the size itself."""
    sizes = sorted(set(int(v) for v in sizes))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(b) for b in sizes])
    ax.set_xlabel(label)


def facets(n: int, width: float = 4.0, height: float = 3.3, sharey: bool = False, ncols: int = 4):
    """n panels, at most ncols to a row; the axes in reading order (unused ones hidden)."""
    cols = min(n, ncols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 0.6, height * rows), squeeze=False, sharey=sharey)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend_below(fig, axes, ncol: int = 6) -> None:
    """One legend for the whole figure, under it, from the handles of all axes (duplicates once)."""
    seen = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    if seen:
        fig.legend(list(seen.values()), list(seen.keys()), loc="lower center", ncol=min(ncol, len(seen)),
                   fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    else:
        fig.tight_layout()
