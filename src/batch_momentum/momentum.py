"""momentum: gradient descent with the lecture's momentum on surfaces with known critical points.

Runs the experiments of batch_momentum.critical for every lambda of the grid: a 1-D
surface with a flat saddle before a shallow and a deep minimum, a 2-D saddle between two
minima, finite-sum losses where only minibatches move away from a critical point, and the
check that m^t equals the weighted sum of all earlier gradients. Settings: params.yaml
`momentum:` (any key left out takes the value of critical.DEFAULT_CFG).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from . import config
from .train import _finite


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum momentum", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True, help="e.g. results/momentum/critical.json")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    from .critical import run_momentum_step

    t0 = time.perf_counter()
    result = run_momentum_step(params["momentum"], [float(v) for v in params["grid"]["momentum"]])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_finite(result)) + "\n")
    print(f"momentum experiments for lambda in {params['grid']['momentum']} in {time.perf_counter() - t0:.1f} s -> {out}")
    return 0
