"""train: one model for one (batch size, momentum, seed) cell of the grid.

SGD with the lecture's momentum on the mean loss of each batch, a fresh shuffle every
epoch, the whole dataset on the device and batches as index slices of a permutation.
Stops after train.max_epochs, or earlier once training accuracy reaches
train.target_train_acc. A loss that turns NaN or infinite ends the cell with status
"diverged"; the files are still written so the rest of the pipeline goes on.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import config, data, models
from .optim import LectureMomentum

CURVE_COLUMNS = ["epoch", "updates", "wall_s", "train_loss", "train_acc", "val_loss", "val_acc"]
EVAL_CHUNK = 8192  # examples per forward pass when measuring a whole split


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise config.ParamsError("train.device = 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def loss_and_accuracy(model, x, y) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split (one host sync at the end)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for lo in range(0, len(y), EVAL_CHUNK):
        out = model(x[lo:lo + EVAL_CHUNK])
        loss_sum += F.cross_entropy(out, y[lo:lo + EVAL_CHUNK], reduction="sum").double()
        correct += (out.argmax(1) == y[lo:lo + EVAL_CHUNK]).sum()
    model.train(was_training)
    n = len(y)
    return loss_sum.item() / n, correct.item() / n  # CPU-GPU sync point


def build_model(params: dict, meta: dict) -> torch.nn.Module:
    m = params["model"]
    return models.make_model(m["name"], tuple(meta["input_shape"]), meta["n_classes"], m["hidden"])


def train_cell(params: dict, blob: dict, batch_size: int, momentum: float, seed: int,
               device: torch.device, log=print) -> dict:
    """Train one cell; return {"model", "curve", "summary"} (curve: list of dicts, CURVE_COLUMNS)."""
    tr = params["train"]
    seed_everything(seed, tr["threads"])
    lr = config.learning_rate(tr, batch_size)
    model = build_model(params, blob["meta"]).to(device)
    init_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    opt = LectureMomentum(model.parameters(), lr=lr, momentum=momentum)
    x, y = blob["x_train"], blob["y_train"]
    xv, yv = blob["x_val"], blob["y_val"]
    n = len(y)
    updates_per_epoch = math.ceil(n / batch_size)
    shuffle = torch.Generator(device="cpu").manual_seed(10_000 + seed)
    target = tr["target_train_acc"]

    curve = []
    updates, wall = 0, 0.0

    def record(epoch):
        tl, ta = loss_and_accuracy(model, x, y)
        vl, va = loss_and_accuracy(model, xv, yv)
        curve.append(dict(epoch=epoch, updates=updates, wall_s=wall, train_loss=tl, train_acc=ta,
                          val_loss=vl, val_acc=va))
        return tl, ta

    record(0)
    status, reason = "ok", f"ran the budget of {tr['max_epochs']} epochs"
    model.train()
    for epoch in range(1, tr["max_epochs"] + 1):
        perm = torch.randperm(n, generator=shuffle).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for lo in range(0, n, batch_size):
            idx = perm[lo:lo + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])  # mean over the batch
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall += time.perf_counter() - t0
        updates += updates_per_epoch
        tl, ta = record(epoch)
        c = curve[-1]
        log(f"epoch {epoch:3d}/{tr['max_epochs']}  updates {updates:7d}  train loss {tl:.4f} acc {ta:.4f}  "
            f"val loss {c['val_loss']:.4f} acc {c['val_acc']:.4f}  {wall:.1f}s")
        if not math.isfinite(tl):
            status, reason = "diverged", f"training loss became {tl} in epoch {epoch}"
            log(f"diverged: {reason}")
            break
        if target is not None and ta >= target:
            reason = f"reached training accuracy {ta:.4f} >= target {target} in epoch {epoch}"
            break

    last = curve[-1]
    reached = target is not None and status == "ok" and last["train_acc"] >= target
    summary = dict(
        batch_size=batch_size, momentum=momentum, seed=seed, lr=lr, lr_rule=tr["lr_rule"],
        status=status, reason=reason, epochs=last["epoch"], updates=updates,
        updates_per_epoch=updates_per_epoch, train_wall_s=wall,
        epoch_wall_s=wall / max(last["epoch"], 1), reached_target=reached,
        epochs_to_target=last["epoch"] if reached else None,
        device=str(device), device_name=device_name(device), threads=torch.get_num_threads(),
        torch_version=str(torch.__version__), python=platform.python_version(),
        n_params=models.n_params(model),
    )
    return {"model": model, "init_state": init_state, "curve": curve, "summary": summary}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def write_outputs(out: Path, result: dict, params: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: v.cpu() for k, v in result["model"].state_dict().items()},
                "init_state_dict": result["init_state"],  # the weights at step 0, for start-of-training measures
                "params": params, "summary": result["summary"]}, out / "model.pt")
    with open(out / "curve.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CURVE_COLUMNS)
        w.writeheader()
        w.writerows(result["curve"])
    (out / "train.json").write_text(json.dumps(_finite(result["summary"]), indent=2) + "\n")


def _finite(obj):
    """JSON has no NaN or Infinity: write them as null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum train", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--momentum", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True, help="the cell's folder, e.g. results/cells/bs8_lam0.9_seed1")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    n_train = params["data"]["n_train"]
    if not 1 <= args.batch_size <= n_train:
        raise config.ParamsError(f"--batch-size {args.batch_size} is invalid; allowed: 1 <= B <= data.n_train = {n_train}")
    if not 0 <= args.momentum < 1:
        raise config.ParamsError(f"--momentum {args.momentum} is invalid; allowed: 0 <= lambda < 1")
    device = resolve_device(params["train"]["device"])
    blob = data.load_prepared(args.data, device)
    if len(blob["y_train"]) != n_train:
        raise ValueError(f"{args.data} holds {len(blob['y_train'])} training examples but data.n_train = {n_train}; "
                         f"rerun prepare")
    print(f"cell bs{args.batch_size} lam{args.momentum} seed{args.seed} on {device} "
          f"(lr {config.learning_rate(params['train'], args.batch_size):g}, rule {params['train']['lr_rule']})", flush=True)
    result = train_cell(params, blob, args.batch_size, args.momentum, args.seed, device,
                        log=lambda s: print(s, flush=True))
    write_outputs(Path(args.out), result, params)
    s = result["summary"]
    print(f"{s['status']}: {s['reason']}; {s['train_wall_s']:.1f} s of training -> {args.out}")
    return 0
