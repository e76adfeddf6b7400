"""The noise-temperature section: does ηN/(B(1−λ)) say it all?"""

from __future__ import annotations

import pandas as pd

from batch_momentum.report.plots import temperature as temperature_plots
from batch_momentum.report.sections.common import html_table


def temperature_section(table: pd.DataFrame, collapse: list[dict], measures: list[tuple[str, str]]) -> dict:
    rows = [
        {
            "runs": st.get("runs", ""),
            "measure": st["measure"],
            "n": st["n"],
            "Spearman ρ": st["spearman"],
            **{f"ρ within λ={k}": v for k, v in st["spearman_by_group"].items()},
            "R² of one curve of g": st["collapse_score"],
            "R² added by λ": st["group_gain"],
            "reading": st["interpretation"],
        }
        for st in collapse
    ]
    return dict(
        id="temperature",
        title="Noise temperature: does ηN/(B(1−λ)) say it all?",
        text="The noise temperature g = ηN/(B(1−λ)) is the step length per example seen; if batch size "
        "and momentum acted only through the gradient noise they set, the runs would fall on one "
        "curve of g. What this view cannot say: under one epoch budget, g × epochs is also the total "
        "distance η/(1−λ) × updates a run could travel, so a trend in g mixes noise with how far "
        "training got. The right column shows the same measures against the final training loss; the "
        "statistics are given for the grid's trained runs, for those at the training-accuracy target "
        "and for the equal-accuracy runs, where how far training got is matched.",
        html=html_table(pd.DataFrame(rows), "{:.2f}"),
        figures=[
            dict(
                name="temperature",
                fig=temperature_plots.plot_temperature_views(table, measures),
                caption="Each measure (a row each) against g (left) and against the final training loss (right); "
                "colour = λ, marker = B, hollow = short of the target.",
            )
        ],
    )
