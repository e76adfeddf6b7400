"""Time one update and one epoch against the batch size: the lecture's first three rows.

The lecture ("Batch and Momentum", Hung-yi Lee, ML 2021) claims:

* speed for one update *without* parallel computing: small batch faster, large slower;
* speed for one update *with* parallel computing: the same, unless the batch is too large;
* time for one epoch: small batch slower, large faster (fewer updates per epoch).

Two ways to compute the same update are timed here:

* parallel   (`update_parallel`):      the whole batch in one forward/backward call,
  loss = (1/B) * sum_i l_i computed by one batched kernel per layer;
* sequential (`_sequential_backward`): the B examples one after another, each loss
  scaled by 1/B, gradients accumulated in .grad, then one optimizer step.

Both give the same gradient g = (1/B) * sum_i grad l_i (checked by `gradients_both_ways`),
so their times differ only in how the work is scheduled.

The time for one epoch is ceil(N/B) updates: estimated as ceil(N/B) x median parallel
update time for every batch size, and measured with a real epoch (fresh permutation,
batches as index slices of it, as training does) when the estimate fits the budget.
On CUDA every timed update ends with a synchronize, so per-update times include launch
latency that a pipelined epoch partly hides: there the measured epoch is the better number.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import device as devices
from .results import TIMING_COLUMNS, write_timing
from .optim import LectureMomentum


# --------------------------------------------------------------------------- updates

def _sequential_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
    """Accumulate sum_i scale * grad CE(f(x_i), y_i) into .grad, one example per call.

    Cost: len(x) forward and backward passes of batch size 1 (no parallelism across examples).
    Returns sum_i scale * CE_i, detached (0-d, stays on the device: no sync).
    """
    total = None
    for i in range(x.shape[0]):
        loss = F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]) * scale
        loss.backward()
        total = loss.detach() if total is None else total + loss.detach()
    return total


def update_parallel(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One update with the whole batch in one call: loss = (1/B) sum_i CE(f(x_i), y_i).

    x: (B, ...) and y: (B,) on the model's device. Cost: one batched forward + backward + step.
    Returns the loss detached (0-d); no .item(), which would be a CPU-GPU sync point.
    """
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.detach()


def _flat_grad(model: nn.Module) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for p in model.parameters()])


def gradients_both_ways(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch gradient (1/B) sum_i grad l_i computed in parallel and sequentially.

    Returns (g_parallel, g_sequential), two flat (P,) tensors equal up to rounding (in float64
    to ~1e-12 relative). Uses the code paths that are timed; no step; .grad left cleared.
    """
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    g_par = _flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    _sequential_backward(model, x, y, 1.0 / x.shape[0])
    g_seq = _flat_grad(model).clone()
    model.zero_grad(set_to_none=True)
    return g_par, g_seq


# --------------------------------------------------------------------------- timing

def _timed(fn: Callable[[], object], device: torch.device) -> float:
    devices.sync(device)
    t0 = time.perf_counter()
    fn()
    devices.sync(device)
    return time.perf_counter() - t0


def run_timing(
    model_factory: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_sizes,
    *,
    lr: float,
    momentum: float,
    device,
    warmup: int,
    repeats: int,
    epoch_budget_s: float,
    sequential_cap: int,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Time one parallel update, one sequential update and one epoch per batch size.

    x (N, ...), y (N,) are moved to `device` once. For each B (sorted, unique), a fresh model
    from model_factory() (torch.manual_seed(seed) first) with a fresh LectureMomentum(lr, momentum):
    * parallel:   `warmup` untimed, then `repeats` timed `update_parallel` calls, batch r being
                  the r-th slice of B rows of a fixed permutation (wrapping around);
    * sequential: the same with the examples one after another; for B > sequential_cap only
                  k = sequential_cap single-example passes (loss scaled by 1/B) are timed:
                  t = t_passes(k) * B / k + t_step, and sequential_extrapolated = True;
    * epoch:      epoch_estimated_s = ceil(N/B) * parallel_median_s for every B;
                  epoch_measured_s = one real epoch (fresh permutation, batches as index slices
                  of it) when that estimate <= epoch_budget_s, else NaN.
    Clock: time.perf_counter, read after torch.cuda.synchronize() on CUDA.
    Returns one dict per batch size with exactly the keys TIMING_COLUMNS.
    The settings come from params' timing section, checked there (every B within 1..N).
    """
    device = torch.device(device)
    x, y = x.to(device), y.to(device)
    n = int(y.shape[0])
    sizes = sorted({int(b) for b in batch_sizes})
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen).to(device)  # (N,) fixed order for the timed updates
    meta = dict(device=device.type, device_name=devices.name(device), threads=torch.get_num_threads(),
                torch_version=str(torch.__version__), n_train=n)

    def batch(r: int, b: int) -> torch.Tensor:  # (B,) indices: r-th slice of perm, wrapping
        lo = (r * b) % n
        return perm[0:b] if lo + b > n else perm[lo:lo + b]

    rows = []
    for b in sizes:
        torch.manual_seed(seed)
        model = model_factory().to(device)
        model.train()
        opt = LectureMomentum(model.parameters(), lr=lr, momentum=momentum)

        par = []
        for r in range(warmup + repeats):
            idx = batch(r, b)
            t = _timed(lambda: update_parallel(model, opt, x[idx], y[idx]), device)
            if r >= warmup:
                par.append(t)

        k = min(b, sequential_cap)
        seq = []
        for r in range(warmup + repeats):
            idx = batch(r, b)[:k]
            opt.zero_grad(set_to_none=True)
            t_pass = _timed(lambda: _sequential_backward(model, x[idx], y[idx], 1.0 / b), device)
            t_step = _timed(opt.step, device)
            if r >= warmup:
                seq.append(t_pass * b / k + t_step)

        updates = math.ceil(n / b)
        par_med = statistics.median(par)
        estimate = updates * par_med
        measured = math.nan
        if estimate <= epoch_budget_s:
            def epoch():
                p = torch.randperm(n, generator=gen).to(device)  # fresh order, made on the CPU
                for lo in range(0, n, b):
                    bi = p[lo:lo + b]
                    update_parallel(model, opt, x[bi], y[bi])
            measured = _timed(epoch, device)

        row = dict(meta, batch_size=b, updates_per_epoch=updates,
                   parallel_median_s=par_med, parallel_min_s=min(par), parallel_max_s=max(par),
                   sequential_median_s=statistics.median(seq), sequential_min_s=min(seq),
                   sequential_max_s=max(seq), sequential_extrapolated=bool(k < b),
                   epoch_measured_s=measured, epoch_estimated_s=estimate, repeats=int(repeats))
        rows.append({c: row[c] for c in TIMING_COLUMNS})
        if log is not None:
            log(f"B={b:6d}: update parallel {par_med * 1e3:.3g} ms, sequential {row['sequential_median_s'] * 1e3:.3g} ms"
                f"{f' (extrapolated from {k})' if k < b else ''}; epoch {estimate:.3g} s estimated, "
                + (f"{measured:.3g} s measured" if math.isfinite(measured) else "not measured"))
    return rows


# --------------------------------------------------------------------------- step

def main(argv=None) -> int:
    """python -m batch_momentum timing --params params.yaml --data PREPARED.pt --out CSV"""
    import argparse

    from . import config, data, models

    ap = argparse.ArgumentParser(prog="batch_momentum timing",
                                 description="time per update (parallel, sequential) and per epoch vs batch size")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument("--out", required=True, help="timing CSV, e.g. results/timing/timing.csv")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    tm = params.timing
    device, blob = data.load_on_device(args.data, params, tm.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    rows = run_timing(lambda: models.build(params, blob["meta"]), blob["x_train"], blob["y_train"],
                      tm.batch_sizes, lr=params.train.lr, momentum=0.0, device=device, warmup=tm.warmup,
                      repeats=tm.repeats, epoch_budget_s=tm.epoch_budget_s, sequential_cap=tm.sequential_cap,
                      log=lambda line: print(line, flush=True))
    write_timing(rows, args.out)
    print(f"timing on {rows[0]['device_name']} ({rows[0]['device']}, {rows[0]['threads']} thread(s)) "
          f"took {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0
