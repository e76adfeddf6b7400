"""analyze: the lecture's table as data, reports/lecture.json.

From the aggregated tables and the timing and momentum steps (batch_momentum.analysis.findings);
DVC tracks it as metrics, so `dvc metrics show` and `dvc metrics diff` show every verdict.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis.findings import analyze, read_inputs
from batch_momentum.io import files
from batch_momentum.steps import parser


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--tables", default="reports/tables")
    ap.add_argument("--timing", required=True, help="timing CSV of the timing step")
    ap.add_argument("--momentum", required=True, help="JSON of the momentum step")
    ap.add_argument("--out", default="reports/lecture.json")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    result = analyze(params, **read_inputs(Path(args.tables), Path(args.timing), Path(args.momentum)))
    out = files.write_json(args.out, result)
    counts = pd.Series([r["verdict"] for r in result["rows"]]).value_counts().to_dict()
    print(
        f"{len(result['rows'])} rows of the lecture's table: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f" -> {out}"
    )
    return 0
