"""interpolate: loss and accuracy along the line from a small-batch to a large-batch solution.

theta(alpha) = alpha * theta_large + (1 - alpha) * theta_small for alpha in [-1, 2]
(Keskar et al. 2017, Figure 3), on the whole training and test splits, for one
(lambda, seed) pair of cells. Every point is set from the two saved weight files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from . import config, data
from .evaluate import load_cell
from .train import _finite, resolve_device


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum interpolate", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", required=True)
    ap.add_argument("--small", required=True, help="the small-batch cell's folder")
    ap.add_argument("--large", required=True, help="the large-batch cell's folder")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    params = config.load(args.params)
    torch.set_num_threads(params["train"]["threads"])
    device = resolve_device(params["train"]["device"])
    blob = data.load_prepared(args.data, device)
    small, s_summary = load_cell(Path(args.small), params, blob["meta"], device)
    large, l_summary = load_cell(Path(args.large), params, blob["meta"], device)
    k = params["sharpness"]["interpolation_points"]
    alphas = [-1.0 + 3.0 * i / (k - 1) for i in range(k)]
    result = {"small": Path(args.small).name, "large": Path(args.large).name,
              "small_status": s_summary["status"], "large_status": l_summary["status"],
              "batch_small": s_summary["batch_size"], "batch_large": l_summary["batch_size"],
              "momentum": s_summary["momentum"], "seed": s_summary["seed"]}
    if s_summary["status"] == "ok" and l_summary["status"] == "ok":
        from . import landscape

        splits = {"train": (blob["x_train"], blob["y_train"]), "test": (blob["x_test"], blob["y_test"])}
        # clones: state_dict() shares storage with the model that interpolate moves around
        state_a = {k: v.detach().clone() for k, v in small.state_dict().items()}
        state_b = {k: v.detach().clone() for k, v in large.state_dict().items()}
        result.update(landscape.interpolate(small, state_a, state_b, splits, alphas))
    else:
        result["alpha"] = []  # a diverged end point has no line to draw
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_finite(result)) + "\n")
    print(f"interpolated {result['small']} -> {result['large']} at {len(result['alpha'])} points -> {out}")
    return 0
