"""evaluate: accuracy, sharpness and gradient noise of every seed of one trained cell.

One process per (B, λ) cell (torch starts once); the seeds are measured together, their weights
stacked (measures.evaluation.evaluate_runs), and each part's time is printed as it ends. For each
seed s it writes
<out>/seed<s>.json (batch_momentum.measures.evaluation: the training summary, loss and
accuracy per split, the sharpness measures and the gradient noise) and <landscape>/seed<s>.json,
the training loss along a filter-normalized random direction; with --eta-out (the equal-accuracy
protocol) also every candidate eta's test accuracy, top Hessian eigenvalue, primary sharpness measure
and adaptive sharpness; with --rescaling-out the rescaling check of the first seed's kept run
(measures.rescaling). A diverged run keeps its status; its measures are written as null.
"""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.io import files, runs
from batch_momentum.io import tables as T
from batch_momentum.measures.evaluation import evaluate_runs, measure_candidates
from batch_momentum.steps import add_threads, parser
from batch_momentum.training import parallel


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument(
        "--cell",
        required=True,
        help="the trained cell's folder, e.g. results/cells/bs8_lam0.9 (one seed<s>/ per seed of the protocol)",
    )
    ap.add_argument(
        "--protocol",
        choices=(T.EQUAL_EPOCHS, T.EQUAL_ACC),
        default=T.EQUAL_EPOCHS,
        help="whose seeds the cell holds: grid.seed (equal_epochs, the default) or equal_acc.seed (equal_acc)",
    )
    ap.add_argument("--out", required=True, help="folder of the cell's metrics, e.g. results/metrics/bs8_lam0.9")
    ap.add_argument(
        "--landscape", required=True, help="folder of its 1-D loss curves, e.g. results/landscape/bs8_lam0.9"
    )
    ap.add_argument(
        "--eta-out",
        help="with --protocol equal_acc: a CSV of every candidate eta's test accuracy, top Hessian eigenvalue, primary "
        "sharpness measure and adaptive sharpness (the eta view), e.g. results/equal_eta/bs8_lam0.9.csv",
    )
    ap.add_argument(
        "--rescaling-out",
        help="with --protocol equal_acc: a CSV of the rescaling check (Dinh et al. 2017) of the first seed's kept "
        "run, every sharpness measure before and after, e.g. results/equal_rescaling/bs8_lam0.9.csv",
    )
    add_threads(ap)
    args = ap.parse_args(argv)
    params = config.load(args.params)
    cores = args.threads or params.train.threads
    device, blob = prepared.load_on_device(args.data, params, cores)
    seeds = list(config.seeds(params, args.protocol))
    equal = args.protocol == T.EQUAL_ACC
    cells = [Path(args.cell) / f"seed{seed}" for seed in seeds]
    # the seeds dealt over the cores as processes (the same numbers as one stack: training.parallel)
    processes, threads = parallel.plan_for(params, blob["meta"], cores, len(cells), device)
    # no verdict reads the protocol's gradient noise
    results = parallel.deal(_evaluate, cells, processes, threads, params, blob, device, not equal)
    for seed, (metrics, curve) in zip(seeds, results):
        files.write_json(Path(args.landscape) / f"seed{seed}.json", curve, indent=None)
        out = files.write_json(Path(args.out) / f"seed{seed}.json", metrics)
        print(
            f"{metrics['cell']}: status {metrics['status']}, train acc {metrics['train_acc']:.4f}, "
            f"val acc {metrics['val_acc']:.4f}, test acc {metrics['test_acc']:.4f} -> {out}"
        )
    if args.eta_out or args.rescaling_out:
        from batch_momentum.analysis.compare import primary_measure, sharpness_measures
    if args.eta_out:
        rows, finals = runs.load_candidates(Path(args.cell), params, blob["meta"], device)
        primary = primary_measure(params).column
        wanted = (T.HESSIAN_TOP, primary, T.ADAPTIVE_SHARPNESS)  # the kept runs' values, taken as they are
        known = {(m[T.LR], m[T.SEED]): {c: m[c] for c in wanted if m.get(c) is not None} for m, _ in results}
        processes, threads = parallel.plan_for(params, blob["meta"], cores, len(rows), device)
        items = list(zip(rows, finals))
        measured = parallel.deal(_candidates, items, processes, threads, params, blob, device, primary, known)
        frame = T.ETA_MEASURES.frame(measured)
        if primary not in frame:  # the primary measure travels as an extra column (Schema.write keeps it)
            frame[primary] = [m[primary] for m in measured]
        T.ETA_MEASURES.write(args.eta_out, frame)
        print(f"eta view of {len(rows)} candidate runs -> {args.eta_out}")
    if args.rescaling_out:
        from batch_momentum.measures import rescaling

        i = seeds.index(min(seeds))  # the first seed's kept run
        model, _, _ = runs.load_run(cells[i], params, blob["meta"], device)
        measures = [(m.column, m.label) for m in sharpness_measures(params)]
        checked = rescaling.check_run(model, results[i][0], params, blob, device, measures)
        T.CELL_RESCALING.write(args.rescaling_out, T.CELL_RESCALING.frame(checked))
        print(f"rescaling check of {results[i][0][T.CELL]} -> {args.rescaling_out}")
    return 0


def _evaluate(cells, params, blob, device, noise) -> list:
    return evaluate_runs(cells, params, blob, device, noise=noise)


def _candidates(items, params, blob, device, primary, known) -> list:
    rows, finals = [r for r, _ in items], [m for _, m in items]
    return measure_candidates(rows, finals, params, blob, device, primary=primary, known=known)
