"""aggregate: the tidy tables of every run params.yaml lists, under reports/tables/.

cells.csv, curves.csv, directions.csv for the grid; equal.csv, equal_curves.csv, equal_directions.csv,
candidates.csv, brackets.csv and rescaling.csv for the equal-accuracy protocol; time_to_accuracy.csv
(batch_momentum.analysis.aggregate; columns in batch_momentum.io.tables).
"""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.analysis import aggregate
from batch_momentum.io.status import Status
from batch_momentum.io.tables import CELLS, STATUS
from batch_momentum.steps import parser


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--results", default="results", help="the folder holding cells/, metrics/ and landscape/")
    ap.add_argument("--out-dir", default="reports/tables")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    frames = aggregate.aggregate(params, Path(args.results))
    out = Path(args.out_dir)  # the writes make the folder
    for schema, frame in frames.items():
        schema.write(out / f"{schema.name}.csv", frame)
    cells = frames[CELLS]
    print(f"aggregated {len(cells)} runs ({(cells[STATUS] != Status.OK).sum()} not ok) -> {out}/")
    return 0
