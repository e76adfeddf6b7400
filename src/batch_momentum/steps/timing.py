"""timing: time per update (parallel, sequential) and per epoch against batch size.

One exclusive job (batch_momentum.measures.timing) under params' timing section; one CSV row
per batch size (batch_momentum.io.tables.TIMING).
"""

from __future__ import annotations

import time

from batch_momentum import config
from batch_momentum.analysis.formats import timing_device
from batch_momentum.data import prepared
from batch_momentum.io import tables
from batch_momentum.measures import timing
from batch_momentum.steps import parser
from batch_momentum.training import models


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument("--out", required=True, help="timing CSV, e.g. results/timing/timing.csv")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    tm = params.timing
    device, blob = prepared.load_on_device(args.data, params, tm.threads)
    t0 = time.perf_counter()
    rows = timing.run_timing(
        lambda: models.build(params, blob["meta"]),
        blob["x_train"],
        blob["y_train"],
        tm,
        lr=params.train.lr,
        momentum=0.0,
        device=device,
        log=lambda line: print(line, flush=True),
    )
    tables.write_timing(rows, args.out)
    print(f"timing on {timing_device(rows[0])} took {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0
