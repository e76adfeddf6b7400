"""train: every seed of one (batch size, momentum) cell, trained together as one stacked network.

Outputs per seed: <out>/seed<s>/{model.pt, curve.csv, train.json} (batch_momentum.io.runs).
With --protocol equal_acc, Keskar's protocol: every candidate eta of params' equal_acc section
x every seed in one stack; the chosen eta's runs, candidates.csv and choice.json
(batch_momentum.training.equal_acc).
"""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.io import runs
from batch_momentum.io import tables as T
from batch_momentum.steps import add_threads, parser
from batch_momentum.training import equal_acc, loop


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--momentum", type=float, required=True)
    ap.add_argument(
        "--protocol",
        choices=(T.EQUAL_EPOCHS, T.EQUAL_ACC),
        default=T.EQUAL_EPOCHS,
        help="equal_epochs: the grid cell under params' train section (the default); equal_acc: "
        "Keskar's protocol under params' equal_acc section",
    )
    ap.add_argument(
        "--out",
        required=True,
        help="the cell's folder, e.g. results/cells/bs8_lam0.9; each seed of grid.seed (equal_acc.seed) gets seed<s>/",
    )
    add_threads(ap)
    args = ap.parse_args(argv)
    params = config.load(args.params)
    config.check_cell(params, args.batch_size, args.momentum, args.protocol)
    cores = args.threads or params.train.threads
    device, blob = prepared.load_on_device(args.data, params, cores)
    if args.protocol == T.EQUAL_ACC:
        equal_acc.train_equal_acc(params, blob, args.batch_size, args.momentum, device, Path(args.out), cores=cores)
        return 0
    seeds = params.grid.seed
    print(
        f"cell bs{args.batch_size} lam{args.momentum}, seeds {list(seeds)} stacked, on {device} "
        f"(lr {config.learning_rate(params.train, args.batch_size, args.momentum):g}, "
        f"rules {params.train.lr_rule} and {params.train.lr_momentum})",
        flush=True,
    )
    trained = loop.train_cell(
        params, blob, args.batch_size, args.momentum, seeds, device, log=lambda s: print(s, flush=True), cores=cores
    )
    for seed, result in zip(seeds, trained):
        result["summary"][T.PROTOCOL] = T.EQUAL_EPOCHS
        runs.write_run(Path(args.out) / f"seed{seed}", result, params)
    print(f"{len(seeds)} seeds in {trained[0]['summary']['train_wall_s']:.1f} s of training -> {args.out}")
    return 0
