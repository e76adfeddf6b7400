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
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from batch_momentum.config import Timing
from batch_momentum.io import tables as T
from batch_momentum.training import device as devices
from batch_momentum.training.optim import LectureMomentum

# --------------------------------------------------------------------------- updates


def _sequential_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
    """Accumulate sum_i scale * grad CE(f(x_i), y_i) into .grad, one example per call.

    Cost: len(x) forward and backward passes of batch size 1 (no parallelism across examples).
    Returns sum_i scale * CE_i, detached (0-d, stays on the device: no sync).
    """
    total = None
    for i in range(x.shape[0]):
        loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]) * scale
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
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in model.parameters()])


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


class Batches:
    """Fixed batches of the timed updates: the r-th slice of B rows of one seeded permutation of
    the N examples (wrapping around), and fresh permutations for the measured epochs."""

    def __init__(self, n: int, seed: int, device: torch.device):
        self.n, self.device = n, device
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.gen).to(device)  # (N,)

    def __call__(self, r: int, b: int) -> torch.Tensor:  # (B,) indices
        lo = (r * b) % self.n
        return self.perm[0:b] if lo + b > self.n else self.perm[lo : lo + b]

    def epoch(self) -> torch.Tensor:  # (N,) a fresh order, made on the CPU
        return torch.randperm(self.n, generator=self.gen).to(self.device)


def _repeat(fn, cfg: Timing) -> list[float]:
    """fn(r) for r in 0..warmup+repeats-1; the times of the last `repeats` calls."""
    return [fn(r) for r in range(cfg.warmup + cfg.repeats)][cfg.warmup :]


def time_batch_size(model: nn.Module, opt, x, y, b: int, batches: Batches, cfg: Timing, device) -> dict:
    """The TIMING columns of one batch size that depend on it (see run_timing)."""

    def parallel(r):
        idx = batches(r, b)
        return _timed(lambda: update_parallel(model, opt, x[idx], y[idx]), device)

    k = min(b, cfg.sequential_cap)

    def sequential(r):
        idx = batches(r, b)[:k]
        opt.zero_grad(set_to_none=True)
        t_pass = _timed(lambda: _sequential_backward(model, x[idx], y[idx], 1.0 / b), device)
        return t_pass * b / k + _timed(opt.step, device)

    par, seq = _repeat(parallel, cfg), _repeat(sequential, cfg)
    updates = math.ceil(batches.n / b)
    estimate = updates * statistics.median(par)
    measured = math.nan
    if estimate <= cfg.epoch_budget_s:

        def epoch():
            p = batches.epoch()
            for lo in range(0, batches.n, b):
                bi = p[lo : lo + b]
                update_parallel(model, opt, x[bi], y[bi])

        measured = _timed(epoch, device)
    return {
        T.BATCH_SIZE: b,
        T.UPDATES_PER_EPOCH: updates,
        T.PARALLEL_MEDIAN_S: statistics.median(par),
        T.PARALLEL_MIN_S: min(par),
        T.PARALLEL_MAX_S: max(par),
        T.SEQUENTIAL_MEDIAN_S: statistics.median(seq),
        T.SEQUENTIAL_MIN_S: min(seq),
        T.SEQUENTIAL_MAX_S: max(seq),
        T.SEQUENTIAL_EXTRAPOLATED: bool(k < b),
        T.EPOCH_MEASURED_S: measured,
        T.EPOCH_ESTIMATED_S: estimate,
        T.REPEATS: int(cfg.repeats),
    }


def run_timing(
    model_factory: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: Timing,
    *,
    lr: float,
    momentum: float,
    device,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Time one parallel update, one sequential update and one epoch per batch size of cfg.batch_sizes.

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
    Returns one dict per batch size with exactly the columns of tables.TIMING.
    The settings are params' timing section (cfg.threads is applied by the caller), checked
    there (every B within 1..N).
    """
    device = torch.device(device)
    x, y = x.to(device), y.to(device)
    n = int(y.shape[0])
    batches = Batches(n, seed, device)
    where = {
        T.DEVICE: device.type,
        T.DEVICE_NAME: devices.name(device),
        T.THREADS: torch.get_num_threads(),
        T.TORCH_VERSION: str(torch.__version__),
        T.N_TRAIN: n,
    }
    rows = []
    for b in sorted({int(b) for b in cfg.batch_sizes}):
        torch.manual_seed(seed)
        model = model_factory().to(device)
        model.train()
        opt = LectureMomentum(model.parameters(), lr=lr, momentum=momentum)
        row = dict(where, **time_batch_size(model, opt, x, y, b, batches, cfg, device))
        rows.append({c: row[c] for c in T.TIMING.columns})
        if log is not None:
            log(describe(row, cfg))
    return rows


def describe(row: dict, cfg: Timing) -> str:
    """One timing row in a line of the step's log."""
    b, k = row[T.BATCH_SIZE], min(row[T.BATCH_SIZE], cfg.sequential_cap)
    measured = row[T.EPOCH_MEASURED_S]
    return (
        f"B={b:6d}: update parallel {row[T.PARALLEL_MEDIAN_S] * 1e3:.3g} ms, sequential "
        f"{row[T.SEQUENTIAL_MEDIAN_S] * 1e3:.3g} ms{f' (extrapolated from {k})' if k < b else ''}; epoch "
        f"{row[T.EPOCH_ESTIMATED_S]:.3g} s estimated, "
        + (f"{measured:.3g} s measured" if math.isfinite(measured) else "not measured")
    )
