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
from batch_momentum.training import cuda_graphs, models
from batch_momentum.training import device as devices
from batch_momentum.training.stacked import StackedNet, loss_and_accuracy, trainer
from batch_momentum.training.status import DIVERGED_LOSS, STALL_GAIN, Status, did_not_train, stalled


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
    loss, acc = last["train_loss"], last["train_acc"]
    if not math.isfinite(loss) or loss > DIVERGED_LOSS:
        above = "" if not math.isfinite(loss) else f" (> {DIVERGED_LOSS:g})"
        return Status.DIVERGED, f"training loss became {loss:.4g} in epoch {epoch}{above}"
    if budget.target is not None and acc >= budget.target:
        return Status.OK, f"reached training accuracy {acc:.4f} >= target {budget.target} in epoch {epoch}"
    if epoch == budget.max_epochs:
        why = did_not_train(curve)
        return (Status.DID_NOT_TRAIN, why) if why else (Status.OK, f"ran the budget of {budget.max_epochs} epochs")
    p = budget.patience
    if p and epoch >= p and stalled([r["train_acc"] for r in curve], p):
        best = max(r["train_acc"] for r in curve)
        return Status.STALLED, (f"training accuracy gained less than {STALL_GAIN} in the last {p} epochs "
                                f"(best {best:.4f} in epoch {epoch})")
    return None


def record(net: StackedNet, blob: dict, runs: list[SeedRun], active: list[int], **row) -> None:
    """Append a curve row to every active seed: loss and accuracy on the training and the
    validation split (one host sync per split for all seeds) plus the given columns."""
    tl, ta = loss_and_accuracy(net, blob["x_train"], blob["y_train"])
    vl, va = loss_and_accuracy(net, blob["x_val"], blob["y_val"])
    for r, i in enumerate(active):
        runs[i].curve.append(dict(row, train_loss=tl[r].item(), train_acc=ta[r].item(), val_loss=vl[r].item(),
                                  val_acc=va[r].item()))


def train_epoch(step, shuffles, active: list[int], n: int, batch_size: int, device: torch.device) -> float:
    """One epoch of every active seed, each on its own shuffle; returns the seconds it took
    (device synchronized before and after; CUDA graphs are captured before the clock starts)."""
    perms = torch.stack([torch.randperm(n, generator=shuffles[i]) for i in active]).to(device)  # (S, n)
    step.prepare(perms, batch_size)
    devices.sync(device)
    t0 = time.perf_counter()
    for lo in range(0, n, batch_size):
        step(perms[:, lo:lo + batch_size])  # (S, b): each seed's own batch
    devices.sync(device)
    return time.perf_counter() - t0


def summary(run: SeedRun, params: config.Params, batch_size: int, momentum: float, budget: Budget,
            extra: dict) -> dict:
    """The run's train.json: its settings, how it ended and what it cost."""
    last = run.curve[-1]
    reached = budget.target is not None and run.status == Status.OK and last["train_acc"] >= budget.target
    return dict(batch_size=batch_size, momentum=momentum, seed=run.seed, lr=run.lr, lr_rule=params.train.lr_rule,
                status=run.status.value, reason=run.reason, epochs=last["epoch"], updates=last["updates"],
                updates_per_epoch=math.ceil(extra.pop("n") / batch_size), train_wall_s=last["wall_s"],
                epoch_wall_s=last["wall_s"] / max(last["epoch"], 1), **extra, reached_target=reached,
                epochs_to_target=last["epoch"] if reached else None)


def train_cell(params: config.Params, blob: dict, batch_size: int, momentum: float, seeds, device: torch.device,
               log=print, *, lrs=None, budget: Budget | None = None) -> list[dict]:
    """Train the seeds of one cell together; one {"state", "init_state", "curve", "summary"} per seed.

    Models are trained as one stacked network, one per entry of `seeds` (a seed may repeat when
    `lrs`, one eta per model, gives them different learning rates; default: train.lr under
    train.lr_rule for all). `budget` defaults to train.max_epochs and train.target_train_acc.
    curve: a list of dicts with CURVE_COLUMNS, one per epoch (0 = before training); wall_s is
    the training time of the stacked network so far (it trains len(seeds) models at once).
    """
    tr = params.train
    budget = budget or Budget(tr.max_epochs, tr.target_train_acc)
    torch.use_deterministic_algorithms(True, warn_only=True)
    lrs = [config.learning_rate(tr, batch_size)] * len(seeds) if lrs is None else [float(v) for v in lrs]
    runs = [SeedRun(int(s), lr) for s, lr in zip(seeds, lrs)]
    inits = init_models(params, blob["meta"], [r.seed for r in runs])
    net = StackedNet(inits, blob["meta"]["input_shape"], device)
    opt = trainer(net, lrs[0] if len(set(lrs)) == 1 else lrs, momentum)
    step = cuda_graphs.updater(opt, blob["x_train"], blob["y_train"], device, tr.cuda_graph, batch_size)
    n = len(blob["y_train"])
    shuffles = [torch.Generator(device="cpu").manual_seed(10_000 + r.seed) for r in runs]
    active = list(range(len(runs)))  # positions in `runs` still training, in stack order
    updates, wall = 0, 0.0
    record(net, blob, runs, active, epoch=0, updates=0, wall_s=0.0)
    for epoch in range(1, budget.max_epochs + 1):
        wall += train_epoch(step, shuffles, active, n, batch_size, device)
        updates += math.ceil(n / batch_size)
        record(net, blob, runs, active, epoch=epoch, updates=updates, wall_s=wall)
        accs = " ".join(f"seed{runs[i].seed} {runs[i].curve[-1]['train_acc']:.3f}" for i in active)
        log(f"epoch {epoch:3d}/{budget.max_epochs}  updates {updates:7d}  train acc {accs}  {wall:.1f}s")
        keep = []
        for row, i in enumerate(active):
            stop = stop_reason(runs[i].curve, epoch, budget)
            if stop is None:
                keep.append(row)
                continue
            r = runs[i]
            r.status, r.reason = stop
            r.state = net.state_dict(row)
            log(f"seed {r.seed}{'' if len(set(lrs)) == 1 else f' lr {r.lr:g}'}: {r.status}: {r.reason}")
        if len(keep) < len(active):
            active = [active[r] for r in keep]
            if not active:
                break
            step.keep(keep)
    where = run_metadata(device)
    out = []
    for r, init in zip(runs, inits):
        extra = dict(stacked_models=len(runs), update_path=step.name, **where, n_params=models.n_params(init), n=n)
        out.append({"state": r.state, "init_state": {k: v.detach().cpu().clone() for k, v in init.state_dict().items()},
                    "curve": r.curve, "summary": summary(r, params, batch_size, momentum, budget, extra)})
    return out


def run_metadata(device: torch.device) -> dict:
    """What every result records about where it ran and which code made it."""
    return dict(device=str(device), device_name=devices.name(device), threads=torch.get_num_threads(),
                torch_version=str(torch.__version__), **provenance.code_version())
