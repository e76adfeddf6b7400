"""Figures of the training runs: accuracy after the epoch budget, training curves, time to
accuracy (the grid), and the small vs large batch at equal training accuracy (the protocol).
Each function returns a matplotlib Figure; the caller saves or embeds it."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from batch_momentum.report.plots.style import batch_axis, batch_colors, facets, lam_colors, legend_below  # noqa: E402
from batch_momentum.analysis.stats import counted  # noqa: E402


def plot_final_accuracy(table: pd.DataFrame):
    """Training and test accuracy after the epoch budget against B, one line per λ (mean over the
    runs with status ok); every run a dot, runs that did not train drawn as crosses (diverged runs
    have no meaningful accuracy and are left out)."""
    colors = lam_colors(table.momentum)
    fig, axes = facets(2, width=5.0, height=3.6, sharey=True)
    for ax, split in zip(axes, ("train", "test")):
        for lam, c in colors.items():
            at = table[table.momentum == lam]
            ok = at[at.status == "ok"]
            mean = ok.groupby("batch_size")[f"{split}_acc"].mean()
            ax.plot(mean.index, mean.values, "-", color=c, label=f"λ = {lam:g}")
            ax.plot(ok.batch_size, ok[f"{split}_acc"], "o", color=c, ms=3.5, alpha=0.7)
            bad = at[at.status == "did not train"]
            if len(bad):
                ax.plot(bad.batch_size, bad[f"{split}_acc"], "x", color=c, ms=7, mew=1.8,
                        label="did not train (left out)")
        batch_axis(ax, table.batch_size)
        ax.set_title(f"{split} accuracy after the budget", fontsize=10)
        ax.set_ylabel("accuracy")
        ax.grid(True, alpha=0.3)
    legend_below(fig, axes)
    return fig


def plot_curves(curves: pd.DataFrame, table: pd.DataFrame):
    """Training accuracy per epoch, one panel per λ, one line per run coloured by B; runs that did not
    train or diverged are dashed."""
    lams = sorted(curves.momentum.unique())
    colors = batch_colors(curves.batch_size)
    status = table.set_index("cell").status
    fig, axes = facets(len(lams), sharey=True)
    for ax, lam in zip(axes, lams):
        for cell, c in curves[curves.momentum == lam].groupby("cell"):
            b = int(c.batch_size.iloc[0])
            good = status.get(cell, "ok") == "ok"
            ax.plot(c.epoch, c.train_acc, "-" if good else "--", color=colors[b], lw=1.2 if good else 1.0,
                    label=f"B = {b}")
        ax.set_title(f"λ = {lam:g}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("training accuracy")
    legend_below(fig, axes)
    return fig


def plot_time_to_accuracy(tta: pd.DataFrame):
    """Wall-clock seconds of the training job until a run first reached each accuracy level, against
    B, one panel per level, one line per λ (median over seeds); a level never reached is a triangle
    on the panel's top edge."""
    levels = tta[["measure", "level"]].drop_duplicates().sort_values(["measure", "level"], ascending=[False, True])
    colors = lam_colors(tta.momentum)
    fig, axes = facets(len(levels), sharey=True)
    top = tta.wall_s.max() * 2 if tta.wall_s.notna().any() else 1.0
    for ax, (_, lv) in zip(axes, levels.iterrows()):
        at = tta[(tta.measure == lv.measure) & (tta.level == lv.level)]
        for lam, c in colors.items():
            g = at[at.momentum == lam].groupby("batch_size").wall_s.median()
            ax.plot(g.index, g.values, "o-", color=c, label=f"λ = {lam:g}")
            never = g[g.isna()].index
            ax.plot(never, [top] * len(never), "^", color=c, ms=8, mfc="none")
        batch_axis(ax, tta.batch_size)
        ax.set_yscale("log")
        what = "training" if lv.measure == "train_acc" else "validation"
        ax.set_title(f"{100 * lv.level:.0f}% {what} accuracy", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[-1].plot([], [], "^", color="0.4", ms=8, mfc="none", label="never reached")
    axes[0].set_ylabel("seconds to reach it (log)")
    legend_below(fig, axes)
    return fig


def plot_equal_runs(equal: pd.DataFrame, measures: list[tuple[str, str]], sizes: tuple[int, int]):
    """The equal-accuracy protocol at a glance: one panel per measure (test accuracy first), per λ the
    small (left) and the large (right) batch, each seed a dot with the mean as a bar; runs that did
    not reach the target are hollow and left out of the mean. Sharpness panels have log axes."""
    fig, axes = facets(len(measures), width=3.2, height=3.4)
    lams = sorted(equal.momentum.unique())
    side_color = {sizes[0]: "tab:blue", sizes[1]: "tab:red"}
    good = counted(equal)
    for ax, (col, label) in zip(axes, measures):
        for i, lam in enumerate(lams):
            for k, b in enumerate(sizes):
                x = i + (k - 0.5) * 0.36
                sel = (equal.momentum == lam) & (equal.batch_size == b)
                on, off = equal[sel & good][col], equal[sel & ~good][col]
                ax.plot(np.full(len(on), x), on, "o", color=side_color[b], ms=4.5, label=f"B = {b}")
                if len(off):
                    ax.plot(np.full(len(off), x), off, "o", mfc="none", color=side_color[b], ms=5,
                            label="short of the target (left out)")
                if len(on):
                    ax.plot([x - 0.12, x + 0.12], [on.mean()] * 2, "-", color=side_color[b], lw=2)
        ax.set_xticks(range(len(lams)))
        ax.set_xticklabels([f"λ={lam:g}" for lam in lams])
        ax.set_xlim(-0.6, len(lams) - 0.4)
        vals = equal[col].to_numpy(dtype=float)
        if col != "test_acc" and np.isfinite(vals).any() and (vals[np.isfinite(vals)] > 0).all():
            ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    legend_below(fig, axes)
    return fig
