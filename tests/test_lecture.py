"""The lecture table's verdicts on made-up measurements whose answer is known."""
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from batch_momentum import config, lecture


def cells(train_small, train_large, test_small, test_large, lams=(0.0, 0.9)):
    rows = []
    for lam in lams:
        for b, tr, te in ((8, train_small[lam], test_small[lam]), (512, train_large[lam], test_large[lam])):
            for seed in (1, 2):
                rows.append(dict(cell=f"bs{b}_lam{lam}/seed{seed}", batch_size=b, momentum=lam, seed=seed, status="ok",
                                 train_acc=tr, test_acc=te, reached_target=False, epoch_wall_s=0.5 if b == 8 else 0.05,
                                 updates_per_epoch=500 if b == 8 else 8, device_name="cpu", threads=1,
                                 temperature=config.noise_temperature(0.05, 4000, b, lam)))
    return pd.DataFrame(rows)


def params():
    p = config.load(Path(__file__).resolve().parents[1] / "params.yaml")
    assert p.train.target_train_acc == 0.99  # the target the made-up cells are measured against
    return p


def timing_frame():
    """A timing step's rows for B = 8 and 512 (made up): sequential 64x slower, parallel 30x, epoch 2.1x."""
    return pd.DataFrame(dict(
        device="cpu", device_name="x86_64", threads=1, torch_version="2", n_train=4000, batch_size=[8, 512],
        updates_per_epoch=[500, 8], parallel_median_s=[1e-3, 30e-3], sequential_median_s=[8e-3, 512e-3],
        sequential_extrapolated=[False, True], epoch_measured_s=[0.5, np.nan], epoch_estimated_s=[0.5, 0.24]))


def table_rows(t, timing=None, momentum=None):
    """lecture_table with the made-up timing and momentum results where a test does not give its own."""
    return lecture.lecture_table(t, params(), timing_frame() if timing is None else timing,
                                 momentum_result() if momentum is None else momentum)


def row(rows, aspect):
    return next(r for r in rows if r["aspect"] == aspect)


def test_optimization_verdicts_per_lambda():
    t = cells({0.0: 0.99, 0.9: 0.30}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.2}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t)
    assert (row(rows, "Optimization")["verdict"], row(rows, "Optimization")["scope"]) == ("partly holds",
                                                                                         "for λ ∈ {0.0} only")
    t2 = cells({0.0: 0.99, 0.9: 0.95}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    assert row(table_rows(t2), "Optimization")["verdict"] == "holds"
    t3 = cells({0.0: 0.5, 0.9: 0.5}, {0.0: 0.9, 0.9: 0.9}, {0.0: 0.5, 0.9: 0.5}, {0.0: 0.9, 0.9: 0.9})
    assert row(table_rows(t3), "Optimization")["verdict"] == "does not hold"


def test_generalization_uses_equal_training_accuracy_when_both_reach_the_target():
    t = cells({0.0: 0.995, 0.9: 0.995}, {0.0: 0.995, 0.9: 0.4}, {0.0: 0.80, 0.9: 0.7}, {0.0: 0.75, 0.9: 0.9})
    t.loc[t.train_acc >= 0.99, "reached_target"] = True
    r = row(table_rows(t), "Generalization")
    # λ=0.9's large batch never reached the target, so only λ=0 is compared, and it holds
    assert (r["verdict"], r["scope"]) == ("partly holds", "for λ ∈ {0.0}, the only λ compared at equal training accuracy")
    assert "reached the training-accuracy target" in r["evidence"] and "for λ ∈ {0.9} fewer than two" in r["evidence"]


def test_timing_rows_from_the_timing_step():
    timing = timing_frame()
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t, timing)
    assert row(rows, "Speed for one update (no parallel computing)")["verdict"] == "holds"
    par = row(rows, "Speed for one update (with parallel computing)")
    assert par["verdict"] == "does not hold" and "30.0×" in par["evidence"]
    ep = row(rows, "Time for one epoch")
    assert ep["verdict"] == "holds" and "2.1×" in ep["evidence"]
    timing.loc[1, "parallel_median_s"] = 1.5e-3
    par = row(table_rows(t, timing), "Speed for one update (with parallel computing)")
    assert par["verdict"] == "holds"


def test_gradient_not_measured_without_the_noise_columns():
    # evaluate writes no noise columns for a diverged run: a table of only those has none
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    assert row(table_rows(t), "Gradient")["verdict"] == lecture.NOT_MEASURED
    t["cosine_final"] = np.where(t.batch_size == 8, 0.2, 0.95)
    t["nsr_final"] = np.where(t.batch_size == 8, 5.0, 0.1)
    assert row(table_rows(t), "Gradient")["verdict"] == "holds"


def momentum_result(deep=(0.9,), fractions=None, diff=1e-16):
    """A momentum-step result with made-up outcomes: which λ reach the deep minimum, and the
    escape fraction per (λ, B) of a finite sum with N = 4."""
    lams = (0.0, 0.5, 0.9)
    fractions = fractions or {0.0: [0.5, 0.2, 0.0], 0.5: [0.8, 0.4, 0.0], 0.9: [1.0, 0.9, 0.0]}
    summary = [dict(momentum=lam, final_1d=3.0 if lam in deep else -0.01,
                    nearest_1d="deep minimum" if lam in deep else "flat saddle", reached_deep_min_1d=lam in deep,
                    on_manifold_max_abs_x=0.0) for lam in lams]
    cells = [dict(case="saddle", momentum=lam, batch_size=b, escape_fraction=f)
             for lam in lams for b, f in zip((1, 2, 4), fractions[lam])]
    return dict(summary=summary, finite_sum=dict(n=4, batch_sizes=[1, 2, 4], seeds=10, cases={"saddle": {}},
                                                 cells=cells),
                weighted_sum_check=dict(steps=30, lr=0.1, max_abs_diff={str(lam): diff for lam in lams}))


def test_momentum_rows_verdicts():
    rows = {r["aspect"]: r for r in lecture.momentum_rows(momentum_result())}
    critical = rows["Critical point: gradient descent (λ = 0) vs momentum (λ > 0)"]
    assert critical["verdict"] == "holds" and critical["measured_large"].startswith("λ = 0.9: x = 3")
    batch = rows["Escaping a critical point: small batch vs full batch"]
    assert batch["verdict"] == "holds"
    assert batch["measured_small"] == "B = 1: 77% escape" and batch["measured_large"] == "B = 4: 0% escape"
    mom = rows["Escaping a critical point: no momentum vs momentum"]
    assert mom["verdict"] == "holds" and mom["measured_small"] == "λ = 0: 35% escape"
    assert rows["mᵗ is the weighted sum of all earlier gradients"]["verdict"] == "holds"

    bad = {r["aspect"]: r for r in lecture.momentum_rows(momentum_result(
        deep=(), fractions={0.0: [0.9, 0.2, 0.0], 0.5: [0.5, 0.1, 0.0], 0.9: [0.1, 0.0, 0.0]}, diff=1e-3))}
    assert bad["Critical point: gradient descent (λ = 0) vs momentum (λ > 0)"]["verdict"].startswith("does not hold")
    assert bad["Escaping a critical point: no momentum vs momentum"]["verdict"].startswith("does not hold")
    assert bad["mᵗ is the weighted sum of all earlier gradients"]["verdict"] == "does not hold"


def test_momentum_rows_join_the_table():
    t = cells({0.0: 0.99, 0.9: 0.95}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t)
    assert [r["verdict"] for r in rows if r["aspect"].startswith("Escaping")] == ["holds", "holds"]
    assert all(r["verdict"] in lecture.VERDICTS for r in rows)
    assert rows[-1]["aspect"] == "mᵗ is the weighted sum of all earlier gradients"


def test_generalization_compares_the_smallest_and_largest_batch_that_reached_the_target():
    # Only the middle of the grid trains to the target: B=32 and B=128 of λ=0.9 (made-up numbers).
    rows = []
    for b, reached, test, eig in ((8, False, 0.23, 0.7), (32, True, 0.70, 1.3), (128, True, 0.66, 5.1),
                                  (512, False, 0.58, 10.9)):
        for seed in (1, 2):
            rows.append(dict(cell=f"bs{b}_lam0.9_seed{seed}", batch_size=b, momentum=0.9, seed=seed, status="ok",
                             train_acc=0.995 if reached else 0.5, test_acc=test, reached_target=reached,
                             hessian_top=eig, epoch_wall_s=0.1, updates_per_epoch=10, device_name="cpu", threads=1))
    r = row(table_rows(pd.DataFrame(rows)), "Generalization")
    assert r["verdict"] == "holds"
    assert r["measured_small"] == "λ=0.9, B=32: 70.0%" and r["measured_large"] == "λ=0.9, B=128: 66.0%"
    assert "λ=0.9: B=32 1.3 vs B=128 5.1" in r["evidence"]  # sharpness on the same pair
    assert "λ=0.9: 23.0% vs 58.0%" in r["evidence"]  # and the equal-budget extremes, for comparison


def test_compare_reached_needs_two_batch_sizes():
    t = cells({0.0: 0.995, 0.9: 0.995}, {0.0: 0.4, 0.9: 0.4}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    t["reached_target"] = t.train_acc >= 0.99
    assert [r["verdict"] for r in lecture.compare_reached(t, "test_acc")] == ["n/a", "n/a"]


def test_all_diverged_cells_give_no_verdict_from_training():
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    t["status"] = "diverged"
    rows = table_rows(t)
    assert row(rows, "Optimization")["verdict"] == "cannot tell"
    assert row(rows, "Generalization")["verdict"] == "cannot tell"
    assert row(rows, "Time for one epoch")["verdict"] == "holds"  # from the timing step, which trains nothing


def test_a_diverged_small_batch_counts_against_the_claim():
    t = cells({0.0: 0.99, 0.9: 0.30}, {0.0: 0.40, 0.9: 0.30}, {0.0: 0.7, 0.9: 0.2}, {0.0: 0.4, 0.9: 0.3})
    t.loc[(t.momentum == 0.9) & (t.batch_size == 8), "status"] = "diverged"
    r = row(table_rows(t), "Optimization")
    assert (r["verdict"], r["scope"]) == ("partly holds", "for λ ∈ {0.0} only")
    assert "λ=0.9: diverged vs 30.0%" in r["evidence"]


def test_one_batch_size_compares_nothing():
    t = cells({0.0: 0.99, 0.9: 0.9}, {0.0: 0.99, 0.9: 0.9}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7})
    t = t[t.batch_size == 8]
    rows = table_rows(t)
    for aspect in ("Speed for one update (with parallel computing)", "Time for one epoch", "Optimization",
                   "Generalization"):
        assert row(rows, aspect)["verdict"] == "cannot tell", aspect
    timing = pd.DataFrame(dict(device="cpu", device_name="x", threads=1, torch_version="2", n_train=4000,
                               batch_size=[8], updates_per_epoch=[500], parallel_median_s=[1e-3],
                               sequential_median_s=[8e-3], sequential_extrapolated=[False],
                               epoch_measured_s=[0.5], epoch_estimated_s=[0.5]))
    rows = table_rows(t, timing)
    assert row(rows, "Speed for one update (with parallel computing)")["verdict"] == "cannot tell"


def test_same_time_holds_up_to_the_first_batch_size_beyond_twice_the_base():
    timing = pd.DataFrame(dict(
        device="cpu", device_name="x", threads=1, torch_version="2", n_train=4000, batch_size=[1, 8, 32, 128, 512],
        updates_per_epoch=[4000, 500, 125, 32, 8], parallel_median_s=[1e-3, 1.5e-3, 3e-3, 1.8e-3, 9e-3],
        sequential_median_s=[1e-3, 8e-3, 32e-3, 128e-3, 512e-3], sequential_extrapolated=False,
        epoch_measured_s=np.nan, epoch_estimated_s=[4, 0.75, 0.375, 0.06, 0.07]))
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    par = row(table_rows(t, timing), "Speed for one update (with parallel computing)")
    assert "within 2× of B=1 up to B=8" in par["evidence"]  # B=32 is 3×; B=128's 1.8× does not extend it


def test_analyze_writes_the_table_as_data_and_the_report_renders_it(tmp_path):
    from batch_momentum import analyze, files

    t = cells({0.0: 0.99, 0.9: 0.95}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    p = params()
    p = dataclasses.replace(p, sharpness=dataclasses.replace(p.sharpness, epsilons=(5e-4,)))  # the collapse view
    result = analyze.analyze(p, t, timing_frame(), momentum_result())                          # names the first ε
    assert set(result["verdicts"]) == set(lecture.VERDICTS)
    opt = next(r for r in result["rows"] if r["aspect"] == "Optimization")
    assert opt["verdict"] == "holds" and opt["scope"] == ""
    assert [r["momentum"] for r in opt["per_lambda"]] == [0.0, 0.9]
    assert opt["cells"] and set(opt["cells"]) <= set(t.cell)  # the runs the comparison used
    assert [c for c, _ in analyze.collapse_measures(p)][-1] == "sharpness_full_eps0.0005"
    assert [c["column"] for c in result["collapse"]] == ["test_acc", "train_acc"]  # the table has no sharpness
    files.write_json(tmp_path / "lecture.json", result)
    back = files.read_json(tmp_path / "lecture.json")  # strict JSON: no NaN survives
    assert back["rows"][0]["aspect"] == result["rows"][0]["aspect"]
