"""download: the real dataset's files into data/raw/<dataset>/, each checked against its md5.

Mirrors, local folders and checksums are in params (download.url, .local_dir, .md5). Files already
there and intact are kept, so a rerun fetches nothing. mnist1d needs no files: the step
writes only the manifest. Without a network it stops with one line naming the files and
the ways on; a corrupt or truncated file is rejected in one line and never reaches prepare.
"""

from __future__ import annotations

import time

from batch_momentum import config
from batch_momentum.data import raw
from batch_momentum.steps import parser


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--out", required=True, help="the dataset's folder, e.g. data/raw/mnist")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    dataset = params.data.dataset
    t0 = time.perf_counter()
    if dataset not in config.REAL:
        raw.offline_manifest(dataset, args.out)
        print(f"{dataset}: nothing to download (prepare generates it) -> {args.out}/{raw.MANIFEST}")
        return 0
    manifest = raw.fetch(dataset, params.download, args.out, log=lambda m: print(m, flush=True))
    print(f"{dataset}: {len(manifest['files'])} files verified in {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0
