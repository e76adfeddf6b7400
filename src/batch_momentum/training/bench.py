"""bench (not a pipeline step): the project's training loop against the PyTorch-examples loop.

One run trains params' model on the same data at each batch size B, on the CPU with
loop.threads torch threads (or on a GPU with --device cuda), the same lr and the same
lambda (--momentum) for all loops. The lr is params' (config.learning_rate) unless the project's loop diverges with it:
then it is halved until it does not (the row's lr says so; the time of an update does not
depend on the lr, but train_cell stops a diverged seed and the stack would shrink).

* stacked:  loop.train_cell with the grid's S = len(grid.seed) seeds as one network,
            reported per model (its epoch time / S);
* alone:    loop.train_cell with one seed (grid.seed[0]);
* examples: the loop of the PyTorch examples: DataLoader(TensorDataset(x, y), batch_size=B,
            shuffle=True), the nn.Module of models.build, torch.optim.SGD(lr, momentum=lambda),
            each batch moved to the device as it comes (the data stays on the CPU);
* graph:    on CUDA only, "stacked" with each update replayed from a captured CUDA graph
            (loop.cuda_graph auto, B <= cuda_graphs.MAX_BATCH; NaN elsewhere); "stacked" and
            "alone" are then eager (cuda_graph never).

The project's loops run as train does, with torch's deterministic algorithms on; the examples
loop runs with them off, as the usual loop does.

Epoch time: the median over --epochs epochs after one warm-up epoch, training only (the
project's loop evaluates after every epoch; that is not counted). Where an examples epoch
has more than EXAMPLES_CAP updates, each timed epoch is its first EXAMPLES_CAP updates
scaled by ceil(N/B) / EXAMPLES_CAP (column examples_scaled).

Lower bound: one epoch is at least 6 * MACs * N floating-point operations (a forward pass
costs 2 per multiply-accumulate, the backward pass 4), MACs counted over the Linear and
Conv layers of one example's forward pass; at the machine's peak rate (a 2048 x 2048
float32 matmul with the same threads, or on the GPU) it cannot take less than
bound_s = 6 * MACs * N / peak.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.training import cuda_graphs, loop, models
from batch_momentum.training import device as devices

CPU = torch.device("cpu")
EXAMPLES_CAP = 1000  # examples-loop updates timed per epoch at most (B=1: 1000 of 4000, x4)
LOOPS = ("stacked", "alone", "examples", "graph")  # graph: CUDA only (NaN elsewhere)
EPOCH_S = dict(zip(LOOPS, (T.STACKED_S, T.ALONE_S, T.EXAMPLES_S, T.GRAPH_S)))  # each loop's epoch time (T.BENCH)
OVER_BOUND = dict(zip(LOOPS, (T.STACKED_OVER_BOUND, T.ALONE_OVER_BOUND, T.EXAMPLES_OVER_BOUND, T.GRAPH_OVER_BOUND)))


def forward_macs(model: nn.Module, input_shape) -> int:
    """Multiply-accumulates of one example's forward pass through the Linear and Conv layers
    (biases are adds, not counted). Linear: in*out per output position; Conv: every output
    element costs (C_in / groups) * prod(kernel) MACs. Found by running one zero example."""
    total = 0

    def count(mod, inputs, out):
        nonlocal total
        if isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features
        else:
            total += out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)

    hooks = [
        m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
    return total


def peak_gflops(n: int = 2048, repeats: int = 5, device: torch.device = CPU) -> float:
    """GFLOP/s of an n x n float32 matmul (2 n^3 FLOPs; n=2048: 17 GFLOP), median of `repeats`
    (on a GPU: n = 8192, 1.1 TFLOP, so that the product and not its launch is timed)."""
    n = 8192 if device.type == "cuda" else n
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        devices.sync(device)
        t0 = time.perf_counter()
        a @ b
        devices.sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def cell_params(params: config.Params, lr: float, epochs: int, cuda_graph: str = "never") -> config.Params:
    """params for one batch size of the bench: this lr for every loop, 1 warm-up + `epochs` epochs,
    no early stop; eager updates unless `cuda_graph` is auto."""
    return replace(
        params,
        train=replace(
            params.train, lr=lr, lr_rule="constant", max_epochs=epochs + 1, target_train_acc=None, cuda_graph=cuda_graph
        ),
    )


def project_epoch_s(p: config.Params, blob: dict, b: int, lam: float, seeds: list) -> float | None:
    """Median epoch time of loop.train_cell after its warm-up epoch: the whole stack of
    len(seeds) models, not per model. None when a seed diverged (train_cell drops it, so
    the stack shrinks and later epochs would time fewer models). On blob's device."""
    res = loop.train_cell(p, blob, b, lam, seeds, blob["x_train"].device, log=lambda s: None)
    if any(r["summary"][T.STATUS] == Status.DIVERGED for r in res):
        return None
    wall = [row[T.WALL_S] for row in res[0]["curve"]]  # cumulative training time, epochs 0..E
    return statistics.median(t1 - t0 for t0, t1 in zip(wall[1:], wall[2:]))


def project_times(
    params: config.Params, blob: dict, b: int, lam: float, seeds: list, epochs: int, log
) -> tuple[config.Params, dict]:
    """The project's loop at B: (the cell's params, {"stacked": epoch s per model, "alone": epoch s,
    "graph": epoch s per model with CUDA graphs, NaN off CUDA}), at params' lr for B, halved while a
    seed diverges."""
    lr0 = lr = config.learning_rate(params.train, b, lam)
    while lr >= lr0 / 1000:
        p = cell_params(params, lr, epochs)
        stacked = project_epoch_s(p, blob, b, lam, seeds)
        alone = stacked and project_epoch_s(p, blob, b, lam, seeds[:1])
        graph = float("nan")
        if alone and cuda_graphs.uses_graphs("auto", blob["x_train"].device, b):
            graph = project_epoch_s(cell_params(params, lr, epochs, "auto"), blob, b, lam, seeds)
        if alone and graph is not None:
            return p, dict(stacked=stacked / len(seeds), alone=alone, graph=graph / len(seeds))
        log(f"B={b}: the project's loop diverged at lr {lr:g}, lambda {lam}; timing at lr {lr / 2:g}")
        lr /= 2
    raise ValueError(
        f"bench: the project's loop diverges at B={b}, lambda {lam} even at lr {lr * 2:g}; "
        f"check the data and model, or bench a smaller --momentum"
    )


def examples_epoch_s(
    p: config.Params, blob: dict, b: int, lam: float, seed: int, cap: int = EXAMPLES_CAP
) -> tuple[float, bool]:
    """Median epoch time of the PyTorch-examples loop after a warm-up epoch; True when each
    epoch was timed on its first `cap` updates and scaled to ceil(N/B)."""
    device = blob["x_train"].device
    torch.manual_seed(seed)
    model = models.build(p, blob["meta"]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=p.train.lr, momentum=lam)
    loader = DataLoader(TensorDataset(blob["x_train"].cpu(), blob["y_train"].cpu()), batch_size=b, shuffle=True)
    updates = len(loader)  # ceil(N/B)
    timed = min(updates, cap)
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)  # the usual loop's setting (train_cell turns them on)
    try:
        times = _examples_epochs(model, opt, loader, device, timed, updates, p.train.max_epochs)
    finally:
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
    return statistics.median(times[1:]), timed < updates


def _examples_epochs(model, opt, loader, device, timed: int, updates: int, epochs: int) -> list[float]:
    """Each epoch's time: its first `timed` updates, scaled to `updates`."""
    times = []
    for _ in range(epochs):
        devices.sync(device)
        t0 = time.perf_counter()
        for _, (xb, yb) in zip(range(timed), loader):  # xb (B, 40): B single examples collated
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        devices.sync(device)
        times.append((time.perf_counter() - t0) * updates / timed)
    return times


def bench(
    params: config.Params, blob: dict, batch_sizes, epochs: int, momentum: float, cap: int = EXAMPLES_CAP, log=print
) -> list[dict]:
    """One row of T.BENCH per batch size; times in seconds. Runs on blob's device (the CPU with torch's
    current threads, or a GPU)."""
    n = len(blob["y_train"])
    bad = [b for b in batch_sizes if not 1 <= b <= n]
    if bad or epochs < 1:
        raise ValueError(
            f"bench needs batch sizes in 1..{n} (prepared.n_train) and --epochs >= 1; "
            f"got batch sizes {list(batch_sizes)}, epochs {epochs}"
        )
    seeds = list(params.grid.seed)
    device = blob["x_train"].device
    macs = forward_macs(models.build(params, blob["meta"]), blob["meta"]["input_shape"])
    peak = peak_gflops(device=device)
    bound = 6 * macs * n / (peak * 1e9)  # seconds per epoch at peak
    shared = {
        T.STACKED_MODELS: len(seeds),
        T.EPOCHS: epochs,
        T.N_TRAIN: n,
        T.MACS_PER_EXAMPLE: macs,
        T.PEAK_GFLOPS: peak,
        T.MOMENTUM: momentum,
        T.DEVICE: device.type,
        T.DEVICE_NAME: devices.name(device),
        T.THREADS: torch.get_num_threads(),
        T.TORCH_VERSION: str(torch.__version__),
    }
    log(
        f"{shared[T.DEVICE_NAME]}, {shared[T.THREADS]} thread(s), torch {shared[T.TORCH_VERSION]}; peak {peak:.1f} "
        f"GFLOP/s ({8192 if device.type == 'cuda' else 2048}^2 float32 matmul); {macs} MACs/example, N={n}: bound "
        f"{bound * 1e3:.3g} ms/epoch; S={len(seeds)} stacked, lambda={momentum}, {epochs} timed epoch(s) after "
        f"1 warm-up"
    )
    log(
        f"{'B':>6} {'upd/ep':>6} {'lr':>7} | {'epoch ms: stacked/S':>19} {'alone':>8} {'examples':>9} "
        f"{'graph/S':>8} | {'ex/stk':>6} {'ex/alone':>8} {'stk/grph':>8} | {'bound ms':>8} {'stk/bnd':>7} "
        f"{'alone/bnd':>9} {'ex/bnd':>7} {'grph/bnd':>8}"
    )
    rows = []
    for b in sorted(set(batch_sizes)):
        p, t = project_times(params, blob, b, momentum, seeds, epochs, log)
        t["examples"], scaled = examples_epoch_s(p, blob, b, momentum, seeds[0], cap)
        row = {
            **shared,
            T.BATCH_SIZE: b,
            T.UPDATES_PER_EPOCH: math.ceil(n / b),
            T.EXAMPLES_SCALED: scaled,
            T.LR: p.train.lr,
            T.BOUND_S: bound,
            T.EXAMPLES_OVER_STACKED: t["examples"] / t["stacked"],
            T.EXAMPLES_OVER_ALONE: t["examples"] / t["alone"],
            T.STACKED_OVER_GRAPH: t["stacked"] / t["graph"],
            **{EPOCH_S[k]: v for k, v in t.items()},
            **{OVER_BOUND[k]: v / bound for k, v in t.items()},
        }
        rows.append({c: row[c] for c in T.BENCH.columns})
        log(describe(row))
    if any(r[T.EXAMPLES_SCALED] for r in rows):
        log(f"* examples loop timed on its first {cap} updates of each epoch, scaled to the whole epoch")
    return rows


def describe(row: dict) -> str:
    """One bench row in a line of the log, under the header that bench() writes (times in ms)."""
    ms = {k: row[EPOCH_S[k]] * 1e3 for k in LOOPS}
    return (
        f"{row[T.BATCH_SIZE]:>6} {row[T.UPDATES_PER_EPOCH]:>6} {row[T.LR]:>7.4g} | {ms['stacked']:>19.1f} "
        f"{ms['alone']:>8.1f} {ms['examples']:>8.1f}{'*' if row[T.EXAMPLES_SCALED] else ' '} {ms['graph']:>8.1f} | "
        f"{row[T.EXAMPLES_OVER_STACKED]:>6.2f} {row[T.EXAMPLES_OVER_ALONE]:>8.2f} "
        f"{row[T.STACKED_OVER_GRAPH]:>8.2f} | {row[T.BOUND_S] * 1e3:>8.3g} "
        + " ".join(f"{row[OVER_BOUND[k]]:>{w}.1f}" for k, w in zip(LOOPS, (7, 9, 7, 8)))
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum bench", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", help="prepared data file (default: make it anew from params' data section)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", help="default: params' timing.batch_sizes")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per loop and batch size, after one warm-up")
    ap.add_argument("--momentum", type=float, default=0.9, help="lambda of every loop")
    ap.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda", "auto"),
        help="where every loop runs (default cpu; cuda adds the CUDA-graph loop)",
    )
    ap.add_argument("--out", default="results/bench/bench.csv")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    params = config.load(args.params)
    device = devices.setup(args.device, params.train.threads)
    if args.data:
        blob = prepared.load_prepared(args.data, device, params.data)
    else:
        blob = prepared.to_device(prepared.prepare(params.data), device)
    sizes = args.batch_sizes or params.timing.batch_sizes
    rows = bench(params, blob, sizes, args.epochs, args.momentum, log=lambda s: print(s, flush=True))
    T.BENCH.write(args.out, T.BENCH.frame(rows))
    print(f"bench took {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0
