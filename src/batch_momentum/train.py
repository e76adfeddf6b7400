"""train: every seed of one (batch size, momentum) cell, trained together as one stacked network.

SGD with the lecture's momentum on the mean loss of each batch, a fresh shuffle every
epoch per seed, the whole dataset on the device and batches as index slices of a
permutation. Each seed has its own initial weights, its own shuffle and its own momentum
buffer, exactly as if trained alone (batch_momentum.stacked; tested against a plain
nn.Module loop). Each seed stops after train.max_epochs, or earlier once its training
accuracy reaches train.target_train_acc; a loss that turns NaN or infinite ends that
seed with status "diverged". The others go on. Outputs are per seed:
results/cells/bs<B>_lam<λ>/seed<s>/{model.pt, curve.csv, train.json}.
"""
from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import torch

from . import config, data, device as devices, models, results
from .stacked import StackedNet, loss_and_accuracy, trainer


def init_models(params: config.Params, meta: dict, seeds) -> list[torch.nn.Module]:
    """One model per seed, each initialised from torch.manual_seed(seed) as if built alone."""
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(models.build(params, meta))
    return out


def train_cell(params: config.Params, blob: dict, batch_size: int, momentum: float, seeds, device: torch.device,
               log=print) -> list[dict]:
    """Train the seeds of one cell together; one {"state", "init_state", "curve", "summary"} per seed.

    curve: a list of dicts with CURVE_COLUMNS, one per epoch (0 = before training); wall_s is
    the training time of the stacked network so far (it trains len(seeds) models at once).
    """
    tr = params.train
    seeds = list(seeds)
    torch.use_deterministic_algorithms(True, warn_only=True)
    lr = config.learning_rate(tr, batch_size)
    inits = init_models(params, blob["meta"], seeds)
    net = StackedNet(inits, blob["meta"]["input_shape"], device)
    opt = trainer(net, lr, momentum)
    x, y = blob["x_train"], blob["y_train"]
    xv, yv = blob["x_val"], blob["y_val"]
    n = len(y)
    updates_per_epoch = math.ceil(n / batch_size)
    shuffles = [torch.Generator(device="cpu").manual_seed(10_000 + s) for s in seeds]
    target = tr.target_train_acc
    active = list(range(len(seeds)))  # positions in `seeds` still training, in stack order
    curves: list[list[dict]] = [[] for _ in seeds]
    final: dict[int, dict] = {}
    state: dict[int, dict] = {}
    updates, wall = 0, 0.0

    def record(epoch):  # one host sync per split for all seeds
        tl, ta = loss_and_accuracy(net, x, y)
        vl, va = loss_and_accuracy(net, xv, yv)
        for row, i in enumerate(active):
            curves[i].append(dict(epoch=epoch, updates=updates, wall_s=wall, train_loss=tl[row].item(),
                                  train_acc=ta[row].item(), val_loss=vl[row].item(), val_acc=va[row].item()))

    def finish(i, row, status, reason):
        state[i] = net.state_dict(row)
        final[i] = dict(status=status, reason=reason)
        log(f"seed {seeds[i]}: {status}: {reason}")

    record(0)
    for epoch in range(1, tr.max_epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=shuffles[i]) for i in active]).to(device)  # (S, n)
        devices.sync(device)
        t0 = time.perf_counter()
        for lo in range(0, n, batch_size):
            idx = perms[:, lo:lo + batch_size]  # (S, b): each seed's own batch
            opt.update(x[idx], y[idx])
        devices.sync(device)
        wall += time.perf_counter() - t0
        updates += updates_per_epoch
        record(epoch)
        accs = " ".join(f"seed{seeds[i]} {curves[i][-1]['train_acc']:.3f}" for i in active)
        log(f"epoch {epoch:3d}/{tr.max_epochs}  updates {updates:7d}  train acc {accs}  {wall:.1f}s")
        keep = []
        for row, i in enumerate(active):
            c = curves[i][-1]
            if not math.isfinite(c["train_loss"]):
                finish(i, row, "diverged", f"training loss became {c['train_loss']} in epoch {epoch}")
            elif target is not None and c["train_acc"] >= target:
                finish(i, row, "ok", f"reached training accuracy {c['train_acc']:.4f} >= target {target} "
                                     f"in epoch {epoch}")
            elif epoch == tr.max_epochs:
                finish(i, row, "ok", f"ran the budget of {tr.max_epochs} epochs")
            else:
                keep.append(row)
        if len(keep) < len(active):
            active = [active[r] for r in keep]
            if not active:
                break
            opt.keep(keep)

    out = []
    meta = run_metadata(device)
    for i, seed in enumerate(seeds):
        last = curves[i][-1]
        reached = target is not None and final[i]["status"] == "ok" and last["train_acc"] >= target
        summary = dict(
            batch_size=batch_size, momentum=momentum, seed=seed, lr=lr, lr_rule=tr.lr_rule, **final[i],
            epochs=last["epoch"], updates=last["updates"], updates_per_epoch=updates_per_epoch,
            train_wall_s=last["wall_s"], epoch_wall_s=last["wall_s"] / max(last["epoch"], 1),
            stacked_models=len(seeds), reached_target=reached, epochs_to_target=last["epoch"] if reached else None,
            **meta, n_params=models.n_params(inits[i]),
        )
        out.append({"state": state[i],
                    "init_state": {k: v.detach().cpu().clone() for k, v in inits[i].state_dict().items()},
                    "curve": curves[i], "summary": summary})
    return out


def run_metadata(device: torch.device) -> dict:
    """What every result records about where it ran."""
    return dict(device=str(device), device_name=devices.name(device), threads=torch.get_num_threads(),
                torch_version=str(torch.__version__), python=platform.python_version())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum train", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--momentum", type=float, required=True)
    ap.add_argument("--out", required=True, help="the cell's folder, e.g. results/cells/bs8_lam0.9; "
                                                 "each seed of grid.seed gets seed<s>/ under it")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    config.check_cell(params, args.batch_size, args.momentum)
    device, blob = data.load_on_device(args.data, params, params.train.threads)
    seeds = params.grid.seed
    print(f"cell bs{args.batch_size} lam{args.momentum}, seeds {list(seeds)} stacked, on {device} "
          f"(lr {config.learning_rate(params.train, args.batch_size):g}, rule {params.train.lr_rule})", flush=True)
    runs = train_cell(params, blob, args.batch_size, args.momentum, seeds, device, log=lambda s: print(s, flush=True))
    for seed, result in zip(seeds, runs):
        results.write_run(Path(args.out) / f"seed{seed}", result, params)
    print(f"{len(seeds)} seeds in {runs[0]['summary']['train_wall_s']:.1f} s of training -> {args.out}")
    return 0
