"""The gradient-noise figure: how close a batch gradient is to the full gradient, and its
noise-to-signal ratio, against the batch size (matplotlib, Agg). Drawn from a tidy frame
(noise_frame, see style); returns a Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import LINE, MARKS, PANEL, Y, batch_axis, draw, measure_scale, points

COSINE, NSR = "cosine", "nsr"  # the panels
FINAL, INIT, SAMPLED = "final", "init", "sampled"  # the marks of the cosine panel
COSINE_MARKS = {
    FINAL: dict(fmt="o-", label="λ = {value:g}, final"),
    INIT: dict(fmt="x--", alpha=0.6, label="λ = {value:g}, init"),
    SAMPLED: dict(fmt="o", mfc="none", ms=9, label="λ = {value:g}, final, sampled on the subset"),
}
NSR_MARKS = {NSR: dict(MARKS[LINE], fmt="o-")}


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
    return pd.concat([*cosines, points(means, final.nsr, NSR, NSR)], ignore_index=True)


def plot_noise_vs_batch(cells: pd.DataFrame):
    """Gradient noise vs batch size, one colour per momentum (noise_frame), log x. Left: the cosine with
    the full gradient, final weights solid, initial dashed, sampled on the subset hollow. Right: the
    noise-to-signal ratio, log y where every value is positive."""
    frame = noise_frame(cells)
    fig, (ax_c, ax_n) = plt.subplots(1, 2, figsize=(10, 4.2))
    draw(ax_c, frame[frame[PANEL] == COSINE], marks=COSINE_MARKS)
    ax_c.set_ylim(-0.05, 1.05)
    ax_c.set_ylabel("cos(batch gradient, full gradient)")
    ax_c.set_title("Batch gradient vs full gradient", fontsize=10)
    nsr = frame[frame[PANEL] == NSR]
    draw(ax_n, nsr, marks=NSR_MARKS)
    ax_n.set_yscale(measure_scale(nsr[Y]))
    ax_n.set_ylabel("noise-to-signal B_simple / B (final weights)")
    ax_n.set_title("Noise-to-signal ratio of a batch gradient", fontsize=10)
    for ax in (ax_c, ax_n):
        batch_axis(ax, frame[T.BATCH_SIZE], "batch size B")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
