"""aggregate: a tidy table with a row per (B, λ, seed) run, and the runs' training curves and 1-D loss curves,
for the grid (reports/tables/cells.csv, curves.csv, directions.csv) and for the equal-accuracy protocol
(equal.csv, equal_curves.csv, equal_directions.csv, with candidates.csv: every eta it tried and which it
kept), and time_to_accuracy.csv: per run, when it first reached the report's accuracy levels.

The runs are the ones params.yaml lists (never a glob of results/: cells left on disk
by an earlier, larger grid are not part of this run).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, files

FIRST_COLUMNS = ["cell", "batch_size", "momentum", "seed", "lr", "lr_rule", "status", "epochs", "updates",
                 "reached_target", "epochs_to_target", "train_acc", "val_acc", "test_acc",
                 "train_loss", "val_loss", "test_loss", "temperature", "train_wall_s", "epoch_wall_s",
                 "device", "device_name", "threads"]


def time_to_accuracy(curves: pd.DataFrame, levels, column: str = "train_acc") -> pd.DataFrame:
    """Per run and accuracy level: the first epoch whose `column` reaches the level, with its updates
    and the training job's wall-clock time by then (NaN: never reached)."""
    rows = []
    for (cell, b, lam, seed), c in curves.sort_values("epoch").groupby(["cell", "batch_size", "momentum", "seed"]):
        for level in levels:
            hit = c[c[column] >= level]
            first = hit.iloc[0] if len(hit) else None
            rows.append(dict(cell=cell, batch_size=b, momentum=lam, seed=seed, measure=column, level=level,
                             epochs=first.epoch if first is not None else np.nan,
                             updates=first.updates if first is not None else np.nan,
                             wall_s=first.wall_s if first is not None else np.nan))
    return pd.DataFrame(rows)


def read_metrics(path: Path):
    return files.read_json(path, remedy="delete it and rerun evaluate for this cell")


def _tag(frame: pd.DataFrame, c) -> pd.DataFrame:
    for i, (key, value) in enumerate((("cell", c.name), ("batch_size", c.batch_size), ("momentum", c.momentum),
                                      ("seed", c.seed))):
        frame.insert(i, key, value)
    return frame


def read_curve(path: Path, epochs: int):
    """A run's curve.csv, checked whole (files.read_csv) and against its summary: one row per epoch
    0..epochs, so a file cut exactly at a row boundary, or one of another run, is refused too."""
    curve = files.read_csv(path, "rerun train for this cell", columns=("epoch",))
    if curve["epoch"].tolist() != list(range(int(epochs) + 1)):
        last = curve["epoch"].iloc[-1] if len(curve) else None
        raise ValueError(f"{path}: rows for epochs 0..{last}, but the run's summary says {int(epochs)} epochs "
                         f"(cut short, or from another run); rerun train for this cell")
    return curve


def collect(params: config.Params, results: Path, runs=None, trees=("cells", "metrics", "landscape")
            ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """From results/: <cells>/<cell>/seed<s>/curve.csv, <metrics>/<cell>/seed<s>.json and
    <landscape>/<cell>/seed<s>.json, for the grid's runs (default) or the given ones."""
    cells = config.runs(params) if runs is None else runs
    cells_dir, metrics_dir, landscape_dir = (results / t for t in trees)
    metrics_path = lambda c: metrics_dir / f"{c.name}.json"  # noqa: E731
    missing = [c.name for c in cells if not metrics_path(c).exists()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise FileNotFoundError(f"{metrics_dir}: no metrics for {shown}; run train and evaluate for these cells "
                                f"(snakemake --cores all, or dvc repro)")
    rows, curves, directions = [], [], []
    n_train = params.data.n_train
    for c in cells:
        m = read_metrics(metrics_path(c))
        m.update(cell=c.name, batch_size=c.batch_size, momentum=c.momentum, seed=c.seed)
        m["temperature"] = config.noise_temperature(m["lr"], n_train, c.batch_size, c.momentum)
        rows.append(m)
        curves.append(_tag(read_curve(cells_dir / c.name / "curve.csv", m["epochs"]), c))
        directions.append(_tag(pd.DataFrame(read_metrics(landscape_dir / f"{c.name}.json")), c))
    table = pd.DataFrame(rows)
    first = [col for col in FIRST_COLUMNS if col in table.columns]
    table = table[first + [col for col in table.columns if col not in first]]
    return table, pd.concat(curves, ignore_index=True), pd.concat(directions, ignore_index=True)


def candidates(params: config.Params, results: Path) -> pd.DataFrame:
    """Every candidate run of the equal-accuracy protocol, with `chosen` marking the kept eta."""
    frames = []
    for c in config.equal_cells(params):
        folder = results / "equal" / c.name
        frame = files.read_csv(folder / "candidates.csv", "rerun train_equal for this cell")
        choice = files.read_json(folder / "choice.json", remedy="rerun train_equal for this cell")
        frames.append(frame.assign(cell=c.name, chosen=frame.lr == choice["lr"], choice_reason=choice["why"]))
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum aggregate", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--results", default="results", help="the folder holding cells/, metrics/ and landscape/")
    ap.add_argument("--out-dir", default="reports/tables")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    table, curves, directions = collect(params, Path(args.results))
    equal, equal_curves, equal_directions = collect(params, Path(args.results), config.equal_runs(params),
                                                    ("equal", "equal_metrics", "equal_landscape"))
    levels = params.report
    tta = pd.concat([time_to_accuracy(curves, levels.train_acc_levels, "train_acc"),
                     time_to_accuracy(curves, levels.val_acc_levels, "val_acc")], ignore_index=True)
    out = Path(args.out_dir)  # files.write_csv makes the folder
    frames = dict(cells=table, curves=curves, directions=directions, equal=equal, equal_curves=equal_curves,
                  equal_directions=equal_directions, candidates=candidates(params, Path(args.results)),
                  time_to_accuracy=tta)
    for name, frame in frames.items():
        files.write_csv(out / f"{name}.csv", frame)
    print(f"aggregated {len(table)} cells ({(table.status != 'ok').sum()} not ok) -> {out}/cells.csv, {out}/curves.csv")
    return 0
