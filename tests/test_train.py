"""Training one cell: its seeds stacked into one network train exactly as alone; determinism,
early stopping and divergence per seed, recorded and never raised."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from batch_momentum import config
from batch_momentum.data import prepared as data
from batch_momentum.io import runs as results
from batch_momentum.measures import evaluation as evaluate
from batch_momentum.training import loop as train
from batch_momentum.training import models, status
from batch_momentum.training.optim import LectureMomentum
from conftest import tiny_with

CPU = torch.device("cpu")
QUIET = dict(log=lambda s: None)


def _setup(**train_overrides):
    p = tiny_with(train=train_overrides)
    return p, data.prepare(p.data)


def train_alone(p, blob, batch_size, lam, seed, epochs, lr=None):
    """The usual loop: one nn.Module, LectureMomentum, the same init seed and shuffle seed."""
    torch.manual_seed(seed)
    model = models.build(p, blob["meta"])
    lr = config.learning_rate(p.train, batch_size) if lr is None else lr
    opt = LectureMomentum(model.parameters(), lr=lr, momentum=lam)
    shuffle = torch.Generator().manual_seed(10_000 + seed)
    x, y = blob["x_train"], blob["y_train"]
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=shuffle)
        for lo in range(0, len(y), batch_size):
            idx = perm[lo : lo + batch_size]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.state_dict()


@pytest.mark.parametrize(
    "name,hidden,head", [("linear", [], []), ("mlp", [32, 16], []), ("cnn", [4, 8], []), ("cnn", [4], [16])]
)
def test_stacked_seeds_train_exactly_as_alone(name, hidden, head):
    p, blob = _setup(max_epochs=4, target_train_acc=None)
    p = dataclasses.replace(p, model=config.Model(name, tuple(hidden), tuple(head)))
    seeds = [1, 2, 3]
    stacked = train.train_cell(p, blob, 8, 0.9, seeds, CPU, **QUIET)
    for seed, res in zip(seeds, stacked):
        alone = train_alone(p, blob, 8, 0.9, seed, 4)
        assert res["state"].keys() == alone.keys()
        for key in alone:
            assert torch.allclose(res["state"][key], alone[key], atol=1e-5, rtol=1e-4), (name, seed, key)
    # the seeds really differ: their own init and shuffle
    assert not torch.equal(stacked[0]["state"][key], stacked[1]["state"][key])


@pytest.mark.parametrize("name,hidden", [("mlp", [32]), ("cnn", [4])])
def test_stacked_models_with_their_own_learning_rates_train_as_alone(name, hidden):
    """The equal-accuracy protocol stacks every (eta, seed) of a cell: one eta per model."""
    p, blob = _setup(max_epochs=3, target_train_acc=None)
    p = dataclasses.replace(p, model=config.Model(name, tuple(hidden), ()))
    members = [(0.01, 1), (0.01, 2), (0.2, 1)]
    res = train.train_cell(p, blob, 8, 0.5, [s for _, s in members], CPU, lrs=[lr for lr, _ in members], **QUIET)
    for (lr, seed), r in zip(members, res):
        assert r["summary"]["lr"] == lr
        alone = train_alone(p, blob, 8, 0.5, seed, 3, lr=lr)
        for key in alone:
            assert torch.allclose(r["state"][key], alone[key], atol=1e-5, rtol=1e-4), (name, lr, seed, key)
    assert not torch.allclose(res[0]["state"][key], res[2]["state"][key])  # same seed, other eta


def test_a_run_that_stops_improving_is_stalled_not_ok():
    assert status.stalled([0.1, 0.5, 0.6, 0.602, 0.603], 2)  # +0.003 over the best before: stalled
    assert not status.stalled([0.1, 0.5, 0.6, 0.61, 0.603], 2)  # +0.01: still learning
    assert not status.stalled([0.1, 0.5], 2)  # too early to tell
    p, blob = _setup(lr=1e-5, max_epochs=30)  # far too small a step to learn anything
    res = train.train_cell(p, blob, 200, 0.0, [1], CPU, budget=train.Budget(30, 0.99, patience=3), **QUIET)
    s = res[0]["summary"]
    assert s["status"] == "stalled" and s["epochs"] == 3 and not s["reached_target"], s


def test_same_seed_gives_identical_numbers_on_cpu():
    p, blob = _setup(max_epochs=2)
    runs = [train.train_cell(p, blob, 16, 0.9, [1, 2], CPU, **QUIET) for _ in range(2)]
    strip = lambda curve: [{k: v for k, v in row.items() if k != "wall_s"} for row in curve]  # noqa: E731
    for a, b in zip(*runs):
        assert strip(a["curve"]) == strip(b["curve"])  # every number but the clock
        for key in a["state"]:
            assert torch.equal(a["state"][key], b["state"][key])
    assert runs[0][0]["curve"][-1]["train_loss"] != runs[0][1]["curve"][-1]["train_loss"]


def test_each_seed_stops_at_the_target_and_the_others_go_on():
    p, blob = _setup(max_epochs=40, target_train_acc=0.5)
    res = train.train_cell(p, blob, 8, 0.5, [1, 2, 3], CPU, **QUIET)
    for r in res:
        curve, s = r["curve"], r["summary"]
        assert [c["updates"] for c in curve] == [25 * c["epoch"] for c in curve]  # ceil(200/8) = 25 per epoch
        assert s["reached_target"] and s["epochs"] < 40 and curve[-1]["train_acc"] >= 0.5
        assert all(c["train_acc"] < 0.5 for c in curve[:-1])
        assert s["status"] == "ok" and s["epochs_to_target"] == s["epochs"] and s["stacked_models"] == 3
    # stopping is per seed: a seed that reached the target later trained on after the first stopped
    epochs = [r["summary"]["epochs"] for r in res]
    assert len(set(epochs)) > 1, epochs
    # and the one that went on is what it would be alone
    last = max(range(3), key=lambda i: epochs[i])
    alone = train_alone(p, blob, 8, 0.5, [1, 2, 3][last], epochs[last])
    for key in alone:
        assert torch.allclose(res[last]["state"][key], alone[key], atol=1e-5, rtol=1e-4)


def test_a_diverging_seed_is_recorded_and_the_others_finish(tmp_path):
    p, blob = _setup(lr=1e6, max_epochs=5)
    res = train.train_cell(p, blob, 8, 0.9, [1, 2], CPU, **QUIET)
    assert [r["summary"]["status"] for r in res] == ["diverged", "diverged"]
    results.write_run(tmp_path / "seed1", res[0], p)
    summary = json.loads((tmp_path / "seed1/train.json").read_text())  # strict JSON: NaN written as null
    assert summary["status"] == "diverged" and "became" in summary["reason"]
    assert (tmp_path / "seed1/curve.csv").exists()
    saved = torch.load(tmp_path / "seed1/model.pt", weights_only=True)  # the params as a plain dict
    assert saved["params"] == p.as_dict() and saved["summary"]["status"] == "diverged"
    assert not list(tmp_path.glob("seed1/.*tmp*"))  # written under a temporary name, then renamed


def test_diverged_run_evaluates_to_null_accuracy_not_class_zero(tmp_path):
    p, blob = _setup(lr=1e6, max_epochs=5)
    res = train.train_cell(p, blob, 8, 0.9, [1], CPU, **QUIET)
    results.write_run(tmp_path, res[0], p)
    model, _, summary = results.load_run(tmp_path, p, blob["meta"], CPU)
    metrics = evaluate.evaluate_cell(model, blob)
    assert summary["status"] == "diverged"
    for split in data.SPLITS:
        assert not (metrics[f"{split}_acc"] == metrics[f"{split}_acc"])  # NaN: NaN logits have no accuracy


def test_a_cell_outside_the_grid_is_refused(tiny_params):
    p = config.validate(tiny_params)
    with pytest.raises(config.ParamsError, match="not in the grid"):
        config.check_cell(p, 16, 0.9)
    config.check_cell(p, 8, 0.9)
