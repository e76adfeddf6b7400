"""prepare: make the dataset once, split it, and save it as tensors under data/prepared/.

The file holds float32 inputs and int64 labels for three disjoint splits (train, val,
test) plus a small meta dict (batch_momentum.data). mnist1d is generated here; the real
datasets are read from the download step's folder (--raw), their files checked again.
"""

from __future__ import annotations

import time

import torch

from batch_momentum import config
from batch_momentum.data import prepared, raw
from batch_momentum.io import files
from batch_momentum.steps import parser


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--raw", required=True, help="the download step's folder, e.g. data/raw/mnist1d")
    ap.add_argument("--out", required=True, help="where to write the tensors, e.g. data/prepared/mnist1d.pt")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    t0 = time.perf_counter()
    d = params.data
    images = raw.read(d.dataset, args.raw, params.download.md5[d.dataset]) if d.dataset in config.REAL else None
    blob = prepared.prepare(d, images)
    with files.atomic_path(args.out) as tmp:
        torch.save(blob, tmp)
    sizes = ", ".join(f"{s} {len(blob['y_' + s])}" for s in prepared.SPLITS)
    print(f"prepared {d.dataset}: {sizes} in {time.perf_counter() - t0:.1f} s -> {args.out}")
    print(f"normalization: {blob['meta']['normalization']}")
    return 0
