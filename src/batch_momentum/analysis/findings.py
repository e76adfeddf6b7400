"""The lecture's table as data, reports/lecture.json, from the aggregated tables
and the timing and momentum steps. The report step only renders it; DVC tracks it as
metrics, so `dvc metrics show` and `dvc metrics diff` show every verdict.

lecture.json:
  rows:     one per claim: aspect, the lecture's two sides (small, large), what was
            measured on each side, verdict (one of analysis.verdicts.Verdict) and its scope, the
            evidence in words, the per-λ comparisons behind it (means and 95% intervals over
            seeds, the difference or ratio with its interval, the verdict it gives, the runs
            left out) and the runs they used;
  keskar:   Keskar et al.'s table side by side with the equal-accuracy runs;
  collapse: do the trained runs fall on one curve of the noise temperature
            g = ηN/(B(1−λ))? Rank correlations and R² per measure (stats.collapse_stats);
  device:   what the verdicts were measured on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis.formats import timing_device
from batch_momentum.analysis.lecture import (
    TEST_ACCURACY,
    TOP_EIGENVALUE,
    TRAIN_ACCURACY,
    Measure,
    eps_measure,
    keskar_table,
    lecture_table,
)
from batch_momentum.analysis.stats import collapse_stats, counted
from batch_momentum.analysis.verdicts import VERDICTS
from batch_momentum.critical import records
from batch_momentum.io import files
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status


def collapse_measures(params: config.Params) -> list[Measure]:
    """The measures tested against the noise temperature: the accuracies, the top Hessian eigenvalue
    and the full-space ε-sharpness at the first ε (labels as the lecture table's)."""
    return [TEST_ACCURACY, TRAIN_ACCURACY, TOP_EIGENVALUE, eps_measure(params.sharpness.epsilons[0], None)]


def collapse(table: pd.DataFrame, equal: pd.DataFrame, params: config.Params) -> list[dict]:
    """Per measure, the collapse statistics over the grid's runs that trained (status ok), over those
    that reached the training-accuracy target, and over the equal-accuracy runs that reached theirs:
    at matched training accuracy how far a run could travel no longer differs (under one epoch budget
    g × epochs is the total step length, so the first view cannot tell noise from distance)."""

    def done(t):
        return t[counted(t)]

    ok = table[table[T.STATUS] == Status.OK]
    out = []
    for runs, which in (
        (ok, "grid, trained"),
        (done(table), "grid, reached the target"),
        (done(equal), "equal-accuracy runs"),
    ):
        for m in collapse_measures(params):
            if m.column in runs and runs[m.column].notna().sum() >= 3:
                out.append({"column": m.column, "measure": m.label, "runs": which, **collapse_stats(runs, y=m.column)})
    return out


def analyze(
    params: config.Params,
    table: pd.DataFrame,
    equal: pd.DataFrame,
    candidates: pd.DataFrame,
    timing: pd.DataFrame,
    momentum: records.CriticalResult,
    tta: pd.DataFrame | None = None,
    brackets: pd.DataFrame | None = None,
) -> dict:
    rows = lecture_table(table, equal, candidates, params, timing, momentum, tta, brackets)
    return files.finite(
        {
            "verdicts": [v.value for v in VERDICTS],
            "device": {
                "names": sorted(table[T.DEVICE_NAME].dropna().astype(str).unique()),
                "threads": int(table[T.THREADS].max()),
                "processes": int(table[T.PROCESSES].max()),
                "timing": timing_device(timing),
            },
            "interval": "95% Student-t interval over seeds; seed k of the small and the large batch starts from the "
            "same weights, so differences are paired (the mean of per-seed differences, ratios as the mean of "
            "per-seed log ratios carried back), with Welch's unpaired interval beside them; a verdict holds or "
            "fails only when the whole interval is on one side of zero, and says no difference when it lies "
            "wholly within the row's margin (two one-sided tests; batch_momentum.analysis.verdicts.verdict)",
            "margins": {
                "accuracy": params.verdict.margin_accuracy,
                "cosine": params.verdict.margin_cosine,
                "ratio": params.verdict.margin_ratio,
                "power": params.verdict.power,
                "tau": params.verdict.margin_tau,
                "bootstrap": params.verdict.bootstrap,
            },
            "rows": rows,
            "keskar": keskar_table(equal, params),
            "collapse": collapse(table, equal, params),
        }
    )


def read_inputs(tables_dir: Path, timing: Path, momentum: Path) -> dict:
    """analyze's inputs from their files, each checked whole: the aggregated tables, the timing
    step's CSV and the momentum step's JSON (the keyword arguments of `analyze`)."""
    return dict(
        table=T.CELLS.read(tables_dir / "cells.csv"),
        equal=T.EQUAL.read(tables_dir / "equal.csv"),
        candidates=T.CANDIDATES.read(tables_dir / "candidates.csv"),
        brackets=T.BRACKETS.read(tables_dir / "brackets.csv"),
        tta=T.TIME_TO_ACCURACY.read(tables_dir / "time_to_accuracy.csv"),
        timing=T.read_timing(timing),
        momentum=records.read(momentum),
    )
