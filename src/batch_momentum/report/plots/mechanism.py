"""The mechanism's scatter: per λ, test accuracy against the primary sharpness measure (log axis) for every
candidate run of the equal-accuracy protocol at the target; colour = B (the page's palette), dot size = η,
the runs each seed kept ringed in black. A seaborn mapping of mechanism_frame."""

from __future__ import annotations

import pandas as pd
import seaborn.objects as so
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from batch_momentum.analysis.rows.mechanism import runs_at_target
from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import NAMES, PANEL, PER_ROW, X, Y, draw, facet_size, named, palette

KEPT = "kept"  # the run its seed kept (T.CHOSEN): the run of the Generalization and Sharp-vs-flat rows
ETA = "η"


def mechanism_frame(candidates: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per candidate at the target with a finite `column` (rows.mechanism.runs_at_target): X = the
    sharpness, Y = test accuracy, its λ, B, η, seed, KEPT and PANEL = "λ = …"."""
    runs = runs_at_target(candidates, column)
    return pd.DataFrame(
        {
            PANEL: runs[T.MOMENTUM].map("λ = {:g}".format),
            T.MOMENTUM: runs[T.MOMENTUM].astype(float),
            T.BATCH_SIZE: runs[T.BATCH_SIZE].astype(int),
            ETA: runs[T.LR].astype(float),
            T.SEED: runs[T.SEED],
            X: runs[column].astype(float),
            Y: runs[T.TEST_ACC].astype(float),
            KEPT: runs[T.CHOSEN].fillna(False).astype(bool) if T.CHOSEN in runs else False,
        }
    ).reset_index(drop=True)


def plot_mechanism(frame: pd.DataFrame, label: str) -> Figure:
    """One panel per λ: the frame's dots at (sharpness, test accuracy), log x axis, colour = B, size = η (log
    scale), the kept runs ringed in black."""
    panels = sorted(frame[PANEL].unique(), key=lambda p: float(p.split("=")[1]))
    f = named(frame)
    plot = (
        so.Plot(f, x=X, y=Y, color=NAMES[T.BATCH_SIZE], pointsize=ETA)
        .add(so.Dot(alpha=0.7, edgewidth=0))
        .scale(color=palette(frame, T.BATCH_SIZE), pointsize=so.Continuous((3, 10), trans="log"))
        .facet(col=PANEL, order=panels, wrap=PER_ROW)
        .share(x=False)
        .label(x=f"{label} (log)", y="test accuracy", title=str)
    )
    fig = draw(plot, facet_size(len(panels), (3.8, 3.3)), logx=True)
    for ax, panel in zip(fig.axes, panels):  # the rings in matplotlib: seaborn 0.13.2 drops a layer's own
        kept = frame[(frame[PANEL] == panel) & frame[KEPT]]  # data when the layer unmaps the colour
        ax.scatter(kept[X], kept[Y], s=110, facecolors="none", edgecolors="black", linewidths=1.2, zorder=5)
    ring = Line2D([], [], marker="o", ls="", mfc="none", mec="black", ms=10, label="kept by its seed")
    fig.axes[0].legend(handles=[ring], loc="lower left", fontsize=8)
    return fig
