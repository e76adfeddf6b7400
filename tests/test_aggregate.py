"""The "did not train" status that training gives a run from its curve, the time to accuracy that
aggregate reads off the curves, and the report's time format, on cases whose answers are known."""
import math

import numpy as np
import pandas as pd

import torch

from batch_momentum.data import prepared as data
from batch_momentum.training import loop as train
from batch_momentum.analysis.tables import time_to_accuracy
from batch_momentum.analysis.formats import secs as fmt_time
from batch_momentum.training.status import did_not_train
from conftest import tiny_with


def curve(loss, acc, cell="bs8_lam0.9/seed1", b=8, lam=0.9, seed=1, per_epoch=500):
    n = len(loss)
    return pd.DataFrame(dict(cell=cell, batch_size=b, momentum=lam, seed=seed, epoch=range(n),
                             updates=[per_epoch * e for e in range(n)], wall_s=[0.5 * e for e in range(n)],
                             train_loss=loss, train_acc=acc, val_acc=[a - 0.1 for a in acc]))


def rows(frame):
    return frame.to_dict("records")


def test_a_run_that_learns_steadily_trained():
    loss = [2.3 * 0.8 ** e for e in range(11)]
    acc = [0.1 + 0.08 * e for e in range(11)]
    assert did_not_train(rows(curve(loss, acc))) is None


def test_a_run_at_chance_did_not_train():
    why = did_not_train(rows(curve([2.30, 2.29, 2.31, 2.30, 2.29], [0.10, 0.11, 0.12, 0.10, 0.13])))
    assert why and "training accuracy 0.130 after 4 epochs, 0.100 at the start" in why


def test_a_run_stuck_after_its_first_epoch_did_not_train():
    # the loss drops once, then wanders above that: a too large step (B = 8, λ = 0.9, η = 0.05)
    loss = [2.30, 1.65, 1.66, 2.04, 2.09, 1.84, 1.95, 1.87, 2.08, 1.89, 1.75]
    acc = [0.10, 0.34, 0.38, 0.30, 0.25, 0.34, 0.27, 0.29, 0.28, 0.31, 0.34]
    why = did_not_train(rows(curve(loss, acc)))
    assert why and "no progress in the second half of its 10 epochs (lowest training loss 1.75 there, 1.65 before)" \
        in why


def test_training_gives_the_status_to_a_run_that_used_its_budget_and_not_to_one_at_the_target():
    p = tiny_with(train={"max_epochs": 3, "target_train_acc": 0.2})
    blob = data.prepare(p.data)
    cpu = torch.device("cpu")
    full = train.train_cell(p, blob, 200, 0.0, [1], cpu, log=lambda s: None)[0]["summary"]  # 3 updates in all
    assert full["status"] == "did not train" and full["reason"].startswith("training accuracy")
    early = train.train_cell(p, blob, 8, 0.0, [1], cpu, log=lambda s: None)[0]["summary"]  # at 0.2 in an epoch
    assert early["status"] == "ok" and early["reached_target"]


def test_time_to_accuracy_is_the_first_epoch_at_the_level():
    acc = [0.1, 0.4, 0.55, 0.5, 0.92, 0.95]
    c = curve([1.0] * 6, acc)
    t = time_to_accuracy(c, [0.5, 0.9, 0.99])
    by = t.set_index("level")
    assert by.loc[0.5, "epochs"] == 2 and by.loc[0.5, "updates"] == 1000 and by.loc[0.5, "wall_s"] == 1.0
    assert by.loc[0.9, "epochs"] == 4 and by.loc[0.9, "updates"] == 2000
    assert math.isnan(by.loc[0.99, "epochs"])  # never reached
    v = time_to_accuracy(c, [0.5], "val_acc").iloc[0]  # val_acc = acc - 0.1: first at 0.82 (epoch 4)
    assert v.measure == "val_acc" and v.epochs == 4


def test_times_print_with_three_significant_figures():
    assert fmt_time(0.0006196) == "620 µs"
    assert fmt_time(0.0123456) == "12.3 ms"
    assert fmt_time(1.8) == "1.8 s"
    assert fmt_time(61.26) == "61.3 s"
    assert fmt_time(float("nan")) == "n/a" and fmt_time(np.nan) == "n/a"
