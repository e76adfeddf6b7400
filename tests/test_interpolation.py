"""measures.interpolation: the line between a small-batch and a large-batch run, drawn only when both
reached the training-accuracy target, with its end points the runs' own numbers."""

import pytest
import torch

from batch_momentum.data import prepared
from batch_momentum.io import runs
from batch_momentum.io import tables as T
from batch_momentum.measures import evaluation
from batch_momentum.measures.interpolation import interpolate_pair
from conftest import tiny_with
from test_evaluation import trained_run

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """Runs of B = 8 and B = 100 that reach training accuracy 0.35, and one of B = 100 stopped short of it."""
    root = tmp_path_factory.mktemp("cells")
    p = tiny_with(train=dict(max_epochs=15, target_train_acc=0.35, lr=0.1, lr_momentum="constant"))
    blob = prepared.prepare(p.data)
    small, large = trained_run(root, p, blob, 8, 0.5), trained_run(root, p, blob, 100, 0.5)
    short = trained_run(
        root / "short",
        tiny_with(train=dict(max_epochs=1, target_train_acc=0.35, lr=0.1, lr_momentum="constant")),
        blob,
        100,
        0.5,
    )
    return p, blob, small, large, short


def test_the_line_between_two_runs_at_the_target(cells):
    p, blob, small, large, _ = cells
    result = interpolate_pair(p, blob, small, large, CPU)
    k = p.sharpness.interpolation_points
    assert list(result) == [
        T.SMALL,
        T.LARGE,
        T.SMALL_STATUS,
        T.LARGE_STATUS,
        T.BATCH_SMALL,
        T.BATCH_LARGE,
        T.MOMENTUM,
        T.SEED,
        T.ALPHA,
        T.TRAIN_LOSS,
        T.TRAIN_ACC,
        T.TEST_LOSS,
        T.TEST_ACC,
    ]
    assert (result[T.SMALL], result[T.LARGE]) == ("bs8_lam0.5/seed1", "bs100_lam0.5/seed1")
    assert (result[T.BATCH_SMALL], result[T.BATCH_LARGE], result[T.MOMENTUM], result[T.SEED]) == (8, 100, 0.5, 1)
    alphas = result[T.ALPHA]
    assert len(alphas) == k and alphas[0] == -1.0 and alphas[-1] == 2.0
    assert all(len(result[c]) == k for c in (T.TRAIN_LOSS, T.TRAIN_ACC, T.TEST_LOSS, T.TEST_ACC))
    # at alpha = 0 and 1 the saved weights themselves: each run's own loss and accuracy per split
    for alpha, run_dir in ((0.0, small), (1.0, large)):
        i = alphas.index(alpha)
        own = evaluation.evaluate_cell(runs.load_run(run_dir, p, blob["meta"], CPU)[0], blob)
        for column in (T.TRAIN_LOSS, T.TRAIN_ACC, T.TEST_LOSS, T.TEST_ACC):
            assert result[column][i] == own[column], (alpha, column)


def test_a_run_short_of_the_target_is_skipped_and_named(cells):
    p, blob, small, _, short = cells
    result = interpolate_pair(p, blob, small, short, CPU)
    assert result[T.ALPHA] == [] and T.TRAIN_LOSS not in result
    status = runs.load_run(short, p, blob["meta"], CPU)[2][T.STATUS]  # one epoch: "did not train"
    assert result[T.SKIPPED] == f"end point not at the target (B=100: {status}, short of the target)"
    assert result[T.SMALL_STATUS] == "ok" and result[T.LARGE_STATUS] == status
