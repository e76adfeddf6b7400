"""Keskar et al.'s table side by side with the equal-accuracy runs."""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis import stats
from batch_momentum.analysis.compare import TEST_ACCURACY, TRAIN_ACCURACY, sharpness_measures
from batch_momentum.io import tables as T

KESKAR_F1 = dict(
    network="F1",
    source="Keskar et al. 2017, Tables 2 and 3, network F1 (MLP on MNIST; SB = 256, LB = "
    "10% of the training set, Adam, trained until the loss stops improving, 5 runs)",
    setting="MNIST, 784-512×5-10 with batch norm",
    small=dict(train_acc=0.9966, test_acc=0.9803, eps_sharpness=1.23),
    large=dict(train_acc=0.9992, test_acc=0.9781, eps_sharpness=205.14),
    epsilon=1e-3,
)
KESKAR_C1 = dict(
    network="C1",
    source="Keskar et al. 2017, Tables 2 and 3, network C1 (shallow convolutional network on "
    "CIFAR-10; SB = 256, LB = 10% of the training set, Adam, trained until the loss stops improving, 5 runs)",
    setting="CIFAR-10, conv 64 5×5 and max-pool twice, dense 384 and 192, with batch norm",
    small=dict(train_acc=0.9989, test_acc=0.8004, eps_sharpness=28.58),
    large=dict(train_acc=0.9966, test_acc=0.7726, eps_sharpness=707.23),
    epsilon=1e-3,
)


def keskar_table(equal: pd.DataFrame, params) -> dict:
    """Keskar's table side by side: per λ and side, training and test accuracy and each sharpness
    measure (mean and standard deviation over the seeds that reached the target), with the published
    F1 row (C1 on CIFAR-10) and what differs."""
    ea = params.equal_acc
    cols = [TRAIN_ACCURACY, TEST_ACCURACY, *sharpness_measures(params)]
    rows = []
    for lam in sorted(equal[T.MOMENTUM].unique()):
        for side, b in zip(("small", "large"), ea.batch_size):
            runs = equal[(equal[T.MOMENTUM] == lam) & (equal[T.BATCH_SIZE] == b)]
            done = runs[stats.counted(runs)]
            values = {col: stats.mean_interval(done[col]) for col, _ in cols if col in done}
            rows.append(
                dict(
                    momentum=float(lam),
                    side=side,
                    batch_size=int(b),
                    seeds=int(len(done)),
                    of=int(len(runs)),
                    lr=float(runs[T.LR].mode().iloc[0]) if len(runs) else float("nan"),  # most seeds' η
                    values={c: {"mean": v["mean"], "std": v["std"]} for c, v in values.items()},
                )
            )
    published = KESKAR_C1 if params.data.dataset == "cifar10" else KESKAR_F1  # the network nearest to ours
    return dict(
        columns=[{"column": c, "label": label} for c, label in cols],
        rows=rows,
        published=published,
        differs=(
            f"here: {params.data.dataset} ({params.data.n_train} training examples), "
            f"{params.model.name} {list(params.model.hidden)}, SGD with the lecture's momentum at the "
            f"grid's λ, B = {ea.batch_size[0]} vs {ea.batch_size[1]}, trained to {ea.target_train_acc} "
            f"training accuracy, {len(params.equal_acc.seed)} seeds; Keskar: {published['setting']}, Adam, "
            f"SB = 256 vs LB = 10%"
        ),
    )
