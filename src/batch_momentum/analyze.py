"""analyze: the lecture's table as data, reports/lecture.json, from the aggregated tables
and the timing and momentum steps. The report step only renders it; DVC tracks it as
metrics, so `dvc metrics show` and `dvc metrics diff` show every verdict.

lecture.json:
  rows:     one per claim: aspect, the lecture's two sides (small, large), what was
            measured on each side, verdict (one of lecture.VERDICTS) and its scope, the
            evidence in words, the per-λ comparisons behind it (means and 95% intervals over
            seeds, the difference or ratio with its interval, the verdict it gives, the runs
            left out) and the runs they used;
  keskar:   Keskar et al.'s table side by side with the equal-accuracy runs;
  collapse: do the trained runs fall on one curve of the noise temperature
            g = ηN/(B(1−λ))? Rank correlations and R² per measure (stats.collapse_stats);
  device:   what the verdicts were measured on.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from . import config, files, results
from .lecture import VERDICTS, keskar_table, lecture_table, sharpness_measures
from .stats import collapse_stats, counted


def collapse_measures(params: config.Params) -> list[tuple[str, str]]:
    """(column, label) of the measures tested against the noise temperature: the accuracies, the top
    Hessian eigenvalue and the full-space ε-sharpness at the first ε (labels as the lecture table's)."""
    top, _trace, first_eps, *_ = sharpness_measures(params)
    return [("test_acc", "test accuracy"), ("train_acc", "training accuracy"), top, first_eps]


def collapse(table: pd.DataFrame, equal: pd.DataFrame, params: config.Params) -> list[dict]:
    """Per measure, the collapse statistics over the grid's runs that trained (status ok), over those
    that reached the training-accuracy target, and over the equal-accuracy runs that reached theirs:
    at matched training accuracy how far a run could travel no longer differs (under one epoch budget
    g × epochs is the total step length, so the first view cannot tell noise from distance)."""
    def done(t):
        return t[counted(t)]

    ok = table[table.status == "ok"]
    out = []
    for runs, which in ((ok, "grid, trained"), (done(table), "grid, reached the target"),
                        (done(equal), "equal-accuracy runs")):
        for col, label in collapse_measures(params):
            if col in runs and runs[col].notna().sum() >= 3:
                out.append({"column": col, "measure": label, "runs": which, **collapse_stats(runs, y=col)})
    return out


def analyze(params: config.Params, table: pd.DataFrame, equal: pd.DataFrame, candidates: pd.DataFrame,
            timing: pd.DataFrame, momentum: dict, tta: pd.DataFrame | None = None) -> dict:
    rows = lecture_table(table, equal, candidates, params, timing, momentum, tta)
    return files.finite({
        "verdicts": list(VERDICTS),
        "device": {"names": sorted(table.device_name.dropna().astype(str).unique()), "threads": int(table.threads.max()),
                   "timing": f"{timing.device_name.iloc[0]} ({timing.device.iloc[0]}, "
                             f"{int(timing.threads.iloc[0])} thread(s))"},
        "interval": "95% Student-t interval of the mean over seeds; differences with Welch's interval; ratios of "
                    "geometric means with the Welch interval of the mean logs; a verdict holds or fails only when "
                    "the whole interval is on one side (batch_momentum.stats.verdict)",
        "rows": rows,
        "keskar": keskar_table(equal, params),
        "collapse": collapse(table, equal, params),
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum analyze", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--tables", default="reports/tables")
    ap.add_argument("--timing", required=True, help="timing CSV of the timing step")
    ap.add_argument("--momentum", required=True, help="JSON of the momentum step")
    ap.add_argument("--out", default="reports/lecture.json")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    tables = {}
    for name in ("cells", "equal", "candidates", "time_to_accuracy"):
        tables[name] = files.read_csv(Path(args.tables) / f"{name}.csv", "rerun the aggregate step")
    timing = results.read_timing(args.timing)
    momentum = files.read_json(args.momentum, remedy="rerun the momentum step")
    result = analyze(params, tables["cells"], tables["equal"], tables["candidates"], timing, momentum,
                     tables["time_to_accuracy"])
    out = files.write_json(args.out, result)
    counts = pd.Series([r["verdict"] for r in result["rows"]]).value_counts().to_dict()
    print(f"{len(result['rows'])} rows of the lecture's table: "
          + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" -> {out}")
    return 0
