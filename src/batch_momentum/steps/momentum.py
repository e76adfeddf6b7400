"""momentum: gradient descent with the lecture's momentum on surfaces with known critical points.

Runs the experiments of batch_momentum.critical for every lambda of the grid: a 1-D
surface with a flat saddle before a shallow and a deep minimum, a 2-D saddle between two
minima, finite-sum losses where only minibatches move away from a critical point, and the
check that m^t equals the weighted sum of all earlier gradients. Settings: params.yaml
`momentum:` (config.Momentum). Output: one JSON file of critical.records.CriticalResult.
"""

from __future__ import annotations

import time

from batch_momentum import config
from batch_momentum.steps import parser


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--out", required=True, help="e.g. results/momentum/critical.json")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    from batch_momentum.critical import records
    from batch_momentum.critical.experiments import run_momentum_step

    t0 = time.perf_counter()
    result = run_momentum_step(params.momentum, [float(v) for v in params.grid.momentum])
    out = records.write(args.out, result)
    lams = list(params.grid.momentum)
    print(f"momentum experiments for lambda in {lams} in {time.perf_counter() - t0:.1f} s -> {out}")
    return 0
