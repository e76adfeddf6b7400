"""Loss and accuracy along the line from a small-batch to a large-batch solution.

theta(alpha) = alpha * theta_large + (1 - alpha) * theta_small for alpha in [-1, 2]
(Keskar et al. 2017, Figure 3), on the whole training and test splits, for one
(lambda, seed) pair of runs; one process per lambda does every seed. Every point is
set from the two saved weight files.
"""
from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.io.runs import load_run


def interpolate_pair(params: config.Params, blob: dict, small_dir: Path, large_dir: Path, device) -> dict:
    """Loss and accuracy along theta(alpha) between two runs' final weights; only when both are ok and
    reached the training-accuracy target (a line to a point that is not a minimum says nothing about
    minima): otherwise `alpha` is empty and `skipped` says why."""
    small, _, s_summary = load_run(small_dir, params, blob["meta"], device)
    large, _, l_summary = load_run(large_dir, params, blob["meta"], device)
    k = params.sharpness.interpolation_points
    alphas = [-1.0 + 3.0 * i / (k - 1) for i in range(k)]
    result = {"small": f"{small_dir.parent.name}/{small_dir.name}", "large": f"{large_dir.parent.name}/{large_dir.name}",
              "small_status": s_summary["status"], "large_status": l_summary["status"],
              "batch_small": s_summary["batch_size"], "batch_large": l_summary["batch_size"],
              "momentum": s_summary["momentum"], "seed": s_summary["seed"]}
    short = [f"{r['batch_size']}: {r['status']}" + ("" if r.get("reached_target") else ", short of the target")
             for r in (s_summary, l_summary) if r["status"] != "ok" or not r.get("reached_target")]
    if not short:
        from batch_momentum.measures import landscape

        splits = {"train": (blob["x_train"], blob["y_train"]), "test": (blob["x_test"], blob["y_test"])}
        # clones: state_dict() shares storage with the model that interpolate moves around
        state_a = {k: v.detach().clone() for k, v in small.state_dict().items()}
        state_b = {k: v.detach().clone() for k, v in large.state_dict().items()}
        result.update(landscape.interpolate(small, state_a, state_b, splits, alphas))
    else:
        result["alpha"] = []
        result["skipped"] = "end point not at the target (B=" + "; B=".join(short) + ")"
    return result
