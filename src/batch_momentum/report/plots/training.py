"""Figures of the training runs: accuracy after the epoch budget, training curves, time to
accuracy (the grid), and the small vs large batch at equal training accuracy (the protocol).
Each figure is drawn from a tidy frame (*_frame, see style) and returned as a matplotlib Figure;
the caller saves or embeds it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd

from batch_momentum.analysis.stats import counted
from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import (
    FAILED,
    LINE,
    MARK,
    MARKS,
    NEVER,
    PANEL,
    RUN,
    SHORT,
    X,
    Y,
    batch_axis,
    batch_color,
    draw,
    facets,
    legend_below,
    measure_scale,
    points,
    summary,
)
from batch_momentum.training.status import Status

OK = Status.OK.value
SPLIT_TITLES = {T.TRAIN_ACC: "train accuracy after the budget", T.TEST_ACC: "test accuracy after the budget"}


def final_accuracy_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The points of plot_final_accuracy, per split (PANEL = train_acc, test_acc): every run that trained
    (RUN) or did not (FAILED) at its accuracy, and per (λ, B) the mean of those that trained (LINE).
    Diverged runs have no meaningful accuracy and are left out."""
    marks = table[T.STATUS].map({OK: RUN, Status.DID_NOT_TRAIN.value: FAILED})
    runs = pd.concat([points(table, split, split, marks) for split in SPLIT_TITLES], ignore_index=True)
    return pd.concat([summary(runs, [RUN]), runs], ignore_index=True)


def plot_final_accuracy(table: pd.DataFrame):
    """Training and test accuracy after the epoch budget against B, one line per λ (mean over the
    runs with status ok); every run a dot, runs that did not train drawn as crosses."""
    frame = final_accuracy_frame(table)
    fig, axes = facets(2, width=5.0, height=3.6, sharey=True)
    for ax, (split, title) in zip(axes, SPLIT_TITLES.items()):
        draw(ax, frame[frame[PANEL] == split])
        batch_axis(ax, table[T.BATCH_SIZE])
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("accuracy")
        ax.grid(True, alpha=0.3)
    legend_below(fig, axes)
    return fig


def curves_frame(curves: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The lines of plot_curves: one row per run and epoch, PANEL = λ, X = epoch, Y = training accuracy,
    with the run's B, cell and status (a run missing from the table counts as ok)."""
    status = curves[T.CELL].map(table.set_index(T.CELL)[T.STATUS]).fillna(OK)
    return pd.DataFrame(
        {
            PANEL: curves[T.MOMENTUM],
            T.CELL: curves[T.CELL],
            T.BATCH_SIZE: curves[T.BATCH_SIZE],
            X: curves[T.EPOCH],
            Y: curves[T.TRAIN_ACC],
            T.STATUS: status,
        }
    )


def plot_curves(curves: pd.DataFrame, table: pd.DataFrame):
    """Training accuracy per epoch, one panel per λ, one line per run coloured by B; runs that did not
    train or diverged are dashed."""
    frame = curves_frame(curves, table)
    lams = sorted(frame[PANEL].unique())
    fig, axes = facets(len(lams), sharey=True)
    for ax, lam in zip(axes, lams):
        at = frame[frame[PANEL] == lam]
        for (b, failed, _), run in at.groupby([T.BATCH_SIZE, at[T.STATUS] != OK, T.CELL]):  # per B, solid first
            ax.plot(
                run[X],
                run[Y],
                "--" if failed else "-",
                color=batch_color(b),
                lw=1.0 if failed else 1.2,
                label=f"B = {b}",
            )
        ax.set_title(f"λ = {lam:g}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("training accuracy")
    legend_below(fig, axes)
    return fig


def level_title(measure: str, level: float) -> str:
    return f"{100 * level:.0f}% {'training' if measure == T.TRAIN_ACC else 'validation'} accuracy"


def time_to_accuracy_frame(tta: pd.DataFrame) -> pd.DataFrame:
    """The points of plot_time_to_accuracy, per accuracy level (PANEL = its title; validation levels first,
    then training, each rising): per (λ, B) the median over seeds of the seconds until a run first
    reached it (LINE, NaN where no seed did) and, where no seed did, a NEVER point at twice the longest time."""
    t = tta.sort_values([T.MEASURE, T.LEVEL], ascending=[False, True], kind="stable")
    titles = [level_title(m, lv) for m, lv in zip(t[T.MEASURE], t[T.LEVEL])]
    line = summary(points(t, T.WALL_S, titles, RUN), [RUN], "median")
    top = tta[T.WALL_S].max() * 2 if tta[T.WALL_S].notna().any() else 1.0
    never = line[line[Y].isna()].assign(**{Y: top, MARK: NEVER})
    return pd.concat([line, never], ignore_index=True)


def plot_time_to_accuracy(tta: pd.DataFrame):
    """Wall-clock seconds of the training job until a run first reached each accuracy level, against
    B, one panel per level, one line per λ (median over seeds); a level never reached is a triangle
    on the panel's top edge."""
    frame = time_to_accuracy_frame(tta)
    marks = {LINE: dict(MARKS[LINE], fmt="o-"), NEVER: MARKS[NEVER]}
    panels = frame[PANEL].unique()
    fig, axes = facets(len(panels), sharey=True)
    for ax, title in zip(axes, panels):
        draw(ax, frame[frame[PANEL] == title], marks=marks)
        batch_axis(ax, tta[T.BATCH_SIZE])
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds to reach it (log)")
    legend_below(fig, axes)
    return fig


def equal_runs_frame(equal: pd.DataFrame, columns, sizes: tuple[int, int]) -> pd.DataFrame:
    """The points of plot_equal_runs, per measure (PANEL = its column): every run of the two sizes at
    X = its λ's rank ∓ 0.18 (small batch left, large right), RUN when it counts (status ok, at the
    target) and SHORT when not, and per (λ, B) the mean of the runs that count (LINE)."""
    lams = sorted(equal[T.MOMENTUM].unique())
    runs = equal[equal[T.BATCH_SIZE].isin(sizes)]
    x = runs[T.MOMENTUM].map(lams.index) + runs[T.BATCH_SIZE].map({sizes[0]: -0.18, sizes[1]: 0.18})
    marks = np.where(counted(runs), RUN, SHORT)
    frame = pd.concat([points(runs, col, col, marks, x=x) for col in columns], ignore_index=True)
    return pd.concat([summary(frame, [RUN]), frame], ignore_index=True)


def plot_equal_runs(equal: pd.DataFrame, measures: list[tuple[str, str]], sizes: tuple[int, int]):
    """The equal-accuracy protocol at a glance: one panel per measure (test accuracy first), per λ the
    small (left) and the large (right) batch in their colours, each seed a dot with the mean as a bar;
    runs that did not reach the target are hollow and left out of the mean. Positive measures get log axes."""
    frame = equal_runs_frame(equal, [col for col, _ in measures], sizes)
    lams = sorted(equal[T.MOMENTUM].unique())
    marks = {
        RUN: dict(MARKS[RUN], ms=4.5, alpha=1.0, label="{var} = {value:g}"),
        SHORT: dict(MARKS[SHORT], label="short of the target (left out)"),
    }
    fig, axes = facets(len(measures), width=3.2, height=3.4)
    for ax, (col, label) in zip(axes, measures):
        at = frame[frame[PANEL] == col]
        draw(ax, at, hue=T.BATCH_SIZE, marks=marks)
        for _, r in at[at[MARK] == LINE].iterrows():
            ax.plot([r[X] - 0.12, r[X] + 0.12], [r[Y]] * 2, "-", color=batch_color(r[T.BATCH_SIZE]), lw=2)
        ax.set_xticks(range(len(lams)), [f"λ={lam:g}" for lam in lams])
        ax.set_xlim(-0.6, len(lams) - 0.4)
        ax.set_yscale(measure_scale(at[Y], col))
        ax.set_title(label, fontsize=9)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    legend_below(fig, axes)
    return fig
