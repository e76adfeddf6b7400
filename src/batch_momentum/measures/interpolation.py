"""Loss and accuracy along the line from a small-batch to a large-batch solution.

theta(alpha) = alpha * theta_large + (1 - alpha) * theta_small for alpha in [-1, 2]
(Keskar et al. 2017, Figure 3), on the whole training and test splits, for one
(lambda, seed) pair of runs; one process per lambda does every seed. Every point is
set from the two saved weight files.
"""

from __future__ import annotations

from pathlib import Path

from batch_momentum import config
from batch_momentum.io import tables as T
from batch_momentum.io.runs import load_run, run_name
from batch_momentum.io.status import Status


def interpolate_pair(params: config.Params, blob: dict, small_dir: Path, large_dir: Path, device) -> dict:
    """Loss and accuracy along theta(alpha) between two runs' final weights; only when both are ok and
    reached the training-accuracy target (a line to a point that is not a minimum says nothing about
    minima): otherwise T.ALPHA is empty and T.SKIPPED says why."""
    small, _, s_summary = load_run(small_dir, params, blob["meta"], device)
    large, _, l_summary = load_run(large_dir, params, blob["meta"], device)
    pair = {
        T.SMALL: run_name(small_dir),
        T.LARGE: run_name(large_dir),
        T.SMALL_STATUS: s_summary[T.STATUS],
        T.LARGE_STATUS: l_summary[T.STATUS],
        T.BATCH_SMALL: s_summary[T.BATCH_SIZE],
        T.BATCH_LARGE: l_summary[T.BATCH_SIZE],
        T.MOMENTUM: s_summary[T.MOMENTUM],
        T.SEED: s_summary[T.SEED],
    }
    short = [
        _short_of_target(r) for r in (s_summary, l_summary) if r[T.STATUS] != Status.OK or not r.get(T.REACHED_TARGET)
    ]
    if short:
        return {**pair, T.ALPHA: [], T.SKIPPED: "end point not at the target (B=" + "; B=".join(short) + ")"}
    from batch_momentum.measures import landscape

    k = params.sharpness.interpolation_points
    alphas = [-1.0 + 3.0 * i / (k - 1) for i in range(k)]
    splits = {split: (blob[f"x_{split}"], blob[f"y_{split}"]) for split in ("train", "test")}
    return {**pair, **landscape.interpolate(small, _weights(small), _weights(large), splits, alphas)}


def _short_of_target(summary: dict) -> str:
    return f"{summary[T.BATCH_SIZE]}: {summary[T.STATUS]}" + (
        "" if summary.get(T.REACHED_TARGET) else ", short of the target"
    )


def _weights(model) -> dict:
    """Copies of the model's state: state_dict() shares storage with the model that interpolate moves around."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
