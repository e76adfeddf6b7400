"""A step's cores on the CPU: its independent models split over processes, one torch thread each.

The models of a stack never interact (each has its own weights, batches and momentum buffer), so a
stack of S models is the same, model by model and bit for bit, as two stacks of S/2 (tested in
tests/test_parallel.py). On this project's models that is the way to use a second core: two torch
threads on one stack took 0.97x the time of one thread, two processes on half stacks 0.55x
(docs/performance.md). Snakemake runs jobs side by side with one core each and never splits; DVC
runs one stage at a time and gives it every core (`--threads all`).

Processes are spawned, not forked (a fork of a process whose OpenMP threads have started can hang);
the calling process trains the first part itself while the others start.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import torch


def plan(cores: int, n_models: int, device: torch.device) -> tuple[int, int]:
    """(processes, torch threads per process) for `cores` CPU cores and a stack of n_models: one process per
    core up to one per model, the cores left over as threads; on a GPU one process (the GPU is shared)."""
    cores = max(1, int(cores))
    if device.type != "cpu" or n_models < 2:
        return 1, cores
    processes = min(cores, n_models)
    return processes, cores // processes


def plan_for(params, meta: dict, cores: int, n_models: int, device: torch.device) -> tuple[int, int]:
    """plan() for models of params' architecture: dealt over processes only where a model computes the same
    in any stack (dense models: per model batched matmuls); a grouped convolution's last bits depend on how
    many models share it, so a CNN stays in one process with every core as threads."""
    from batch_momentum.training import models
    from batch_momentum.training.stacked import DenseTrainer, StackedNet

    with torch.random.fork_rng(devices=[]):  # building a model draws from torch's generator: leave it as it was
        dense = DenseTrainer.supports(StackedNet([models.build(params, meta)], meta["input_shape"]))
    if not dense:
        return 1, max(1, int(cores))
    return plan(cores, n_models, device)


def split(n: int, parts: int) -> list[list[int]]:
    """0..n-1 dealt round robin into `parts` lists (none empty when parts <= n): the models of a sweep
    are ordered eta by eta, so every part gets every eta and about the same work."""
    return [list(range(p, n, parts)) for p in range(min(parts, n))]


def _exit_with(parent: int) -> None:
    """End this worker once the process that started it is gone (killed, say, by a stopped `dvc repro`):
    its part would be lost anyway, and it would hold a core for minutes."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _in_worker(fn: Callable, threads: int, parent: int, args: tuple) -> bytes:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    torch.set_num_threads(threads)
    buf = io.BytesIO()
    torch.save(fn(*args), buf)  # tensors back as plain bytes: no shared-memory handle per tensor
    return buf.getvalue()


def share(obj) -> None:
    """Move every CPU tensor in obj (nested in dicts, lists, tuples, or a module's weights) to shared memory,
    in place. run_parts does this before any part starts: a tensor handed to another process is otherwise
    moved to shared memory by the pool's feeder thread while this process may be reading it (its storage
    swapped under a running kernel: one evaluation's training loss once came out 7e-6 off)."""
    if torch.is_tensor(obj):
        if obj.device.type == "cpu":
            obj.share_memory_()
    elif isinstance(obj, torch.nn.Module):
        obj.share_memory()
    elif isinstance(obj, dict):
        for v in obj.values():
            share(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            share(v)


def run_parts(fn: Callable, parts: Sequence[tuple], threads: int = 1) -> list:
    """fn(*args) for every args of `parts`, each in its own process with `threads` torch threads, the
    first in this one; the results in the order of `parts`. fn must be a module-level function and its
    results what torch.save writes (tensors, numbers, strings, lists and dicts of them). An exception in
    any part is raised here."""
    if len(parts) == 1:
        return [fn(*parts[0])]
    share(list(parts))  # before any part runs (see share)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(parts) - 1, mp_context=ctx) as pool:
        futures = [pool.submit(_in_worker, fn, threads, os.getpid(), args) for args in parts[1:]]
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            first = fn(*parts[0])
        finally:
            torch.set_num_threads(before)
        rest = [torch.load(io.BytesIO(f.result()), weights_only=True) for f in futures]
    return [first, *rest]


def deal(fn: Callable, items: Sequence, processes: int, threads: int, *args) -> list:
    """fn(part, *args) for `items` dealt round robin into `processes` parts (run_parts: one process each, the
    first in this one); fn returns one result per item of its part. The results in the order of `items`."""
    groups = split(len(items), processes)
    out: list = [None] * len(items)
    for g, results in zip(groups, run_parts(fn, [([items[i] for i in g], *args) for g in groups], threads)):
        if len(results) != len(g):
            raise RuntimeError(f"{fn.__name__} gave {len(results)} results for {len(g)} items")
        for i, r in zip(g, results):
            out[i] = r
    return out
