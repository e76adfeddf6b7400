"""The lecture's comparison table, filled from measurements, with a verdict per row.

Small batch = the smallest B of the grid, large batch = the largest. Each row says
what the lecture claims, what this run measured, whether the claim holds on this
device, and the evidence. Thresholds are stated in the evidence text.
"""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis import eta
from batch_momentum.analysis.compare import (  # noqa: F401  (the names the rows share, re-exported)
    TEST_ACCURACY,
    TOP_EIGENVALUE,
    TRACE,
    TRAIN_ACCURACY,
    Measure,
    compare,
    comparison_row,
    describe,
    eps_measure,
    measured,
    primary_measure,
    sharpness_measures,
    summarize,
)
from batch_momentum.analysis.formats import pct  # noqa: F401
from batch_momentum.analysis.momentum import momentum_rows
from batch_momentum.analysis.rows.generalization import generalization_row
from batch_momentum.analysis.rows.gradient import gradient_row
from batch_momentum.analysis.rows.keskar import KESKAR_C1, KESKAR_F1, keskar_table  # noqa: F401
from batch_momentum.analysis.rows.mechanism import mechanism_row
from batch_momentum.analysis.rows.optimization import eta_text, optimization_row, time_to_level  # noqa: F401
from batch_momentum.analysis.rows.sharpness import EDGE, agreement, edge_of_stability, edge_text, sharpness_row  # noqa: F401
from batch_momentum.analysis.rows.timing import timing_rows
from batch_momentum.analysis.verdicts import VERDICTS  # noqa: F401
from batch_momentum.io import tables as T


def batch_rows(
    table: pd.DataFrame,
    equal: pd.DataFrame,
    candidates: pd.DataFrame,
    params,
    tta: pd.DataFrame | None = None,
    brackets: pd.DataFrame | None = None,
) -> list[dict]:
    """The rows about batch size that the training runs answer: gradient noise and optimization from the
    grid (the same epoch budget), generalization and sharpness from the equal-accuracy protocol (each λ
    inconclusive where a side's best η is not bracketed: `brackets`, default from the candidates), and whether
    the flatter of its candidate runs test better (the mechanism row)."""
    sizes = (int(table[T.BATCH_SIZE].min()), int(table[T.BATCH_SIZE].max()))
    brackets = eta.brackets_of(candidates) if brackets is None else brackets
    return [
        gradient_row(table, sizes, params),
        optimization_row(table, sizes, params, tta),
        generalization_row(equal, candidates, params, brackets),
        sharpness_row(equal, params, brackets),
        mechanism_row(candidates, params),
    ]


def lecture_table(
    table: pd.DataFrame,
    equal: pd.DataFrame,
    candidates: pd.DataFrame,
    params,
    timing: pd.DataFrame,
    momentum: dict,
    tta: pd.DataFrame | None = None,
    brackets: pd.DataFrame | None = None,
) -> list[dict]:
    """Every row of the lecture's table: from the grid's runs (`table`), the equal-accuracy runs
    (`equal`, `candidates`), the timing step's rows and the momentum step's result; params is the
    config.Params of the run."""
    small_b, large_b = int(table[T.BATCH_SIZE].min()), int(table[T.BATCH_SIZE].max())
    same = params.verdict.margin_ratio
    rows = [
        dict(r, section="timing", margin_text=f"times within {same:g}× are the same")
        for r in timing_rows(timing, small_b, large_b, same)
    ]
    rows += batch_rows(table, equal, candidates, params, tta, brackets)
    rows += [dict(r, section="momentum") for r in momentum_rows(momentum)]
    for r in rows:  # (verdict, scope) from summarize, a bare verdict elsewhere
        r["verdict"], r["scope"] = r["verdict"] if isinstance(r["verdict"], tuple) else (r["verdict"], "")
        if r["verdict"] not in VERDICTS:
            raise ValueError(f"lecture row {r['aspect']!r}: verdict {r['verdict']!r} is not one of {VERDICTS}")
        r["cells"] = sorted({c for p in r.get("per_lambda", []) for c in p.get("cells", [])})
    return rows
