"""Figures of the training runs: accuracy after the epoch budget, training curves, time to accuracy (the
grid), and the small vs large batch at equal training accuracy (the protocol). Each is a seaborn mapping
of the tidy frame its *_frame function builds (see style); each returns a Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn.objects as so

from batch_momentum.analysis.stats import counted
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.report.plots.style import (
    FAILED,
    MARK,
    NAMES,
    NEVER,
    PANEL,
    PER_ROW,
    RUN,
    SHORT,
    X,
    Y,
    draw,
    facet_size,
    named,
    palette,
    panel_scales,
    points,
    runs_and_line,
    summary,
)

OK = Status.OK.value
LINESTYLES = {RUN: "-", FAILED: "--"}  # a curve of a run that did not train or diverged: dashed
SPLIT_TITLES = {T.TRAIN_ACC: "train accuracy after the budget", T.TEST_ACC: "test accuracy after the budget"}


def final_accuracy_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The points of plot_final_accuracy, per split (PANEL = train_acc, test_acc): every run that trained
    (RUN) or did not (FAILED) at its accuracy, and per (λ, B) the mean of those that trained (LINE).
    Diverged runs have no meaningful accuracy and are left out."""
    marks = table[T.STATUS].map({OK: RUN, Status.DID_NOT_TRAIN.value: FAILED})
    runs = pd.concat([points(table, split, split, marks) for split in SPLIT_TITLES], ignore_index=True)
    return pd.concat([summary(runs, [RUN]), runs], ignore_index=True)


def plot_final_accuracy(table: pd.DataFrame):
    """Training and test accuracy after the epoch budget against B, one line per λ (mean over the runs
    with status ok); every run a dot, runs that did not train crosses."""
    frame = final_accuracy_frame(table)
    plot = runs_and_line(frame).facet(col=PANEL, order=list(SPLIT_TITLES))
    return draw(
        plot.label(x="batch size B (log scale)", y="accuracy", title=SPLIT_TITLES.get), (10, 3.8), batch=frame[X]
    )


def curves_frame(curves: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The lines of plot_curves: one row per run and epoch, PANEL = λ, X = epoch, Y = training accuracy,
    with the run's B, cell and status (a run missing from the table counts as ok), MARK = RUN when ok and
    FAILED (dashed) when it did not train or diverged."""
    status = curves[T.CELL].map(table.set_index(T.CELL)[T.STATUS]).fillna(OK)
    return pd.DataFrame(
        {
            PANEL: curves[T.MOMENTUM],
            T.CELL: curves[T.CELL],
            T.BATCH_SIZE: curves[T.BATCH_SIZE],
            X: curves[T.EPOCH],
            Y: curves[T.TRAIN_ACC],
            T.STATUS: status,
            MARK: np.where(status == OK, RUN, FAILED),
        }
    )


def plot_curves(curves: pd.DataFrame, table: pd.DataFrame):
    """Training accuracy per epoch, one panel per λ, one line per run coloured by B; runs that did not
    train or diverged are dashed."""
    frame = curves_frame(curves, table)
    plot = (
        so.Plot(named(frame), x=X, y=Y, color=NAMES[T.BATCH_SIZE], linestyle=MARK, group=T.CELL)
        .add(so.Line(linewidth=1.2))
        .facet(col=PANEL, wrap=PER_ROW)
        .scale(color=palette(frame, T.BATCH_SIZE), linestyle=LINESTYLES)
        .label(x="epoch", y="training accuracy", linestyle="", title=lambda v: f"λ = {float(v):g}")
    )
    return draw(plot, facet_size(frame[PANEL].nunique(), (4.0, 3.4)))


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
    """Wall-clock seconds of the training job until a run first reached each accuracy level, against B, one
    panel per level, one line per λ (median over seeds); a level never reached is a hollow triangle on top."""
    frame = time_to_accuracy_frame(tta)
    panels = list(frame[PANEL].unique())
    plot = runs_and_line(frame, dots=so.Dot(pointsize=8)).facet(col=PANEL, order=panels, wrap=PER_ROW)
    plot = plot.label(x="batch size B", y="seconds to reach it (log)")
    return draw(plot, facet_size(len(panels), (4.0, 3.4)), batch=frame[X], logy=True)


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
    """The equal-accuracy protocol at a glance: one panel per measure (test accuracy first), per λ the small
    (left) and the large (right) batch in their colours, each seed a dot and the mean a bar; runs short of
    the target are hollow and left out of the mean. Positive measures get log axes."""
    frame = equal_runs_frame(equal, [col for col, _ in measures], sizes)
    lams = sorted(equal[T.MOMENTUM].unique())
    ticks = so.Continuous().tick(at=list(range(len(lams)))).label(like=lambda x, _: f"λ={lams[round(x)]:g}")
    plot = (
        runs_and_line(frame, hue=T.BATCH_SIZE, line=so.Dash(width=0.6, linewidth=2))
        .facet(col=PANEL, order=[col for col, _ in measures], wrap=PER_ROW)
        .share(y=False)
        .scale(x=ticks)
        .limit(x=(-0.6, len(lams) - 0.4))
        .label(x="", y="", title=dict(measures).get)
    )
    fig = draw(plot, facet_size(len(measures), (3.2, 3.4)))
    panel_scales(fig, frame, [col for col, _ in measures])
    return fig
