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


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--small", required=True, help="the small-batch cell's folder, e.g. results/cells/bs8_lam0.9")
    ap.add_argument("--large", required=True, help="the large-batch cell's folder")
    ap.add_argument("--out", required=True, help="a folder: one seed<s>.json per seed of equal_acc.seed")
    add_threads(ap)
    args = ap.parse_args(argv)
    params = config.load(args.params)
    device, blob = prepared.load_on_device(args.data, params, args.threads or params.train.threads)
    for seed in params.equal_acc.seed:
        result = interpolate_pair(
            params, blob, Path(args.small) / f"seed{seed}", Path(args.large) / f"seed{seed}", device
        )
        out = files.write_json(Path(args.out) / f"seed{seed}.json", result, indent=None)
        print(f"interpolated {result['small']} -> {result['large']} at {len(result['alpha'])} points -> {out}")
    return 0
