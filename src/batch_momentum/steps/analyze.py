"""analyze: the lecture's table as data, reports/lecture.json, and its numbers, reports/verdicts.json.

From the aggregated tables and the timing and momentum steps (batch_momentum.analysis.findings);
DVC tracks both as metrics. verdicts.json is the table flattened to scalars (analysis.metrics):
per row the verdict, per λ the difference or ratio with its interval, so `dvc exp show` and
`dvc metrics diff` compare experiments on them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis.findings import analyze, read_inputs
from batch_momentum.analysis.metrics import flatten
from batch_momentum.io import files
from batch_momentum.steps import parser


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--tables", default="reports/tables")
    ap.add_argument("--timing", required=True, help="timing CSV of the timing step")
    ap.add_argument("--momentum", required=True, help="JSON of the momentum step")
    ap.add_argument("--out", default="reports/lecture.json")
    ap.add_argument("--metrics", default="reports/verdicts.json", help="the verdicts' numbers, flat, for DVC")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    result = analyze(params, **read_inputs(Path(args.tables), Path(args.timing), Path(args.momentum)))
    out = files.write_json(args.out, result)
    files.write_json(args.metrics, flatten(result))
    counts = pd.Series([r["verdict"] for r in result["rows"]]).value_counts().to_dict()
    print(
        f"{len(result['rows'])} rows of the lecture's table: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f" -> {out}"
    )
    return 0
