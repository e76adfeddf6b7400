"""batch_momentum.training.loop: one cell's seeds stacked into one network train exactly as alone;
determinism, early stopping and divergence per seed, recorded and never raised; and the stop rules
(stop_reason), one constructed curve per rule."""

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.io import runs, status
from batch_momentum.io import tables as T
from batch_momentum.io.status import DIVERGED_LOSS, STALL_GAIN, Status
from batch_momentum.training import loop, models
from batch_momentum.training.loop import Budget, stop_reason
from batch_momentum.training.optim import LectureMomentum
from conftest import tiny_with

CPU = torch.device("cpu")
QUIET = dict(log=lambda s: None)


def _setup(**train_overrides):
    p = tiny_with(train=train_overrides)
    return p, prepared.prepare(p.data)


def train_alone(p, blob, batch_size, lam, seed, epochs, lr=None):
    """The usual loop: one nn.Module, LectureMomentum, the same init seed and shuffle seed."""
    torch.manual_seed(seed)
    model = models.build(p, blob["meta"])
    lr = config.learning_rate(p.train, batch_size, lam) if lr is None else lr
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
    stacked = loop.train_cell(p, blob, 8, 0.9, seeds, CPU, **QUIET)
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
    res = loop.train_cell(p, blob, 8, 0.5, [s for _, s in members], CPU, lrs=[lr for lr, _ in members], **QUIET)
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
    res = loop.train_cell(p, blob, 200, 0.0, [1], CPU, budget=loop.Budget(30, 0.99, patience=3), **QUIET)
    s = res[0]["summary"]
    assert s["status"] == "stalled" and s["epochs"] == 3 and not s["reached_target"], s


def test_same_seed_gives_identical_numbers_on_cpu():
    p, blob = _setup(max_epochs=2)
    twice = [loop.train_cell(p, blob, 16, 0.9, [1, 2], CPU, **QUIET) for _ in range(2)]
    strip = lambda curve: [{k: v for k, v in row.items() if k != "wall_s"} for row in curve]  # noqa: E731
    for a, b in zip(*twice):
        assert strip(a["curve"]) == strip(b["curve"])  # every number but the clock
        for key in a["state"]:
            assert torch.equal(a["state"][key], b["state"][key])
    assert twice[0][0]["curve"][-1]["train_loss"] != twice[0][1]["curve"][-1]["train_loss"]


def test_each_seed_stops_at_the_target_and_the_others_go_on():
    p, blob = _setup(max_epochs=40, target_train_acc=0.5)
    res = loop.train_cell(p, blob, 8, 0.5, [1, 2, 3], CPU, **QUIET)
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
    res = loop.train_cell(p, blob, 8, 0.9, [1, 2], CPU, **QUIET)
    assert [r["summary"]["status"] for r in res] == ["diverged", "diverged"]
    runs.write_run(tmp_path / "seed1", res[0], p)
    summary = json.loads((tmp_path / "seed1/train.json").read_text())  # strict JSON: NaN written as null
    assert summary["status"] == "diverged" and "became" in summary["reason"]
    assert (tmp_path / "seed1/curve.csv").exists()
    saved = torch.load(tmp_path / "seed1/model.pt", weights_only=True)  # the params as a plain dict
    assert saved["params"] == p.as_dict() and saved["summary"]["status"] == "diverged"
    assert not list(tmp_path.glob("seed1/.*tmp*"))  # written under a temporary name, then renamed


BUDGET = Budget(max_epochs=10, target=0.9, patience=3)


def curve(*rows):
    """One curve row per (training loss, training accuracy), epoch 0 (the initial weights) first."""
    return [{T.EPOCH: e, T.TRAIN_LOSS: loss, T.TRAIN_ACC: acc} for e, (loss, acc) in enumerate(rows)]


LEARNING = [
    (2.3, 0.10),
    (1.5, 0.40),
    (1.0, 0.60),
    (0.8, 0.70),
    (0.6, 0.75),
    (0.5, 0.80),
    (0.45, 0.82),
    (0.4, 0.84),
    (0.35, 0.86),
    (0.3, 0.88),
    (0.28, 0.89),
]  # epochs 0..10, short of the target 0.9
FLAT = [(2.30, 0.10), (2.29, 0.11), (2.28, 0.12), (2.29, 0.11), (2.30, 0.12), (2.28, 0.13)]  # at chance


@pytest.mark.parametrize(
    "rows,budget,status,words",
    [
        ([(2.3, 0.1), (math.nan, 0.1)], BUDGET, Status.DIVERGED, "training loss became nan in epoch 1"),
        ([(2.3, 0.1), (math.nan, 0.95)], BUDGET, Status.DIVERGED, "became nan"),  # before the target
        ([(2.3, 0.1), (math.inf, 0.1)], BUDGET, Status.DIVERGED, "became inf in epoch 1"),
        (
            [(2.3, 0.1), (2 * DIVERGED_LOSS, 0.1)],
            BUDGET,
            Status.DIVERGED,
            f"became 2000 in epoch 1 (> {DIVERGED_LOSS:g})",
        ),
        ([(2.3, 0.1), (0.3, 0.95)], BUDGET, Status.OK, "reached training accuracy 0.9500 >= target 0.9 in epoch 1"),
        ([(2.3, 0.1), (0.3, 0.9)], BUDGET, Status.OK, ">= target 0.9"),  # the target itself counts
        (LEARNING, BUDGET, Status.OK, "ran the budget of 10 epochs"),
        (LEARNING, Budget(10, None), Status.OK, "ran the budget of 10 epochs"),  # no target: the budget ends it
        (FLAT, Budget(5, 0.9), Status.DID_NOT_TRAIN, "training accuracy 0.130 after 5 epochs, 0.100 at the start"),
        (FLAT[:5] + [(2.5, 0.30)], Budget(5, 0.9), Status.DID_NOT_TRAIN, "no progress in the second half"),
        (
            [(2.3, 0.1), (1.0, 0.6), (0.9, 0.601), (0.85, 0.602), (0.8, 0.603)],
            Budget(10, 0.9, patience=3),
            Status.STALLED,
            f"gained less than {STALL_GAIN} in the last 3 epochs (best 0.6030 in epoch 4)",
        ),
    ],
)
def test_each_rule_stops_its_curve(rows, budget, status, words):
    c = curve(*rows)
    stop = stop_reason(c, len(c) - 1, budget)
    assert stop is not None and stop[0] is status and words in stop[1], stop


@pytest.mark.parametrize(
    "rows,budget",
    [
        (LEARNING[:5], BUDGET),  # learning, within the budget, short of the target
        ([(2.3, 0.1), (DIVERGED_LOSS, 0.1)], BUDGET),  # at the threshold itself: not above it
        ([(2.3, 0.1), (1.0, 0.6), (0.9, 0.601), (0.85, 0.602), (0.8, 0.603)], Budget(10, 0.9)),  # no patience
        ([(2.3, 0.1), (1.0, 0.6), (0.9, 0.601), (0.85, 0.602), (0.8, 0.62)], BUDGET),  # gained >= STALL_GAIN
        ([(2.3, 0.1), (2.3, 0.1), (2.3, 0.1)], BUDGET),  # too early to call it stalled (epoch 2 < patience 3)
    ],
)
def test_a_curve_that_breaks_no_rule_goes_on(rows, budget):
    c = curve(*rows)
    assert stop_reason(c, len(c) - 1, budget) is None
