"""train: every seed of one (batch size, momentum) cell, trained together as one stacked network.

SGD with the lecture's momentum on the mean loss of each batch, a fresh shuffle every
epoch per seed, the whole dataset on the device and batches as index slices of a
permutation. Each seed has its own initial weights, its own shuffle and its own momentum
buffer, exactly as if trained alone (batch_momentum.stacked; tested against a plain
nn.Module loop). Each seed stops after train.max_epochs, or earlier once its training
accuracy reaches train.target_train_acc; a training loss that turns NaN or infinite, or
exceeds DIVERGED_LOSS, ends that seed with status "diverged". A seed that used its budget
without training (did_not_train) ends as "did not train". The others go on. Outputs are per seed:
results/cells/bs<B>_lam<λ>/seed<s>/{model.pt, curve.csv, train.json}.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import config, data, device as devices, graphs, models, provenance, results
from .status import DIVERGED_LOSS, STALL_GAIN, did_not_train, stalled
from .stacked import StackedNet, loss_and_accuracy, trainer


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
    seeds = list(seeds)
    budget = budget or Budget(tr.max_epochs, tr.target_train_acc)
    torch.use_deterministic_algorithms(True, warn_only=True)
    lrs = [config.learning_rate(tr, batch_size)] * len(seeds) if lrs is None else [float(v) for v in lrs]
    inits = init_models(params, blob["meta"], seeds)
    net = StackedNet(inits, blob["meta"]["input_shape"], device)
    opt = trainer(net, lrs[0] if len(set(lrs)) == 1 else lrs, momentum)
    x, y = blob["x_train"], blob["y_train"]
    step = graphs.updater(opt, x, y, device, tr.cuda_graph, batch_size)  # eager, or replayed CUDA graphs
    xv, yv = blob["x_val"], blob["y_val"]
    n = len(y)
    updates_per_epoch = math.ceil(n / batch_size)
    shuffles = [torch.Generator(device="cpu").manual_seed(10_000 + s) for s in seeds]
    target, max_epochs, patience = budget.target, budget.max_epochs, budget.patience
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
        log(f"seed {seeds[i]}{'' if len(set(lrs)) == 1 else f' lr {lrs[i]:g}'}: {status}: {reason}")

    record(0)
    for epoch in range(1, max_epochs + 1):
        perms = torch.stack([torch.randperm(n, generator=shuffles[i]) for i in active]).to(device)  # (S, n)
        step.prepare(perms, batch_size)  # CUDA graphs captured here, outside the clock
        devices.sync(device)
        t0 = time.perf_counter()
        for lo in range(0, n, batch_size):
            step(perms[:, lo:lo + batch_size])  # (S, b): each seed's own batch
        devices.sync(device)
        wall += time.perf_counter() - t0
        updates += updates_per_epoch
        record(epoch)
        accs = " ".join(f"seed{seeds[i]} {curves[i][-1]['train_acc']:.3f}" for i in active)
        log(f"epoch {epoch:3d}/{max_epochs}  updates {updates:7d}  train acc {accs}  {wall:.1f}s")
        keep = []
        for row, i in enumerate(active):
            c = curves[i][-1]
            if not math.isfinite(c["train_loss"]) or c["train_loss"] > DIVERGED_LOSS:
                finish(i, row, "diverged", f"training loss became {c['train_loss']:.4g} in epoch {epoch}"
                                           + ("" if not math.isfinite(c["train_loss"]) else f" (> {DIVERGED_LOSS:g})"))
            elif target is not None and c["train_acc"] >= target:
                finish(i, row, "ok", f"reached training accuracy {c['train_acc']:.4f} >= target {target} "
                                     f"in epoch {epoch}")
            elif epoch == max_epochs:
                why = did_not_train(curves[i])
                finish(i, row, "did not train" if why else "ok", why or f"ran the budget of {max_epochs} epochs")
            elif patience and epoch >= patience and stalled([r["train_acc"] for r in curves[i]], patience):
                finish(i, row, "stalled", f"training accuracy gained less than {STALL_GAIN} in the last {patience} "
                                          f"epochs (best {max(r['train_acc'] for r in curves[i]):.4f} in epoch {epoch})")
            else:
                keep.append(row)
        if len(keep) < len(active):
            active = [active[r] for r in keep]
            if not active:
                break
            step.keep(keep)

    out = []
    meta = run_metadata(device)
    for i, seed in enumerate(seeds):
        last = curves[i][-1]
        reached = target is not None and final[i]["status"] == "ok" and last["train_acc"] >= target
        summary = dict(
            batch_size=batch_size, momentum=momentum, seed=seed, lr=lrs[i], lr_rule=tr.lr_rule, **final[i],
            epochs=last["epoch"], updates=last["updates"], updates_per_epoch=updates_per_epoch,
            train_wall_s=last["wall_s"], epoch_wall_s=last["wall_s"] / max(last["epoch"], 1),
            stacked_models=len(seeds), update_path=step.name, reached_target=reached,
            epochs_to_target=last["epoch"] if reached else None,
            **meta, n_params=models.n_params(inits[i]),
        )
        out.append({"state": state[i],
                    "init_state": {k: v.detach().cpu().clone() for k, v in inits[i].state_dict().items()},
                    "curve": curves[i], "summary": summary})
    return out


def run_metadata(device: torch.device) -> dict:
    """What every result records about where it ran and which code made it."""
    return dict(device=str(device), device_name=devices.name(device), threads=torch.get_num_threads(),
                torch_version=str(torch.__version__), **provenance.code_version())


def choose_lr(candidates: list[dict]) -> dict:
    """The equal-accuracy protocol's choice of eta for one (B, lambda), from one summary per
    (eta, seed): among the eta whose every seed reached the target, the one with the best mean
    validation accuracy (the fair comparison of Shallue et al. 2019). When no eta qualifies, the
    one with the most seeds at the target, then the best mean training accuracy, is kept and
    `reached` is False: its runs are shown, never counted as at equal training accuracy."""
    by_lr: dict[float, list[dict]] = {}
    for c in candidates:
        by_lr.setdefault(c["lr"], []).append(c)

    def mean(rows, key):
        return sum(r[key] for r in rows) / len(rows)

    qualified = [lr for lr, rows in by_lr.items() if all(r["reached_target"] for r in rows)]
    if qualified:
        lr = max(qualified, key=lambda v: (mean(by_lr[v], "val_acc"), -v))
        return dict(lr=lr, reached=True, why=f"best mean validation accuracy ({mean(by_lr[lr], 'val_acc'):.4f}) of the "
                                             f"{len(qualified)} of {len(by_lr)} eta whose every seed reached the target")
    lr = max(by_lr, key=lambda v: (sum(r["reached_target"] for r in by_lr[v]), mean(by_lr[v], "train_acc"), -v))
    n_reached = sum(r["reached_target"] for r in by_lr[lr])
    return dict(lr=lr, reached=False, why=f"no eta of {sorted(by_lr)} brought every seed to the target; kept the "
                                          f"closest ({n_reached} of {len(by_lr[lr])} seeds at the target, mean "
                                          f"training accuracy {mean(by_lr[lr], 'train_acc'):.4f})")


def _train_equal_acc(params: config.Params, blob: dict, batch_size: int, momentum: float, device, out: Path) -> None:
    """Every candidate eta x every seed in one stacked network; the chosen eta's runs go to out/seed<s>/,
    one row per candidate run to out/candidates.csv, the choice to out/choice.json."""
    ea, seeds = params.equal_acc, list(params.grid.seed)
    lrs = ea.lrs(batch_size, momentum)
    members = [(lr, s) for lr in lrs for s in seeds]
    print(f"equal accuracy: B={batch_size}, lambda={momentum}, eta {lrs} x seeds {seeds} = {len(members)} models "
          f"stacked, target {ea.target_train_acc} within {ea.max_epochs} epochs, on {device}", flush=True)
    runs = train_cell(params, blob, batch_size, momentum, [s for _, s in members], device,
                      log=lambda s: print(s, flush=True), lrs=[lr for lr, _ in members],
                      budget=Budget(ea.max_epochs, ea.target_train_acc, ea.patience))
    rows = []
    for r in runs:
        r["summary"].update(protocol="equal_acc", train_acc=r["curve"][-1]["train_acc"],
                            val_acc=r["curve"][-1]["val_acc"])
        rows.append({k: r["summary"][k] for k in results.CANDIDATE_COLUMNS})
    choice = choose_lr(rows)
    for r in runs:
        r["summary"].update(chosen_lr=choice["lr"], lr_candidates=lrs)
        if r["summary"]["lr"] == choice["lr"]:
            results.write_run(out / f"seed{r['summary']['seed']}", r, params)
    results.write_candidates(out, rows, dict(choice, batch_size=batch_size, momentum=momentum, candidates=lrs))
    print(f"chose eta {choice['lr']:g}: {choice['why']} -> {out}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum train", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--momentum", type=float, required=True)
    ap.add_argument("--protocol", choices=("equal_epochs", "equal_acc"), default="equal_epochs",
                    help="equal_epochs: the grid cell under params' train section (the default); equal_acc: "
                         "Keskar's protocol under params' equal_acc section")
    ap.add_argument("--out", required=True, help="the cell's folder, e.g. results/cells/bs8_lam0.9; "
                                                 "each seed of grid.seed gets seed<s>/ under it")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    config.check_cell(params, args.batch_size, args.momentum, args.protocol)
    device, blob = data.load_on_device(args.data, params, params.train.threads)
    if args.protocol == "equal_acc":
        _train_equal_acc(params, blob, args.batch_size, args.momentum, device, Path(args.out))
        return 0
    seeds = params.grid.seed
    print(f"cell bs{args.batch_size} lam{args.momentum}, seeds {list(seeds)} stacked, on {device} "
          f"(lr {config.learning_rate(params.train, args.batch_size):g}, rule {params.train.lr_rule})", flush=True)
    runs = train_cell(params, blob, args.batch_size, args.momentum, seeds, device, log=lambda s: print(s, flush=True))
    for seed, result in zip(seeds, runs):
        result["summary"]["protocol"] = "equal_epochs"
        results.write_run(Path(args.out) / f"seed{seed}", result, params)
    print(f"{len(seeds)} seeds in {runs[0]['summary']['train_wall_s']:.1f} s of training -> {args.out}")
    return 0
