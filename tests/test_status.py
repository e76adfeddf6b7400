"""batch_momentum.io.status: the "did not train" rule on curves whose answer is known, and the
status the training loop gives a run that used its budget and one that reached its target."""

import torch

from batch_momentum.data import prepared
from batch_momentum.io.status import Status, did_not_train, stalled
from batch_momentum.training import loop
from conftest import curve_frame, tiny_with


def rows(frame):
    return frame.to_dict("records")


def test_a_run_that_learns_steadily_trained():
    loss = [2.3 * 0.8**e for e in range(11)]
    acc = [0.1 + 0.08 * e for e in range(11)]
    assert did_not_train(rows(curve_frame(loss, acc))) is None


def test_a_run_at_chance_did_not_train():
    why = did_not_train(rows(curve_frame([2.30, 2.29, 2.31, 2.30, 2.29], [0.10, 0.11, 0.12, 0.10, 0.13])))
    assert why and "training accuracy 0.130 after 4 epochs, 0.100 at the start" in why


def test_a_run_stuck_after_its_first_epoch_did_not_train():
    # the loss drops once, then wanders above that: a too large step (B = 8, λ = 0.9, η = 0.05)
    loss = [2.30, 1.65, 1.66, 2.04, 2.09, 1.84, 1.95, 1.87, 2.08, 1.89, 1.75]
    acc = [0.10, 0.34, 0.38, 0.30, 0.25, 0.34, 0.27, 0.29, 0.28, 0.31, 0.34]
    why = did_not_train(rows(curve_frame(loss, acc)))
    assert (
        why and "no progress in the second half of its 10 epochs (lowest training loss 1.75 there, 1.65 before)" in why
    )


def test_training_gives_the_status_to_a_run_that_used_its_budget_and_not_to_one_at_the_target():
    p = tiny_with(train={"max_epochs": 3, "target_train_acc": 0.2})
    blob = prepared.prepare(p.data)
    cpu = torch.device("cpu")
    full = loop.train_cell(p, blob, 200, 0.0, [1], cpu, log=lambda s: None)[0]["summary"]  # 3 updates in all
    assert full["status"] == Status.DID_NOT_TRAIN and full["reason"].startswith("training accuracy")
    early = loop.train_cell(p, blob, 8, 0.0, [1], cpu, log=lambda s: None)[0]["summary"]  # at 0.2 in an epoch
    assert early["status"] == Status.OK and early["reached_target"]


def test_stalled_compares_the_last_patience_epochs_with_the_best_before():
    assert stalled([0.1, 0.5, 0.6, 0.603, 0.604], patience=2)  # +0.004 < STALL_GAIN = 0.005
    assert not stalled([0.1, 0.5, 0.6, 0.603, 0.606], patience=2)  # +0.006
    assert not stalled([0.1, 0.5], patience=2)  # too short to tell


def test_a_status_is_its_value_in_files_and_text():
    assert Status.DID_NOT_TRAIN == "did not train" and f"{Status.OK}" == "ok" and str(Status.DIVERGED) == "diverged"
    assert Status("stalled") is Status.STALLED
