"""The training loop: every seed of one (batch size, momentum) cell, trained together as one stacked network.

SGD with the lecture's momentum on the mean loss of each batch, a fresh shuffle every
epoch per seed, the whole dataset on the device and batches as index slices of a
permutation. Each seed has its own initial weights, its own shuffle and its own momentum
buffer, exactly as if trained alone (batch_momentum.training.stacked; tested against a plain
nn.Module loop). After every epoch each seed's curve gets a row, and `stop_reason` decides
whether it stops (status.Status): diverged, at the target, out of budget (ok or did not
train), or stalled. A stopped seed leaves the stack; the others go on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from batch_momentum import config
from batch_momentum.io import provenance
from batch_momentum.io import tables as T
from batch_momentum.io.status import DIVERGED_LOSS, STALL_GAIN, Status, did_not_train, stalled
from batch_momentum.training import cuda_graphs, models, parallel
from batch_momentum.training import device as devices
from batch_momentum.training.models import loss_and_accuracy
from batch_momentum.training.stacked import StackedNet, trainer


def init_models(params: config.Params, meta: dict, seeds) -> list[torch.nn.Module]:
    """One model per seed, each initialised from torch.manual_seed(seed) as if built alone."""
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(models.build(params, meta))
    return out


@dataclass(frozen=True)
class Budget:
    """When a run stops: after max_epochs; once its training accuracy reaches target (None: never);
    or, with patience P, once the best training accuracy of its last P epochs is less than
    STALL_GAIN above the best before them (status "stalled": it would not reach the target)."""

    max_epochs: int
    target: float | None
    patience: int | None = None


@dataclass
class SeedRun:
    """One model of the stack: its seed and eta, its curve (row 0 = before training) and, once it
    stopped, its status, the reason and its final weights."""

    seed: int
    lr: float
    curve: list[dict] = field(default_factory=list)
    status: Status | None = None
    reason: str = ""
    state: dict | None = None


def stop_reason(curve: list[dict], epoch: int, budget: Budget) -> tuple[Status, str] | None:
    """Whether a seed stops after `epoch` (its curve's last row), and why; None: it goes on.
    The rules in order: diverged, reached the target, out of epochs, stalled."""
    last = curve[-1]
    loss, acc = last[T.TRAIN_LOSS], last[T.TRAIN_ACC]
    if not math.isfinite(loss) or loss > DIVERGED_LOSS:
        above = "" if not math.isfinite(loss) else f" (> {DIVERGED_LOSS:g})"
        return Status.DIVERGED, f"training loss became {loss:.4g} in epoch {epoch}{above}"
    if budget.target is not None and acc >= budget.target:
        return Status.OK, f"reached training accuracy {acc:.4f} >= target {budget.target} in epoch {epoch}"
    if epoch == budget.max_epochs:
        why = did_not_train(curve)
        return (Status.DID_NOT_TRAIN, why) if why else (Status.OK, f"ran the budget of {budget.max_epochs} epochs")
    p = budget.patience
    if p and epoch >= p and stalled([r[T.TRAIN_ACC] for r in curve], p):
        best = max(r[T.TRAIN_ACC] for r in curve)
        return Status.STALLED, (
            f"training accuracy gained less than {STALL_GAIN} in the last {p} epochs (best {best:.4f} in epoch {epoch})"
        )
    return None


def record(
    net: StackedNet, blob: dict, runs: list[SeedRun], active: list[int], epoch: int, updates: int, wall_s: float
) -> None:
    """Append a curve row (T.CURVE_ROW) to every active seed: loss and accuracy on the training and
    the validation split, all seeds in one pass per split, read back to the host once per split."""
    tl, ta = (t.tolist() for t in loss_and_accuracy(net.forward, blob["x_train"], blob["y_train"]))  # S floats each
    vl, va = (t.tolist() for t in loss_and_accuracy(net.forward, blob["x_val"], blob["y_val"]))
    for r, i in enumerate(active):
        runs[i].curve.append(
            {
                T.EPOCH: epoch,
                T.UPDATES: updates,
                T.WALL_S: wall_s,
                T.TRAIN_LOSS: tl[r],
                T.TRAIN_ACC: ta[r],
                T.VAL_LOSS: vl[r],
                T.VAL_ACC: va[r],
            }
        )


def train_epoch(step, shuffles, active: list[int], n: int, batch_size: int, device: torch.device) -> float:
    """One epoch of every active seed, each on its own shuffle; returns the seconds it took
    (device synchronized before and after; CUDA graphs are captured before the clock starts)."""
    perms = torch.stack([torch.randperm(n, generator=shuffles[i]) for i in active]).to(device)  # (S, n)
    step.prepare(perms, batch_size)
    devices.sync(device)
    t0 = time.perf_counter()
    for lo in range(0, n, batch_size):
        step(perms[:, lo : lo + batch_size])  # (S, b): each seed's own batch
    devices.sync(device)
    return time.perf_counter() - t0


def stop_finished(
    runs: list[SeedRun], active: list[int], epoch: int, budget: Budget, net: StackedNet, log
) -> list[int]:
    """Stop every active seed that stop_reason stops after `epoch`, keeping its status, reason and
    final weights; returns the rows of the stack (positions in `active`) that go on."""
    several_lrs = len({r.lr for r in runs}) > 1
    keep = []
    for row, i in enumerate(active):
        stop = stop_reason(runs[i].curve, epoch, budget)
        if stop is None:
            keep.append(row)
            continue
        r = runs[i]
        r.status, r.reason = stop
        r.state = net.state_dict(row)
        log(f"seed {r.seed}{f' lr {r.lr:g}' if several_lrs else ''}: {r.status}: {r.reason}")
    return keep


def summary(
    run: SeedRun, lr_rule: str, batch_size: int, momentum: float, budget: Budget, updates_per_epoch: int, shared: dict
) -> dict:
    """The run's train.json: its settings, how it ended and what it cost; `shared` holds what every run
    of the stack has in common (T.STACKED_MODELS, T.UPDATE_PATH, T.WHERE, T.N_PARAMS)."""
    last = run.curve[-1]
    reached = budget.target is not None and run.status == Status.OK and last[T.TRAIN_ACC] >= budget.target
    return {
        T.BATCH_SIZE: batch_size,
        T.MOMENTUM: momentum,
        T.SEED: run.seed,
        T.LR: run.lr,
        T.LR_RULE: lr_rule,
        T.STATUS: run.status.value,
        T.REASON: run.reason,
        T.EPOCHS: last[T.EPOCH],
        T.UPDATES: last[T.UPDATES],
        T.UPDATES_PER_EPOCH: updates_per_epoch,
        T.TRAIN_WALL_S: last[T.WALL_S],
        T.EPOCH_WALL_S: last[T.WALL_S] / max(last[T.EPOCH], 1),
        **shared,
        T.REACHED_TARGET: reached,
        T.EPOCHS_TO_TARGET: last[T.EPOCH] if reached else None,
    }


def train_cell(
    params: config.Params,
    blob: dict,
    batch_size: int,
    momentum: float,
    seeds,
    device: torch.device,
    log=print,
    *,
    lrs=None,
    budget: Budget | None = None,
    cores: int = 1,
) -> list[dict]:
    """Train the seeds of one cell together; one {"state", "init_state", "curve", "summary"} per seed.

    Models are trained as one stacked network, one per entry of `seeds` (a seed may repeat when
    `lrs`, one eta per model, gives them different learning rates; default: train.lr under
    train.lr_rule for all). `budget` defaults to train.max_epochs and train.target_train_acc.
    curve: one dict of T.CURVE_ROW per epoch (0 = before training); wall_s is the training time
    of the stacked network so far (it trains its T.STACKED_MODELS models at once).

    With cores > 1 on the CPU, dense models are dealt over that many processes, each a stack of its
    own (training.parallel): the same numbers, model by model, as one stack. Convolutions train in
    one stack on `cores` threads: a grouped convolution's last bits depend on how many groups it has.
    """
    tr = params.train
    budget = budget or Budget(tr.max_epochs, tr.target_train_acc)
    lrs = [config.learning_rate(tr, batch_size, momentum)] * len(seeds) if lrs is None else [float(v) for v in lrs]
    processes, threads = parallel.plan_for(params, blob["meta"], cores, len(seeds), device)
    if processes > 1:
        sizes = [len(g) for g in parallel.split(len(seeds), processes)]
        log(f"{len(seeds)} models in {processes} processes, a stack of {sizes} models each")
        members = list(zip(seeds, lrs))
        trained = parallel.deal(
            _train_part, members, processes, threads, params, blob, batch_size, momentum, device, budget
        )
        for r in trained:
            r["summary"][T.PROCESSES] = processes
        return trained
    if device.type == "cuda":  # every CPU kernel the loop uses is deterministic already; the switch itself
        # imports torch's compiler configuration, 1.4 s of every training process's start on a CPU
        torch.use_deterministic_algorithms(True, warn_only=True)
    runs = [SeedRun(int(s), lr) for s, lr in zip(seeds, lrs)]
    inits = init_models(params, blob["meta"], [r.seed for r in runs])
    net = StackedNet(inits, blob["meta"]["input_shape"], device)
    opt = trainer(net, lrs[0] if len(set(lrs)) == 1 else lrs, momentum)
    step = cuda_graphs.updater(opt, blob["x_train"], blob["y_train"], device, tr.cuda_graph, batch_size)
    n = len(blob["y_train"])
    per_epoch = math.ceil(n / batch_size)
    shuffles = [torch.Generator(device="cpu").manual_seed(10_000 + r.seed) for r in runs]
    active = list(range(len(runs)))  # positions in `runs` still training, in stack order
    wall = 0.0
    record(net, blob, runs, active, epoch=0, updates=0, wall_s=0.0)
    for epoch in range(1, budget.max_epochs + 1):
        wall += train_epoch(step, shuffles, active, n, batch_size, device)
        record(net, blob, runs, active, epoch=epoch, updates=epoch * per_epoch, wall_s=wall)
        accs = " ".join(f"seed{runs[i].seed} {runs[i].curve[-1][T.TRAIN_ACC]:.3f}" for i in active)
        log(f"epoch {epoch:3d}/{budget.max_epochs}  updates {epoch * per_epoch:7d}  train acc {accs}  {wall:.1f}s")
        keep = stop_finished(runs, active, epoch, budget, net, log)
        if len(keep) < len(active):
            active = [active[row] for row in keep]
            if not active:
                break
            step.keep(keep)
    shared = {
        T.STACKED_MODELS: len(runs),
        T.PROCESSES: 1,
        T.UPDATE_PATH: step.name,
        **run_metadata(device),
        T.N_PARAMS: models.n_params(inits[0]),
    }
    return [
        {
            "state": r.state,
            "init_state": {k: v.detach().cpu().clone() for k, v in init.state_dict().items()},
            "curve": r.curve,
            "summary": summary(r, tr.lr_rule, batch_size, momentum, budget, per_epoch, shared),
        }
        for r, init in zip(runs, inits)
    ]


def _train_part(members, params, blob, batch_size, momentum, device, budget) -> list[dict]:
    """train_cell on one process's part of the models, (seed, eta) each, its log lines marked with the part."""
    seeds, lrs = [s for s, _ in members], [lr for _, lr in members]
    label = f"[seeds {' '.join(str(s) for s in sorted(set(seeds)))}] "
    return train_cell(
        params,
        blob,
        batch_size,
        momentum,
        seeds,
        device,
        lambda s: print(label + s, flush=True),
        lrs=lrs,
        budget=budget,
    )


def run_metadata(device: torch.device) -> dict:
    """What every result records about where it ran and which code made it (T.WHERE)."""
    return {
        T.DEVICE: str(device),
        T.DEVICE_NAME: devices.name(device),
        T.THREADS: torch.get_num_threads(),
        T.TORCH_VERSION: str(torch.__version__),
        **provenance.code_version(),
    }
