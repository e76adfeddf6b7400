"""Training one cell: determinism, early stopping, divergence as a recorded status."""
import copy
import json

import torch

from batch_momentum import config, data, train


def _setup(tiny_params, **train_overrides):
    p = copy.deepcopy(tiny_params)
    p["train"].update(train_overrides)
    p = config.validate(p)
    blob = data.make_mnist1d(p["data"]["n_train"], p["data"]["n_val"], p["data"]["n_test"], p["data"]["seed"])
    return p, blob


def test_same_seed_gives_identical_numbers_on_cpu(tiny_params):
    p, blob = _setup(tiny_params, max_epochs=2)
    runs = [train.train_cell(p, blob, 16, 0.9, 1, torch.device("cpu"), log=lambda s: None) for _ in range(2)]
    strip = lambda curve: [{k: v for k, v in row.items() if k != "wall_s"} for row in curve]
    assert strip(runs[0]["curve"]) == strip(runs[1]["curve"])  # every number but the clock
    for a, b in zip(runs[0]["model"].state_dict().values(), runs[1]["model"].state_dict().values()):
        assert torch.equal(a, b)
    other = train.train_cell(p, blob, 16, 0.9, 2, torch.device("cpu"), log=lambda s: None)
    assert other["curve"][-1]["train_loss"] != runs[0]["curve"][-1]["train_loss"]


def test_curve_counts_updates_and_stops_at_target(tiny_params):
    p, blob = _setup(tiny_params, max_epochs=40, target_train_acc=0.5)
    res = train.train_cell(p, blob, 8, 0.5, 1, torch.device("cpu"), log=lambda s: None)
    curve, s = res["curve"], res["summary"]
    assert [c["updates"] for c in curve] == [25 * c["epoch"] for c in curve]  # ceil(200/8) = 25 per epoch
    assert s["reached_target"] and s["epochs"] < 40 and curve[-1]["train_acc"] >= 0.5
    assert all(c["train_acc"] < 0.5 for c in curve[:-1])
    assert s["status"] == "ok" and s["epochs_to_target"] == s["epochs"]


def test_diverging_cell_is_recorded_not_raised(tiny_params, tmp_path):
    p, blob = _setup(tiny_params, lr=1e6, max_epochs=5)
    res = train.train_cell(p, blob, 8, 0.9, 1, torch.device("cpu"), log=lambda s: None)
    assert res["summary"]["status"] == "diverged"
    train.write_outputs(tmp_path, res, p)
    summary = json.loads((tmp_path / "train.json").read_text())  # strict JSON: NaN written as null
    assert summary["status"] == "diverged" and "became" in summary["reason"]
    assert (tmp_path / "model.pt").exists() and (tmp_path / "curve.csv").exists()


def test_diverged_cell_evaluates_to_null_accuracy_not_class_zero(tiny_params, tmp_path):
    p, blob = _setup(tiny_params, lr=1e6, max_epochs=5)
    res = train.train_cell(p, blob, 8, 0.9, 1, torch.device("cpu"), log=lambda s: None)
    train.write_outputs(tmp_path, res, p)
    from batch_momentum import evaluate

    model, summary = evaluate.load_cell(tmp_path, p, blob["meta"], torch.device("cpu"))
    metrics = evaluate.evaluate_cell(model, blob)
    assert summary["status"] == "diverged"
    for split in data.SPLITS:
        assert not (metrics[f"{split}_acc"] == metrics[f"{split}_acc"])  # NaN: NaN logits have no accuracy
