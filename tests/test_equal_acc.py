"""Keskar's equal-accuracy protocol on a tiny dataset: every (eta, seed) in one stack, the choice of
eta, and the files: candidates.csv, choice.json and the chosen eta's runs."""

import itertools

import pytest
import torch

from batch_momentum.data import prepared
from batch_momentum.io import files, runs
from batch_momentum.io import tables as T
from batch_momentum.training import equal_acc
from batch_momentum.training.status import Status
from conftest import tiny_with

CPU = torch.device("cpu")


def _row(lr, seed, reached, val_acc, train_acc=0.5):
    return {T.LR: lr, T.SEED: seed, T.REACHED_TARGET: reached, T.VAL_ACC: val_acc, T.TRAIN_ACC: train_acc}


def test_choose_lr_takes_the_best_validation_accuracy_among_the_eta_whose_every_seed_reached_the_target():
    rows = [
        _row(0.1, 1, True, 0.80),
        _row(0.1, 2, True, 0.70),  # mean 0.75
        _row(0.2, 1, True, 0.90),
        _row(0.2, 2, False, 0.90),  # best mean, but one seed short
        _row(0.4, 1, True, 0.74),
        _row(0.4, 2, True, 0.76),
    ]  # mean 0.75: a tie, the smaller eta wins
    choice = equal_acc.choose_lr(rows)
    assert choice["lr"] == 0.1 and choice["reached"] and "2 of 3 eta" in choice["why"]


def test_choose_lr_without_a_qualified_eta_keeps_the_closest_and_says_so():
    rows = [
        _row(0.1, 1, False, 0.9, train_acc=0.6),
        _row(0.1, 2, False, 0.9, train_acc=0.6),
        _row(0.2, 1, True, 0.5, train_acc=0.5),
        _row(0.2, 2, False, 0.5, train_acc=0.5),  # most seeds there
        _row(0.4, 1, True, 0.5, train_acc=0.4),
        _row(0.4, 2, False, 0.5, train_acc=0.4),
    ]  # as many, lower acc
    choice = equal_acc.choose_lr(rows)
    assert choice["lr"] == 0.2 and not choice["reached"] and "1 of 2 seeds at the target" in choice["why"]


@pytest.mark.parametrize("target,reached", [(0.5, True), (0.99, False)])
def test_train_equal_acc_writes_the_candidates_the_choice_and_the_chosen_runs(tmp_path, target, reached):
    # n_train 200, B = 100: 2 updates per epoch; eta = step * (1 - lambda) = 1.0 and 0.25 (the better first, so
    # that writing the other eta's runs too would overwrite the chosen ones); seeds 1 and 2
    p = tiny_with(equal_acc=dict(max_epochs=6, target_train_acc=target, patience=3, step_large=[2.0, 0.5]))
    blob = prepared.prepare(p.data)
    equal_acc.train_equal_acc(p, blob, 100, 0.5, CPU, tmp_path)
    lrs, seeds = [1.0, 0.25], [1, 2]

    candidates = T.CELL_CANDIDATES.read(tmp_path / "candidates.csv")
    assert list(candidates.columns) == list(T.CANDIDATE_ROW)
    assert list(zip(candidates[T.LR], candidates[T.SEED])) == list(itertools.product(lrs, seeds))
    assert (candidates[T.BATCH_SIZE] == 100).all() and (candidates[T.MOMENTUM] == 0.5).all()
    assert set(candidates[T.STATUS]) <= {s.value for s in Status}
    assert (candidates[T.REACHED_TARGET] == (candidates[T.TRAIN_ACC] >= target)).all()
    assert candidates[T.REACHED_TARGET].any() == reached  # at 0.5 some runs reach the target, at 0.99 none

    choice = files.read_json(tmp_path / "choice.json")
    rows = candidates.to_dict("records")
    assert choice["lr"] == equal_acc.choose_lr(rows)["lr"] and choice["reached"] == reached
    assert (choice["batch_size"], choice["momentum"], choice["candidates"]) == (100, 0.5, lrs)

    # the chosen eta's runs, one folder per seed, each that run's files (not another eta's run of the same seed)
    assert sorted(d.name for d in tmp_path.iterdir() if d.is_dir()) == ["seed1", "seed2"]
    for seed in seeds:
        run = tmp_path / f"seed{seed}"
        summary = files.read_json(run / "train.json")
        assert summary[T.SEED] == seed and summary[T.LR] == choice["lr"]
        assert summary[T.CHOSEN_LR] == choice["lr"] and summary[T.LR_CANDIDATES] == lrs
        assert summary[T.PROTOCOL] == "equal_acc"
        row = candidates[(candidates[T.LR] == choice["lr"]) & (candidates[T.SEED] == seed)].iloc[0]
        for column in (T.STATUS, T.REACHED_TARGET, T.EPOCHS, T.UPDATES, T.TRAIN_ACC, T.VAL_ACC):
            assert summary[column] == row[column], column
        curve = T.CURVE.read(run / "curve.csv")
        assert curve[T.EPOCH].tolist() == list(range(summary[T.EPOCHS] + 1))
        assert curve[T.TRAIN_ACC].iloc[-1] == summary[T.TRAIN_ACC]
        model, init, saved = runs.load_run(run, p, blob["meta"], CPU)
        assert saved == summary  # model.pt holds the same summary as train.json
        assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), init.state_dict().values()))
