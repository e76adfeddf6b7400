"""The optimization section: the same epoch budget for every batch size."""

from __future__ import annotations

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis.formats import secs
from batch_momentum.io import tables as T
from batch_momentum.report.plots import training as training_plots
from batch_momentum.report.sections.common import html_table
from batch_momentum.training import status


def optimization_section(params: config.Params, table: pd.DataFrame, curves: pd.DataFrame, tta: pd.DataFrame) -> dict:
    t = params.train
    summary = (
        tta.groupby([T.MEASURE, T.LEVEL, T.MOMENTUM, T.BATCH_SIZE])
        .agg(
            seeds=(T.SEED, "size"),
            reached=(T.UPDATES, "count"),
            updates=(T.UPDATES, "median"),
            wall_s=(T.WALL_S, "median"),
        )
        .reset_index()
    )
    frame = pd.DataFrame(
        {
            "accuracy": [training_plots.level_title(m, lv) for m, lv in zip(summary[T.MEASURE], summary[T.LEVEL])],
            "λ": summary[T.MOMENTUM],
            "B": summary[T.BATCH_SIZE],
            "seeds that reached it": [f"{r} of {n}" for r, n in zip(summary.reached, summary.seeds)],
            "updates (median)": summary.updates.map(lambda v: "never" if pd.isna(v) else f"{v:.0f}"),
            "wall-clock (median)": summary.wall_s.map(lambda v: "never" if pd.isna(v) else secs(v)),
        }
    )
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
        "job, which trains a cell's seeds together as one stacked network.",
        html=html_table(frame),
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
