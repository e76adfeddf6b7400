"""The lecture table's verdicts on made-up measurements whose answer is known."""
from pathlib import Path

import numpy as np
import pandas as pd

from batch_momentum import config, lecture


def cells(train_small, train_large, test_small, test_large, lams=(0.0, 0.9)):
    rows = []
    for lam in lams:
        for b, tr, te in ((8, train_small[lam], test_small[lam]), (512, train_large[lam], test_large[lam])):
            for seed in (1, 2):
                rows.append(dict(cell=f"bs{b}_lam{lam}_seed{seed}", batch_size=b, momentum=lam, seed=seed, status="ok",
                                 train_acc=tr, test_acc=te, reached_target=False, epoch_wall_s=0.5 if b == 8 else 0.05,
                                 updates_per_epoch=500 if b == 8 else 8, device_name="cpu", threads=1))
    return pd.DataFrame(rows)


def params():
    p = config.load(Path(__file__).resolve().parents[1] / "params.yaml")
    p["train"]["target_train_acc"] = 0.99
    return p


def row(rows, aspect):
    return next(r for r in rows if r["aspect"] == aspect)


def test_optimization_verdicts_per_lambda():
    t = cells({0.0: 0.99, 0.9: 0.30}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.2}, {0.0: 0.4, 0.9: 0.6})
    rows = lecture.lecture_table(t, params())
    assert row(rows, "Optimization")["verdict"] == "holds for λ ∈ {0.0} only"
    t2 = cells({0.0: 0.99, 0.9: 0.95}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    assert row(lecture.lecture_table(t2, params()), "Optimization")["verdict"] == "holds on this device"
    t3 = cells({0.0: 0.5, 0.9: 0.5}, {0.0: 0.9, 0.9: 0.9}, {0.0: 0.5, 0.9: 0.5}, {0.0: 0.9, 0.9: 0.9})
    assert row(lecture.lecture_table(t3, params()), "Optimization")["verdict"] == "does not hold on this run"


def test_generalization_uses_equal_training_accuracy_when_both_reach_the_target():
    t = cells({0.0: 0.995, 0.9: 0.995}, {0.0: 0.995, 0.9: 0.4}, {0.0: 0.80, 0.9: 0.7}, {0.0: 0.75, 0.9: 0.9})
    t.loc[t.train_acc >= 0.99, "reached_target"] = True
    r = row(lecture.lecture_table(t, params()), "Generalization")
    # λ=0.9's large batch never reached the target, so only λ=0 is compared, and it holds
    assert r["verdict"] == "holds on this device" and "reached the training-accuracy target" in r["evidence"]


def test_timing_rows_from_the_timing_step():
    timing = pd.DataFrame(dict(
        device="cpu", device_name="x86_64", threads=1, torch_version="2", n_train=4000, batch_size=[8, 512],
        updates_per_epoch=[500, 8], parallel_median_s=[1e-3, 30e-3], sequential_median_s=[8e-3, 512e-3],
        sequential_extrapolated=[False, True], epoch_measured_s=[0.5, np.nan], epoch_estimated_s=[0.5, 0.24]))
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = lecture.lecture_table(t, params(), timing)
    assert row(rows, "Speed for one update (no parallel computing)")["verdict"] == "holds on this device"
    par = row(rows, "Speed for one update (with parallel computing)")
    assert par["verdict"] == "does not hold on this device" and "30.0×" in par["evidence"]
    ep = row(rows, "Time for one epoch")
    assert ep["verdict"] == "holds on this device" and "2.1×" in ep["evidence"]
    timing.loc[1, "parallel_median_s"] = 1.5e-3
    par = row(lecture.lecture_table(t, params(), timing), "Speed for one update (with parallel computing)")
    assert par["verdict"] == "holds on this device"


def test_rows_not_measured_without_timing_or_noise():
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = lecture.lecture_table(t, params())
    assert row(rows, "Gradient")["verdict"] == lecture.NOT_MEASURED
    assert row(rows, "Speed for one update (no parallel computing)")["verdict"] == lecture.NOT_MEASURED
    t["cosine_final"] = np.where(t.batch_size == 8, 0.2, 0.95)
    t["nsr_final"] = np.where(t.batch_size == 8, 5.0, 0.1)
    assert row(lecture.lecture_table(t, params()), "Gradient")["verdict"] == "holds on this device"
