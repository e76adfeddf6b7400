"""The files of a run: written by the train step, read by the others.

A run (one seed of a (B, λ) cell) is results/cells/bs<B>_lam<λ>/seed<s>/: model.pt (final
and initial weights, the params and the summary), curve.csv (one row per epoch) and
train.json (the summary). Every file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from batch_momentum.config import Params
from batch_momentum.io import files
from batch_momentum.io import tables as T

if TYPE_CHECKING:
    import torch

# torch is imported only by the functions that read or write model files, so the steps that
# read tables (analyze, report) start without it (about a second per process here).


def run_name(run_dir: Path) -> str:
    """A run's name as the tables hold it (T.CELL): <cell>/seed<s>, from its folder."""
    return f"{run_dir.parent.name}/{run_dir.name}"


def write_candidates(out: Path, rows: list[dict], choice: dict, trained: list[dict]) -> None:
    """The equal-accuracy protocol's candidate runs of one (B, lambda): their rows, the eta each seed
    kept, and every candidate's final weights in one file (candidates.pt: lists lr, seed, state_dict in
    the order of the rows), which evaluate reads for the eta view."""
    import torch

    T.CELL_CANDIDATES.write(out / "candidates.csv", T.CELL_CANDIDATES.frame(rows))
    with files.atomic_path(out / "candidates.pt") as tmp:
        torch.save(
            {
                "lr": [r[T.LR] for r in rows],
                "seed": [r[T.SEED] for r in rows],
                "state_dict": [t["state"] for t in trained],
            },
            tmp,
        )
    files.write_json(out / "choice.json", choice)


def load_candidates(folder: Path, params: Params, meta: dict, device) -> tuple[list[dict], list]:
    """The candidates of an equal-accuracy cell (candidates.csv rows) and their final weights as models,
    in the same order; a missing or damaged file gets a one-line error."""
    import torch

    from batch_momentum.training import models

    rows = T.CELL_CANDIDATES.read(folder / "candidates.csv").to_dict("records")
    path = folder / "candidates.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: candidate weights not found; rerun train_equal for this cell")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        out = []
        for state in blob["state_dict"]:
            model = models.build(params, meta)
            model.load_state_dict(state)
            out.append(model.to(device).eval())
    except Exception as exc:
        raise ValueError(
            f"{path}: cannot load the candidate weights ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
            "rerun train_equal for this cell"
        ) from None
    if [(float(r[T.LR]), int(r[T.SEED])) for r in rows] != list(zip(map(float, blob["lr"]), map(int, blob["seed"]))):
        raise ValueError(f"{path}: does not match candidates.csv beside it; rerun train_equal for this cell")
    return rows, out


def write_run(out: Path, result: dict, params: Params) -> None:
    """One seed's files, each written under a temporary name and renamed when complete. model.pt
    holds params as a plain dict (Params.as_dict), which torch.load(weights_only=True) reads."""
    import torch

    with files.atomic_path(out / "model.pt") as tmp:
        torch.save(
            {
                "state_dict": result["state"],
                "init_state_dict": result["init_state"],  # the weights at step 0, for start-of-training measures
                "params": params.as_dict(),
                "summary": result["summary"],
            },
            tmp,
        )
    T.CURVE.write(out / "curve.csv", T.CURVE.frame(result["curve"]))
    files.write_json(out / "train.json", result["summary"])


def load_run(run_dir: Path, params: Params, meta: dict, device) -> tuple[torch.nn.Module, torch.nn.Module, dict]:
    """One seed's trained model, the same model at step 0, and its training summary; a missing
    or damaged file gets a one-line error."""
    import torch

    from batch_momentum.training import models

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
            raise ValueError(
                f"{path}: the saved weights do not fit the model that params and the prepared data "
                f"give ({mismatch[0][:160]}); retrain the cell with these params and data"
            ) from None
        raise ValueError(
            f"{path}: cannot load the trained model ({type(exc).__name__}: {lines[0][:120]}); "
            f"delete the cell folder and retrain it"
        ) from None
    return out[0], out[1], summary


def load_runs(run_dirs, params: Params, meta: dict, device) -> list[tuple[torch.nn.Module, torch.nn.Module, dict]]:
    """load_run of every seed of a cell (the seeds' folders, in order): the models to stack."""
    return [load_run(Path(d), params, meta, device) for d in run_dirs]
