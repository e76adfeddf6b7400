"""The optimization section: the same epoch budget for every batch size."""

from __future__ import annotations

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis.formats import secs
from batch_momentum.io import status
from batch_momentum.io import tables as T
from batch_momentum.report.plots import training as training_plots
from batch_momentum.report.sections.common import html_table


def time_to_accuracy_table(tta: pd.DataFrame) -> pd.DataFrame:
    """Time to accuracy at a glance: one row per accuracy level and λ (levels in the figure's order:
    validation first, then training, each rising), one column per B. A cell is the median over the seeds
    that reached the level of the training job's wall-clock time and updates until it first did, with
    "(k of n seeds)" where not every seed did, and "never" where none did."""
    g = (
        tta.groupby([T.MEASURE, T.LEVEL, T.MOMENTUM, T.BATCH_SIZE])
        .agg(
            seeds=(T.SEED, "size"),
            reached=(T.WALL_S, "count"),
            updates=(T.UPDATES, "median"),
            wall_s=(T.WALL_S, "median"),
        )
        .reset_index()
        .sort_values([T.MEASURE, T.LEVEL, T.MOMENTUM, T.BATCH_SIZE], ascending=[False, True, True, True])
    )
    titles = [training_plots.level_title(m, lv) for m, lv in zip(g[T.MEASURE], g[T.LEVEL])]
    g["accuracy"] = pd.Categorical(titles, categories=list(dict.fromkeys(titles)), ordered=True)

    def cell(r) -> str:
        if not r.reached:
            return "never"
        some = "" if r.reached == r.seeds else f" ({r.reached} of {r.seeds} seeds)"
        return f"{secs(r.wall_s)}, {r.updates:.0f} updates{some}"

    g["cell"] = [cell(r) for r in g.itertuples()]
    wide = g.pivot(index=["accuracy", T.MOMENTUM], columns=T.BATCH_SIZE, values="cell")
    wide.columns = [f"B = {b}" for b in wide.columns]
    return wide.reset_index().rename(columns={T.MOMENTUM: "λ"}).astype({"accuracy": str})


def optimization_section(params: config.Params, table: pd.DataFrame, curves: pd.DataFrame, tta: pd.DataFrame) -> dict:
    t = params.train
    return dict(
        id="optimization",
        title="Optimization: the same epoch budget for every batch size",
        text=f"Every cell of the grid trains for at most {t.max_epochs} epochs at η = {t.lr:g} "
        f"('{t.lr_rule}' rule) and stops early at {t.target_train_acc} training accuracy. A run "
        f"'did not train' when its training accuracy ended within {status.NO_GAIN * 100:g} points of "
        "where it started, or "
        "when the second half of its epochs did not lower the training loss below the first half's "
        "lowest (it got stuck or fell back); such runs are drawn dashed or as crosses and left out of "
        "every verdict, like diverged runs. Time to accuracy is the wall-clock time of the training "
        "job, which trains a cell's seeds together as one stacked network; the table gives it per level, λ "
        "and B (median over the seeds that got there, and how many did).",
        html=html_table(time_to_accuracy_table(tta)),
        figures=[
            dict(
                name="accuracy_vs_batch",
                fig=training_plots.plot_final_accuracy(table),
                caption="Accuracy after the epoch budget against B, one line per λ (mean of the runs "
                "that trained; dots: runs). What to see: training accuracy falls as B grows "
                "under one epoch budget.",
            ),
            dict(
                name="curves_by_epoch",
                fig=training_plots.plot_curves(curves, table),
                caption="Training accuracy per epoch, one panel per λ, one line per run (dashed: did "
                "not train or diverged).",
            ),
            dict(
                name="time_to_accuracy",
                fig=training_plots.plot_time_to_accuracy(tta),
                caption="Wall-clock time until a run first reached each accuracy level, against B "
                "(median over seeds; triangle on the top edge: never within the budget). "
                "What to see: the batch size that gets there first.",
            ),
        ],
    )
