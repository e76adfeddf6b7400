"""batch_momentum.analysis.aggregate: the tidy tables from the runs' files (collect, candidates,
aggregate) and the time to accuracy read off the curves, on files written here with known values."""

import math

import pandas as pd
import pytest

from batch_momentum import config
from batch_momentum.analysis import aggregate
from batch_momentum.analysis.aggregate import time_to_accuracy
from batch_momentum.io import files
from batch_momentum.io import tables as T
from batch_momentum.training import bracket
from conftest import curve_frame, tiny_with

PRIMARY = T.sharpness_column(1e-3, None)  # the default primary sharpness measure's column


def test_time_to_accuracy_is_the_first_epoch_at_the_level():
    acc = [0.1, 0.4, 0.55, 0.5, 0.92, 0.95]
    c = curve_frame([1.0] * 6, acc)
    t = time_to_accuracy(c, [0.5, 0.9, 0.99])
    by = t.set_index("level")
    assert by.loc[0.5, "epochs"] == 2 and by.loc[0.5, "updates"] == 1000 and by.loc[0.5, "wall_s"] == 1.0
    assert by.loc[0.9, "epochs"] == 4 and by.loc[0.9, "updates"] == 2000
    assert math.isnan(by.loc[0.99, "epochs"])  # never reached
    v = time_to_accuracy(c, [0.5], "val_acc").iloc[0]  # val_acc = acc - 0.1: first at 0.82 (epoch 4)
    assert v.measure == "val_acc" and v.epochs == 4


def fake_run(run: config.Run, results, trees, epochs=2, protocol="equal_epochs") -> dict:
    """A run's files as train and evaluate write them, with made-up numbers that name the run."""
    cells_dir, metrics_dir, landscape_dir = (results / t for t in trees)
    summary = {c: 0 for c in T.SUMMARY} | {
        T.LR: 0.05,
        T.STATUS: "ok",
        T.EPOCHS: epochs,
        T.PROTOCOL: protocol,
        T.REACHED_TARGET: True,
        T.DEVICE: "cpu",
    }
    if protocol == "equal_acc":
        summary |= {T.CHOSEN_LR: 0.05, T.LR_CANDIDATES: [0.05, 0.1]}
    metrics = summary | {c: 0.5 for c in T.SPLIT_METRICS} | {T.TEST_ACC: run.seed / 10, T.HESSIAN_TOP: run.batch_size}
    files.write_json(metrics_dir / f"{run.name}.json", metrics)
    curve_rows = [
        {
            T.EPOCH: e,
            T.UPDATES: 10 * e,
            T.WALL_S: e / 2,
            T.TRAIN_LOSS: 1.0,
            T.TRAIN_ACC: 0.1 * e,
            T.VAL_LOSS: 1.0,
            T.VAL_ACC: 0.1 * e,
        }
        for e in range(epochs + 1)
    ]
    T.CURVE.write(cells_dir / run.name / "curve.csv", T.CURVE.frame(curve_rows))
    files.write_json(
        landscape_dir / f"{run.name}.json", {T.T: [-1.0, 0.0, 1.0], T.LOSS: [2.0, 1.0, 2.0], T.ACC: [0.1, 0.5, 0.1]}
    )
    return metrics


@pytest.fixture
def results(tmp_path):
    p = tiny_with(grid={"batch_size": [8, 200], "momentum": [0, 0.9], "seed": [1, 2]})
    for r in config.runs(p):
        fake_run(r, tmp_path, aggregate.GRID_TREES)
    for r in config.equal_runs(p):
        fake_run(r, tmp_path, aggregate.EQUAL_TREES, protocol="equal_acc")
    for c in config.equal_cells(p):
        rows = [{c_: 0 for c_ in T.CANDIDATE_ROW} | {T.LR: lr, T.SEED: s} for lr in (0.05, 0.1) for s in (1, 2)]
        T.CELL_CANDIDATES.write(tmp_path / "equal" / c.name / "candidates.csv", T.CELL_CANDIDATES.frame(rows))
        # seed 1 kept the smaller η, seed 2 the larger: each seed its own choice
        kept = {"1": {"lr": 0.05, "why": "best for seed 1"}, "2": {"lr": 0.1, "why": "best for seed 2"}}
        side = bracket.bracket([r | {T.STATUS: "ok", T.REACHED_TARGET: True, T.VAL_ACC: r[T.LR]} for r in rows])
        side[T.STEPS_ADDED] = [0.1] if c.batch_size == 8 else []
        files.write_json(tmp_path / "equal" / c.name / "choice.json", {"seeds": kept, "bracket": side})
        eta = [
            {T.LR: r[T.LR], T.SEED: r[T.SEED], T.TEST_ACC: r[T.LR] + r[T.SEED], T.HESSIAN_TOP: 2.0}
            | {T.ADAPTIVE_SHARPNESS: r[T.SEED] / 100, PRIMARY: r[T.LR] * 10}
            for r in rows
        ]
        T.ETA_MEASURES.write(tmp_path / "equal_eta" / f"{c.name}.csv", pd.DataFrame(eta))  # the primary: extra
        check = [{T.CELL: f"{c.name}/seed1", T.ALPHA_SCALE: 10.0, T.MEASURE: "m", T.BEFORE: 1, T.AFTER: 2, T.RATIO: 2}]
        T.CELL_RESCALING.write(tmp_path / "equal_rescaling" / f"{c.name}.csv", T.CELL_RESCALING.frame(check))
    return p, tmp_path


def test_collect_gives_one_row_per_run_of_params_with_its_key_and_noise_temperature(results):
    p, root = results
    (root / "metrics" / "bs8_lam0" / "seed9.json").write_text("{}")  # a run params do not list: never read
    table, curves, directions = aggregate.collect(p, root)
    assert table[T.CELL].tolist() == [r.name for r in config.runs(p)]
    assert table[T.TEST_ACC].tolist() == [r.seed / 10 for r in config.runs(p)]  # each row holds its own run
    assert table[T.HESSIAN_TOP].tolist() == [r.batch_size for r in config.runs(p)]
    g = table.set_index(T.CELL)[T.TEMPERATURE]
    assert g["bs8_lam0.9/seed1"] == pytest.approx(0.05 * p.data.n_train / (8 * (1 - 0.9)))
    assert g["bs200_lam0/seed2"] == pytest.approx(0.05 * p.data.n_train / 200)
    assert len(curves) == 8 * 3 and list(curves.columns) == list(T.CURVES.columns)
    assert list(directions.columns) == list(T.DIRECTIONS.columns) and len(directions) == 8 * 3


def test_collect_names_every_missing_run_in_one_line(results):
    p, root = results
    (root / "metrics" / "bs200_lam0.9" / "seed2.json").unlink()
    with pytest.raises(FileNotFoundError) as info:
        aggregate.collect(p, root)
    assert "bs200_lam0.9/seed2" in str(info.value) and "\n" not in str(info.value)


def test_candidates_marks_the_chosen_eta_of_each_cell(results):
    p, root = results
    c = aggregate.candidates(p, root)
    assert len(c) == 4 * len(config.equal_cells(p))
    chosen = c[c[T.CHOSEN]]
    assert sorted(zip(chosen[T.SEED], chosen[T.LR])) == [(1, 0.05)] * 4 + [(2, 0.1)] * 4  # per seed, every cell
    assert set(c[c[T.SEED] == 2][T.CHOICE_REASON]) == {"best for seed 2"}
    assert (c[T.TEST_ACC] == c[T.LR] + c[T.SEED]).all()  # the η view joined on (η, seed)
    assert (c[T.ADAPTIVE_SHARPNESS] == c[T.SEED] / 100).all() and (c[PRIMARY] == c[T.LR] * 10).all()
    assert PRIMARY in c  # the primary measure travels along as an extra column


def test_rescaling_gathers_every_cells_check_and_names_a_missing_file(results):
    p, root = results
    r = aggregate.rescaling(p, root)
    assert list(r.columns) == list(T.RESCALING.columns)
    assert r[T.CELL].tolist() == [f"{c.name}/seed1" for c in config.equal_cells(p)]
    first = config.equal_cells(p)[0].name
    (root / "equal_rescaling" / f"{first}.csv").unlink()
    with pytest.raises(FileNotFoundError, match=f"{first}.csv"):
        aggregate.rescaling(p, root)


def test_candidates_refuse_a_choice_without_seeds(results):
    p, root = results
    cell = config.equal_cells(p)[0].name
    files.write_json(root / "equal" / cell / "choice.json", {"lr": 0.05, "why": "one η for all seeds"})
    with pytest.raises(ValueError, match="no choice per seed"):
        aggregate.candidates(p, root)


def test_brackets_gives_each_sides_certified_bracket_and_refuses_an_older_choice(results):
    p, root = results
    b = aggregate.brackets(p, root)
    assert b[T.CELL].tolist() == [c.name for c in config.equal_cells(p)] and list(b.columns) == list(T.BRACKETS.columns)
    # planted: validation accuracy rises with η, so the best is the larger step, open above: not bracketed
    assert set(b[T.BRACKET]) == {T.NOT_BRACKETED} and (b[T.BEST_LR] == 0.1).all() and b[T.UPPER_LR].isna().all()
    assert set(b[T.STEPS_TRAINED]) == {"0.05 0.1"}
    assert [(c.batch_size, a) for c, a in zip(config.equal_cells(p), b[T.STEPS_ADDED])] == [(8, "0.1")] * 2 + [
        (100, "")
    ] * 2
    cell = config.equal_cells(p)[0].name
    files.write_json(root / "equal" / cell / "choice.json", {"seeds": {}})
    with pytest.raises(ValueError, match=f"{cell}/choice.json: no bracket of the best η"):
        aggregate.brackets(p, root)


def test_aggregate_gives_every_report_table_and_each_writes_and_reads_back(results, tmp_path):
    p, root = results
    frames = aggregate.aggregate(p, root)
    assert set(frames) == set(T.REPORT_TABLES)
    for schema, frame in frames.items():
        path = schema.write(tmp_path / "out" / f"{schema.name}.csv", frame)
        back = schema.read(path)
        assert list(back.columns[: len(schema.columns)]) == list(schema.columns) and len(back) == len(frame)
    tta = frames[T.TIME_TO_ACCURACY]
    assert set(tta[T.MEASURE]) == {T.TRAIN_ACC, T.VAL_ACC}
