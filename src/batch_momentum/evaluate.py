"""evaluate: loss and accuracy of one trained cell on train, validation and test.

Writes the cell's metrics.json: the training summary (status, epochs, time, device)
together with the measured loss and accuracy per split. A diverged cell keeps its
status; its losses are written as null.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import config, data
from .train import _finite, build_model, loss_and_accuracy, resolve_device


def load_cell(cell_dir: Path, params: dict, meta: dict, device) -> tuple[torch.nn.Module, dict]:
    """The trained model and its training summary; a missing or damaged file gets a one-line error."""
    path = cell_dir / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: trained model not found; run the train step for this cell first")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(params, meta)
        model.load_state_dict(blob["state_dict"])
    except Exception as exc:
        raise ValueError(f"{path}: cannot load the trained model ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                         f"delete the cell folder and retrain it") from None
    return model.to(device).eval(), blob["summary"]


def evaluate_cell(model, blob: dict) -> dict:
    out = {}
    for split in data.SPLITS:
        loss, acc = loss_and_accuracy(model, blob[f"x_{split}"], blob[f"y_{split}"])
        out[f"{split}_loss"] = loss
        out[f"{split}_acc"] = acc
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", required=True, help="prepared data file, e.g. data/prepared/mnist1d.pt")
    ap.add_argument("--cell", required=True, help="the cell's folder, e.g. results/cells/bs8_lam0.9_seed1")
    ap.add_argument("--out", help="metrics file (default: CELL/metrics.json)")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    torch.set_num_threads(params["train"]["threads"])
    device = resolve_device(params["train"]["device"])
    blob = data.load_prepared(args.data, device)
    cell = Path(args.cell)
    model, summary = load_cell(cell, params, blob["meta"], device)
    metrics = {"cell": cell.name, **summary, **evaluate_cell(model, blob)}
    out = Path(args.out) if args.out else cell / "metrics.json"
    out.write_text(json.dumps(_finite(metrics), indent=2) + "\n")
    print(f"{cell.name}: status {metrics['status']}, train acc {metrics['train_acc']:.4f}, "
          f"val acc {metrics['val_acc']:.4f}, test acc {metrics['test_acc']:.4f} -> {out}")
    return 0
