"""The files of a run and of the timing step: written by one step, read by the others.

A run (one seed of a (B, λ) cell) is results/cells/bs<B>_lam<λ>/seed<s>/: model.pt (final
and initial weights, the params and the summary), curve.csv (one row per epoch) and
train.json (the summary). The timing step writes one CSV with TIMING_COLUMNS.
Every file is written under a temporary name and renamed when complete.
"""
from __future__ import annotations

import csv
from pathlib import Path

from . import files
from .config import Params

# torch is imported only by the functions that read or write model files, so the steps that
# read tables (analyze, report) start without it (about a second per process here).

CURVE_COLUMNS = ["epoch", "updates", "wall_s", "train_loss", "train_acc", "val_loss", "val_acc"]

# One row per batch size; times in seconds, median/min/max over `repeats` timed updates.
TIMING_COLUMNS: tuple[str, ...] = (
    "device",                   # cpu | cuda
    "device_name",              # CPU or GPU model
    "threads",                  # torch.get_num_threads() during the run
    "torch_version",
    "n_train",                  # N, examples per epoch
    "batch_size",               # B
    "updates_per_epoch",        # ceil(N / B)
    "parallel_median_s", "parallel_min_s", "parallel_max_s",        # whole batch in one call
    "sequential_median_s", "sequential_min_s", "sequential_max_s",  # examples one after another
    "sequential_extrapolated",  # True when only sequential_cap of the B passes were timed
    "epoch_measured_s",         # one real epoch; NaN when the estimate exceeds epoch_budget_s
    "epoch_estimated_s",        # updates_per_epoch * parallel_median_s
    "repeats",                  # timed updates per mode (after the warm-up)
)


def sharpness_column(eps: float, subspace_dim: int | None) -> str:
    """Column name of one epsilon-sharpness measure in evaluate's tables, e.g. sharpness_full_eps0.001."""
    return f"sharpness_{'full' if subspace_dim is None else f'random{subspace_dim}'}_eps{eps:g}"


CANDIDATE_COLUMNS = ["batch_size", "momentum", "lr", "seed", "status", "reached_target", "epochs", "updates",
                     "train_acc", "val_acc", "train_wall_s"]


def write_candidates(out: Path, rows: list[dict], choice: dict) -> None:
    """The equal-accuracy protocol's candidate runs of one (B, lambda) and the eta it chose."""
    import pandas as pd

    files.write_csv(out / "candidates.csv", pd.DataFrame(rows, columns=CANDIDATE_COLUMNS))
    files.write_json(out / "choice.json", choice)


def write_run(out: Path, result: dict, params: Params) -> None:
    """One seed's files, each written under a temporary name and renamed when complete. model.pt
    holds params as a plain dict (Params.as_dict), which torch.load(weights_only=True) reads."""
    import torch

    with files.atomic_path(out / "model.pt") as tmp:
        torch.save({"state_dict": result["state"],
                    "init_state_dict": result["init_state"],  # the weights at step 0, for start-of-training measures
                    "params": params.as_dict(), "summary": result["summary"]}, tmp)
    with files.atomic_path(out / "curve.csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CURVE_COLUMNS)
            w.writeheader()
            w.writerows(result["curve"])
    files.write_json(out / "train.json", result["summary"])


def load_run(run_dir: Path, params: Params, meta: dict, device) -> tuple[torch.nn.Module, torch.nn.Module, dict]:
    """One seed's trained model, the same model at step 0, and its training summary; a missing
    or damaged file gets a one-line error."""
    import torch

    from . import models

    path = run_dir / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: trained model not found; run the train step for this cell first")
    out = []
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "init_state_dict"):
            model = models.build(params, meta)
            model.load_state_dict(blob[key])
            out.append(model.to(device).eval())
        summary = dict(blob["summary"])
    except Exception as exc:
        lines = str(exc).splitlines()
        mismatch = [line.strip() for line in lines if "size mismatch" in line]
        if mismatch:  # a model file that loads, from other params or data than these
            raise ValueError(f"{path}: the saved weights do not fit the model that params and the prepared data "
                             f"give ({mismatch[0][:160]}); retrain the cell with these params and data") from None
        raise ValueError(f"{path}: cannot load the trained model ({type(exc).__name__}: {lines[0][:120]}); "
                         f"delete the cell folder and retrain it") from None
    return out[0], out[1], summary


def write_timing(rows: list[dict], path) -> Path:
    """Write timing rows as CSV with exactly TIMING_COLUMNS, in that order (atomic replace)."""
    import pandas as pd

    path = Path(path)
    missing = sorted({c for r in rows for c in TIMING_COLUMNS if c not in r})
    if missing:
        raise ValueError(f"{path}: timing rows lack columns {', '.join(missing)}; make them with timing.run_timing()")
    return files.write_csv(path, pd.DataFrame(list(rows), columns=list(TIMING_COLUMNS)))


def read_timing(path):
    """Read a timing CSV, sorted by batch size.

    A missing file is a FileNotFoundError, an unreadable one or one lacking TIMING_COLUMNS a
    ValueError; both one line naming the file (and the missing columns) and saying to rerun
    the timing step.
    """
    path = Path(path)
    remake = "rerun the timing step (python -m batch_momentum timing ...)"
    df = files.read_csv(path, remake, columns=TIMING_COLUMNS)
    if df.empty:
        raise ValueError(f"{path}: timing CSV has no rows; {remake}")
    df["sequential_extrapolated"] = df["sequential_extrapolated"].astype(str).str.lower().eq("true")
    return df.sort_values("batch_size").reset_index(drop=True)


