"""report: reports/index.html, one self-contained page that answers the lecture's table.

Reads only the aggregated tables, the analyze step's lecture table and the outputs of the
timing, interpolate and momentum steps (batch_momentum.report.page); the figures are also
saved as PNG under --figures.
"""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.critical import records
from batch_momentum.io import files
from batch_momentum.io.tables import read_timing
from batch_momentum.report.page import build, read_json, render
from batch_momentum.steps import parser


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--tables", default="reports/tables")
    ap.add_argument("--figures", default="reports/figures")
    ap.add_argument("--timing", required=True, help="timing CSV of the timing step")
    ap.add_argument("--interpolation-dir", required=True, help="folder of the interpolate step's files")
    ap.add_argument("--momentum", required=True, help="JSON of the momentum step")
    ap.add_argument("--lecture", default="reports/lecture.json", help="the analyze step's lecture table")
    ap.add_argument("--out", default="reports/index.html")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    tables = Path(args.tables)  # each table is read (and checked whole, one line if not) by build
    timing = read_timing(args.timing)
    interpolation = [
        read_json(Path(args.interpolation_dir) / f"{pair}.json") for pair in config.interpolation_pairs(params)
    ]
    momentum = records.read(Path(args.momentum))
    lecture = read_json(Path(args.lecture))
    html = render(build(params, tables, Path(args.figures), lecture, timing, interpolation, momentum))
    out = files.write_text(args.out, html)
    print(f"report -> {out} ({len(html) / 1e3:.0f} kB, self-contained)")
    return 0
