"""The aggregated tables (reports/tables/*.csv, columns in io.tables): a tidy table with a row per
(B, λ, seed) run, and the runs' training curves and 1-D loss curves, for the grid (cells,
curves, directions) and for the equal-accuracy protocol (equal, equal_curves, equal_directions,
with candidates: every eta it tried and which it kept, brackets: each side's best eta certified, and
rescaling: the rescaling check of each cell's first seed), and time_to_accuracy: per run, when it
first reached the report's accuracy levels.

The runs are the ones params.yaml lists (never a glob of results/: cells left on disk
by an earlier, larger grid are not part of this run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from batch_momentum import config
from batch_momentum.io import files
from batch_momentum.io import tables as T

# the folders under results/ of each protocol's runs: (trained runs, their metrics, their 1-D curves)
GRID_TREES = ("cells", "metrics", "landscape")
EQUAL_TREES = ("equal", "equal_metrics", "equal_landscape")


def time_to_accuracy(curves: pd.DataFrame, levels, column: str = T.TRAIN_ACC) -> pd.DataFrame:
    """Per run and accuracy level: the first epoch whose `column` reaches the level, with its updates
    and the training job's wall-clock time by then (NaN: never reached)."""
    rows = []
    for key, c in curves.sort_values(T.EPOCH).groupby(list(T.RUN_KEY)):
        for level in levels:
            hit = c[c[column] >= level]
            first = hit.iloc[0] if len(hit) else None
            rows.append(
                {
                    **dict(zip(T.RUN_KEY, key)),
                    T.MEASURE: column,
                    T.LEVEL: level,
                    T.EPOCHS: first[T.EPOCH] if first is not None else np.nan,
                    T.UPDATES: first[T.UPDATES] if first is not None else np.nan,
                    T.WALL_S: first[T.WALL_S] if first is not None else np.nan,
                }
            )
    return T.TIME_TO_ACCURACY.frame(rows)


def read_metrics(path: Path):
    return files.read_json(path, remedy="delete it and rerun evaluate for this cell")


def _tag(frame: pd.DataFrame, run: config.Run) -> pd.DataFrame:
    """The frame with the run's key (T.RUN_KEY) as its first columns."""
    for i, value in enumerate((run.name, run.batch_size, run.momentum, run.seed)):
        frame.insert(i, T.RUN_KEY[i], value)
    return frame


def read_curve(path: Path, epochs: int):
    """A run's curve.csv, checked whole (files.read_csv) and against its summary: one row per epoch
    0..epochs, so a file cut exactly at a row boundary, or one of another run, is refused too."""
    curve = T.CURVE.read(path)
    if curve[T.EPOCH].tolist() != list(range(int(epochs) + 1)):
        last = curve[T.EPOCH].iloc[-1] if len(curve) else None
        raise ValueError(
            f"{path}: rows for epochs 0..{last}, but the run's summary says {int(epochs)} epochs "
            f"(cut short, or from another run); rerun train for this cell"
        )
    return curve


def collect(
    params: config.Params, results: Path, runs=None, trees=GRID_TREES
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """From results/: <cells>/<cell>/seed<s>/curve.csv, <metrics>/<cell>/seed<s>.json and
    <landscape>/<cell>/seed<s>.json, for the grid's runs (default) or the given ones: the run table
    (one row per run: its key, its metrics, its noise temperature), the curves and the 1-D curves."""
    runs = config.runs(params) if runs is None else runs
    cells_dir, metrics_dir, landscape_dir = (results / t for t in trees)
    missing = [r.name for r in runs if not (metrics_dir / f"{r.name}.json").exists()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise FileNotFoundError(
            f"{metrics_dir}: no metrics for {shown}; run train and evaluate for these cells "
            f"(snakemake --cores all, or dvc repro)"
        )
    rows, curves, directions = [], [], []
    for r in runs:
        m = read_metrics(metrics_dir / f"{r.name}.json")
        m.update(dict(zip(T.RUN_KEY, (r.name, r.batch_size, r.momentum, r.seed))))
        m[T.TEMPERATURE] = config.noise_temperature(m[T.LR], params.data.n_train, r.batch_size, r.momentum)
        m[T.STABILITY_THRESHOLD] = config.stability_threshold(m[T.LR], r.momentum)
        top = m.get(T.HESSIAN_TOP)
        m[T.EDGE_RATIO] = top / m[T.STABILITY_THRESHOLD] if top is not None else float("nan")
        rows.append(m)
        curves.append(_tag(read_curve(cells_dir / r.name / "curve.csv", m[T.EPOCHS]), r))
        directions.append(_tag(pd.DataFrame(read_metrics(landscape_dir / f"{r.name}.json")), r))
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True), pd.concat(directions, ignore_index=True)


def candidates(params: config.Params, results: Path) -> pd.DataFrame:
    """Every candidate run of the equal-accuracy protocol with its eta view (test accuracy, top Hessian
    eigenvalue, adaptive sharpness, and the primary sharpness measure as an extra column where it is not
    one of these: results/equal_eta/<cell>.csv), `chosen` marking the eta its seed kept and why."""
    frames = []
    for c in config.equal_cells(params):
        folder = results / EQUAL_TREES[0] / c.name
        frame = T.CELL_CANDIDATES.read(folder / "candidates.csv")
        choice = files.read_json(folder / "choice.json", remedy=T.CELL_CANDIDATES.remedy)
        per_seed = choice.get("seeds")
        if not isinstance(per_seed, dict) or {str(s) for s in frame[T.SEED]} - set(per_seed):
            raise ValueError(f"{folder / 'choice.json'}: no choice per seed (an older run); rerun train_equal")
        eta = T.ETA_MEASURES.read(results / "equal_eta" / f"{c.name}.csv")
        frame = frame.merge(eta, on=[T.LR, T.SEED], how="left", validate="one_to_one")
        seeds = [str(s) for s in frame[T.SEED]]
        frames.append(
            frame.assign(
                **{
                    T.CELL: c.name,
                    T.CHOSEN: frame[T.LR].to_numpy() == [per_seed[s]["lr"] for s in seeds],
                    T.CHOICE_REASON: [per_seed[s]["why"] for s in seeds],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def steps_text(lrs) -> str:
    """A list of η as one cell of a table: space-separated, 12 significant digits (brackets.csv)."""
    return " ".join(f"{float(lr):.12g}" for lr in lrs)


def brackets(params: config.Params, results: Path) -> pd.DataFrame:
    """One row per side (λ, B) of the protocol: the bracket of its best η that train_equal certified
    (choice.json's "bracket"; training.bracket), the steps it trained and those the extension added."""
    rows = []
    for c in config.equal_cells(params):
        path = results / EQUAL_TREES[0] / c.name / "choice.json"
        b = files.read_json(path, remedy=T.CELL_CANDIDATES.remedy).get("bracket")
        if not isinstance(b, dict) or b.get(T.BRACKET) not in T.BRACKETS_VOCABULARY:
            raise ValueError(f"{path}: no bracket of the best η (an older run); rerun train_equal for this cell")
        row = {k: (np.nan if b.get(k) is None else b.get(k)) for k in T.BRACKET_ROW}
        row.update({T.STEPS_TRAINED: steps_text(b[T.STEPS_TRAINED]), T.STEPS_ADDED: steps_text(b[T.STEPS_ADDED])})
        rows.append({**row, T.CELL: c.name})
    return T.BRACKETS.frame(rows)


def rescaling(params: config.Params, results: Path) -> pd.DataFrame:
    """The rescaling check of every equal-accuracy cell (results/equal_rescaling/<cell>.csv), one table."""
    frames = [T.CELL_RESCALING.read(results / "equal_rescaling" / f"{c.name}.csv") for c in config.equal_cells(params)]
    return T.RESCALING.frame([]) if not frames else pd.concat(frames, ignore_index=True)[list(T.RESCALING.columns)]


def aggregate(params: config.Params, results: Path) -> dict[T.Schema, pd.DataFrame]:
    """Every table of reports/tables/, by its schema, from the runs params.yaml lists."""
    cells, curves, directions = collect(params, results)
    equal, equal_curves, equal_directions = collect(params, results, config.equal_runs(params), EQUAL_TREES)
    levels = params.report
    tta = pd.concat(
        [
            time_to_accuracy(curves, levels.train_acc_levels, T.TRAIN_ACC),
            time_to_accuracy(curves, levels.val_acc_levels, T.VAL_ACC),
        ],
        ignore_index=True,
    )
    return {
        T.CELLS: cells,
        T.CURVES: curves,
        T.DIRECTIONS: directions,
        T.EQUAL: equal,
        T.EQUAL_CURVES: equal_curves,
        T.EQUAL_DIRECTIONS: equal_directions,
        T.CANDIDATES: candidates(params, results),
        T.BRACKETS: brackets(params, results),
        T.RESCALING: rescaling(params, results),
        T.TIME_TO_ACCURACY: tta,
    }
