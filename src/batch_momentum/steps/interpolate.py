"""interpolate: loss and accuracy along the line from a small-batch to a large-batch solution.

theta(alpha) = alpha * theta_large + (1 - alpha) * theta_small for alpha in [-1, 2]
(Keskar et al. 2017, Figure 3), for every seed of one lambda (batch_momentum.measures.interpolation).
"""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.io import files
from batch_momentum.measures.interpolation import interpolate_pair
from batch_momentum.steps import add_threads, parser
from batch_momentum.training import parallel


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--small", required=True, help="the small-batch cell's folder, e.g. results/cells/bs8_lam0.9")
    ap.add_argument("--large", required=True, help="the large-batch cell's folder")
    ap.add_argument("--out", required=True, help="a folder: one seed<s>.json per seed of equal_acc.seed")
    add_threads(ap)
    args = ap.parse_args(argv)
    params = config.load(args.params)
    cores = args.threads or params.train.threads
    device, blob = prepared.load_on_device(args.data, params, cores)
    seeds = list(params.equal_acc.seed)
    # the seed pairs dealt over the cores as processes, one torch thread each: the numbers of one process
    processes, threads = parallel.plan_for(params, blob["meta"], cores, len(seeds), device)
    results = parallel.deal(_pairs, seeds, processes, threads, params, blob, Path(args.small), Path(args.large), device)
    for seed, result in zip(seeds, results):
        out = files.write_json(Path(args.out) / f"seed{seed}.json", result, indent=None)
        print(f"interpolated {result['small']} -> {result['large']} at {len(result['alpha'])} points -> {out}")
    return 0


def _pairs(seeds, params, blob, small: Path, large: Path, device) -> list[dict]:
    return [interpolate_pair(params, blob, small / f"seed{s}", large / f"seed{s}", device) for s in seeds]
