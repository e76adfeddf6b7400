"""Keskar's equal-accuracy protocol on a tiny dataset: every (eta, seed) in one stack, the choice of
eta, and the files: candidates.csv, choice.json and the chosen eta's runs."""

import itertools

import pytest
import torch

from batch_momentum.data import prepared
from batch_momentum.io import files, runs
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.training import equal_acc
from conftest import tiny_with

CPU = torch.device("cpu")


def _row(lr, seed, reached, val_acc, train_acc=0.5):
    return {T.LR: lr, T.SEED: seed, T.REACHED_TARGET: reached, T.VAL_ACC: val_acc, T.TRAIN_ACC: train_acc}


def test_each_seed_keeps_its_best_validation_accuracy_among_its_runs_at_the_target():
    rows = [
        _row(0.1, 1, True, 0.80),
        _row(0.2, 1, True, 0.90),  # seed 1's best
        _row(0.4, 1, True, 0.74),
        _row(0.1, 2, True, 0.70),
        _row(0.2, 2, False, 0.95),  # seed 2's best validation accuracy, but short of the target
        _row(0.4, 2, True, 0.76),  # seed 2's best at the target
        _row(0.1, 3, True, 0.75),
        _row(0.2, 3, True, 0.75),  # a tie: the smaller eta
    ]
    choices = equal_acc.choose_per_seed(rows)
    assert {s: c["lr"] for s, c in choices.items()} == {1: 0.2, 2: 0.4, 3: 0.1}
    assert all(c["reached"] for c in choices.values()) and "2 of 3 eta" in choices[2]["why"]


def test_a_seed_without_a_run_at_the_target_keeps_its_closest_and_says_so():
    rows = [_row(0.1, 1, False, 0.9, train_acc=0.6), _row(0.2, 1, False, 0.5, train_acc=0.8), _row(0.4, 1, True, 0.6)]
    rows += [_row(0.1, 2, False, 0.9, train_acc=0.6), _row(0.2, 2, False, 0.5, train_acc=0.8)]
    choices = equal_acc.choose_per_seed(rows)
    assert choices[1]["lr"] == 0.4 and choices[1]["reached"]
    assert choices[2]["lr"] == 0.2 and not choices[2]["reached"] and "training accuracy 0.8000" in choices[2]["why"]


def test_a_stalled_seed_at_the_best_eta_moves_only_its_own_choice():
    """Issue 27's failure: one seed stalls at the eta every other seed keeps. Per-seed choice: that seed
    falls back to its next best eta; the other seeds keep theirs, whatever the stalled seed did."""
    seeds = range(1, 9)
    rows = [_row(1.0, s, True, 0.70 + s / 1000) for s in seeds] + [_row(2.0, s, True, 0.73 + s / 1000) for s in seeds]
    before = equal_acc.choose_per_seed(rows)
    rows[-1] = _row(2.0, 8, False, 0.60, train_acc=0.899)  # seed 8 stalls at eta = 2
    after = equal_acc.choose_per_seed(rows)
    assert {s: c["lr"] for s, c in before.items()} == dict.fromkeys(seeds, 2.0)
    assert {s: c["lr"] for s, c in after.items()} == {**dict.fromkeys(range(1, 8), 2.0), 8: 1.0}


@pytest.mark.parametrize("target,reached", [(0.5, True), (0.99, False)])
def test_train_equal_acc_writes_the_candidates_the_choice_and_the_chosen_runs(tmp_path, target, reached):
    # n_train 200, B = 100: 2 updates per epoch; eta = step * (1 - lambda) = 0.5 and 1.0; seeds 1 and 2 (each
    # kept run must be the one of its seed's kept eta, not the last written: checked against candidates.pt)
    p = tiny_with(
        equal_acc=dict(max_epochs=6, target_train_acc=target, patience=3, step_large=[1.0, 2.0], extend_cap=0)
    )
    blob = prepared.prepare(p.data)
    equal_acc.train_equal_acc(p, blob, 100, 0.5, CPU, tmp_path)
    lrs, seeds = [0.5, 1.0], [1, 2]

    candidates = T.CELL_CANDIDATES.read(tmp_path / "candidates.csv")
    assert list(candidates.columns) == list(T.CANDIDATE_ROW)
    assert list(zip(candidates[T.LR], candidates[T.SEED])) == list(itertools.product(lrs, seeds))
    assert (candidates[T.BATCH_SIZE] == 100).all() and (candidates[T.MOMENTUM] == 0.5).all()
    assert set(candidates[T.STATUS]) <= {s.value for s in Status}
    assert (candidates[T.REACHED_TARGET] == (candidates[T.TRAIN_ACC] >= target)).all()
    assert candidates[T.REACHED_TARGET].any() == reached  # at 0.5 some runs reach the target, at 0.99 none

    choice = files.read_json(tmp_path / "choice.json")
    rows = candidates.to_dict("records")
    expected = equal_acc.choose_per_seed(rows)
    assert {int(k): v for k, v in choice["seeds"].items()} == expected
    assert all(v["reached"] == reached for v in expected.values())
    assert (choice["batch_size"], choice["momentum"], choice["candidates"]) == (100, 0.5, lrs)

    # every candidate's final weights, in the order of the rows, for evaluate's eta view
    loaded_rows, models = runs.load_candidates(tmp_path, p, blob["meta"], CPU)
    assert [(r[T.LR], r[T.SEED]) for r in loaded_rows] == list(itertools.product(lrs, seeds)) and len(models) == 4

    # each seed's kept run, one folder per seed, that run's files (not another eta's run of the same seed)
    assert sorted(d.name for d in tmp_path.iterdir() if d.is_dir()) == ["seed1", "seed2"]
    for seed in seeds:
        run = tmp_path / f"seed{seed}"
        kept = expected[seed]["lr"]
        summary = files.read_json(run / "train.json")
        assert summary[T.SEED] == seed and summary[T.LR] == kept
        assert summary[T.CHOSEN_LR] == kept and summary[T.LR_CANDIDATES] == lrs
        assert summary[T.PROTOCOL] == "equal_acc"
        row = candidates[(candidates[T.LR] == kept) & (candidates[T.SEED] == seed)].iloc[0]
        for column in (T.STATUS, T.REACHED_TARGET, T.EPOCHS, T.UPDATES, T.TRAIN_ACC, T.VAL_ACC):
            assert summary[column] == row[column], column
        curve = T.CURVE.read(run / "curve.csv")
        assert curve[T.EPOCH].tolist() == list(range(summary[T.EPOCHS] + 1))
        assert curve[T.TRAIN_ACC].iloc[-1] == summary[T.TRAIN_ACC]
        model, init, saved = runs.load_run(run, p, blob["meta"], CPU)
        assert saved == summary  # model.pt holds the same summary as train.json
        assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), init.state_dict().values()))
        i = loaded_rows.index(next(r for r in loaded_rows if r[T.LR] == kept and r[T.SEED] == seed))
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), models[i].state_dict().values()))


def test_a_cell_whose_best_eta_is_at_the_end_of_its_start_extends_and_records_the_round_and_the_bracket(tmp_path):
    # one start step (eta = 1.0 * (1 - 0.5) = 0.5): its best is at both ends, so the cap's one step goes up
    p = tiny_with(equal_acc=dict(max_epochs=6, target_train_acc=0.5, patience=3, step_large=[1.0], extend_cap=1))
    blob = prepared.prepare(p.data)
    equal_acc.train_equal_acc(p, blob, 100, 0.5, CPU, tmp_path)
    candidates = T.CELL_CANDIDATES.read(tmp_path / "candidates.csv")
    assert list(zip(candidates[T.LR], candidates[T.SEED], candidates[T.SWEEP_ROUND])) == [
        (0.5, 1, 0),
        (0.5, 2, 0),
        (1.0, 1, 1),
        (1.0, 2, 1),
    ]
    b = files.read_json(tmp_path / "choice.json")["bracket"]
    assert b["ladder"] == [[0.5], [1.0]] and b[T.STEPS_ADDED] == [1.0] and b[T.STEPS_TRAINED] == [0.5, 1.0]
    assert b[T.BRACKET] == T.NOT_BRACKETED and T.BOUND_OPEN in (b[T.LOWER_BOUND], b[T.UPPER_BOUND])  # cap spent
    rows, models = runs.load_candidates(tmp_path, p, blob["meta"], CPU)
    assert len(models) == 4 and [r[T.LR] for r in rows] == [0.5, 0.5, 1.0, 1.0]
    assert files.read_json(tmp_path / "choice.json")["candidates"] == [0.5, 1.0]
