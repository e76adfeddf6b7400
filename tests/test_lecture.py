"""The lecture table's verdicts on made-up measurements whose answer is known."""

import dataclasses
import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as t_dist

from batch_momentum import config
from batch_momentum.analysis import lecture
from batch_momentum.io import tables as T

SEEDS = (1, 2, 3)
JITTER = (-0.01, 0.0, 0.01)  # seed-to-seed spread added to every made-up value


def cells(train_small, train_large, test_small, test_large, lams=(0.0, 0.9), sizes=(8, 512), **extra):
    """A made-up run table: per λ and side a value per column, three seeds spread by JITTER."""
    rows = []
    for lam in lams:
        for b, tr, te in ((sizes[0], train_small[lam], test_small[lam]), (sizes[1], train_large[lam], test_large[lam])):
            for seed, j in zip(SEEDS, JITTER):
                rows.append(
                    dict(
                        cell=f"bs{b}_lam{lam}/seed{seed}",
                        batch_size=b,
                        momentum=lam,
                        seed=seed,
                        status="ok",
                        train_acc=tr + j,
                        test_acc=te + j,
                        reached_target=True,
                        lr=0.05,
                        cosine_expected_final=(0.3 if b == sizes[0] else 0.99) + j / 10,
                        device_name="cpu",
                        threads=1,
                        processes=1,
                        temperature=config.noise_temperature(0.05, 4000, b, lam),
                        **{k: (v[0] if b == sizes[0] else v[1]) * (1 + j) for k, v in extra.items()},
                    )
                )
    return pd.DataFrame(rows)


def equal_runs(test_small, test_large, top=(5.0, 30.0), eps=(1.0, 50.0), lams=(0.0, 0.9)):
    """Made-up equal-accuracy runs (B = 8 and 512 of params' equal_acc), every seed at the target."""
    t = cells(
        {lam: 0.99 for lam in lams},
        {lam: 0.99 for lam in lams},
        test_small,
        test_large,
        lams=lams,
        hessian_top=top,
        hessian_trace=(top[0] * 10, top[1] * 10),
        **{
            "sharpness_full_eps0.001": eps,
            "sharpness_random100_eps0.001": eps,
            "sharpness_full_eps0.0005": eps,
            "sharpness_random100_eps0.0005": eps,
        },
    )
    return t


def candidates_for(equal):
    """The candidates table of made-up equal-accuracy runs: one η per side, each run its seed's kept one."""
    c = equal.assign(cell=equal["cell"].str.split("/").str[0], chosen=True, choice_reason="best validation")
    return c.assign(val_acc=c["test_acc"]) if "val_acc" not in c else c


def interior(candidates):
    """A brackets table (T.BRACKETS) that certifies every side of `candidates` interior: the made-up runs here
    hold one η per side, whose bracket these tests do not test (tests/test_eta.py does)."""
    sides = candidates[[T.MOMENTUM, T.BATCH_SIZE]].drop_duplicates()
    return T.BRACKETS.frame(
        {T.MOMENTUM: lam, T.BATCH_SIZE: b, T.BRACKET: T.INTERIOR, T.BEST_LR: 1.0}
        for lam, b in sides.itertuples(index=False)
    )


def params():
    p = config.load(Path(__file__).resolve().parents[1] / "params.yaml")
    assert p.train.target_train_acc == 0.99  # the target the made-up cells are measured against
    return p


def timing_frame():
    """A timing step's rows for B = 8 and 512 (made up): sequential 64x slower, parallel 30x, epoch 2.1x."""
    return pd.DataFrame(
        dict(
            device="cpu",
            device_name="x86_64",
            threads=1,
            torch_version="2",
            n_train=4000,
            batch_size=[8, 512],
            updates_per_epoch=[500, 8],
            parallel_median_s=[1e-3, 30e-3],
            sequential_median_s=[8e-3, 512e-3],
            sequential_extrapolated=[False, True],
            epoch_measured_s=[0.5, np.nan],
            epoch_estimated_s=[0.5, 0.24],
        )
    )


def table_rows(t, timing=None, momentum=None, equal=None):
    """lecture_table with made-up timing, momentum and equal-accuracy results where a test gives none."""
    equal = equal_runs({0.0: 0.8, 0.9: 0.8}, {0.0: 0.7, 0.9: 0.7}) if equal is None else equal
    return lecture.lecture_table(
        t,
        equal,
        candidates_for(equal),
        params(),
        timing_frame() if timing is None else timing,
        momentum_result() if momentum is None else momentum,
        brackets=interior(equal),
    )


def row(rows, aspect):
    return next(r for r in rows if r["aspect"] == aspect)


def test_optimization_verdicts_per_lambda():
    # λ=0: the small batch trains far better (holds); λ=0.9: the large one does (does not hold)
    t = cells({0.0: 0.99 - 0.02, 0.9: 0.30}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.2}, {0.0: 0.4, 0.9: 0.6})
    r = row(table_rows(t), "Optimization")
    assert (r["verdict"], r["scope"]) == ("partly holds", "(λ=0: holds, λ=0.9: does not hold)")
    assert [p["verdict"] for p in r["per_lambda"]] == ["holds", "does not hold"]
    lam0 = r["per_lambda"][0]
    assert lam0["small"]["n"] == 3 and lam0["small"]["mean"] == pytest.approx(0.97)
    assert lam0["difference"]["diff"] == pytest.approx(0.40 - 0.97)
    assert "λ=0: B=8 97.0% [" in r["evidence"] and "holds (n = 3 vs 3 seeds)" in r["evidence"]
    t3 = cells({0.0: 0.5, 0.9: 0.5}, {0.0: 0.9, 0.9: 0.9}, {0.0: 0.5, 0.9: 0.5}, {0.0: 0.9, 0.9: 0.9})
    assert row(table_rows(t3), "Optimization")["verdict"] == "does not hold"


def test_overlapping_seeds_are_inconclusive():
    t = cells({0.0: 0.60, 0.9: 0.60}, {0.0: 0.60, 0.9: 0.60}, {0.0: 0.5, 0.9: 0.5}, {0.0: 0.5, 0.9: 0.5})
    t.loc[t.batch_size == 512, "train_acc"] += [0.05, -0.04, 0.0] * 2  # large side: more spread, same mean
    r = row(table_rows(t), "Optimization")
    assert r["verdict"] == "inconclusive" and r["scope"] == ""
    assert all(p["difference"]["lo"] < 0 < p["difference"]["hi"] for p in r["per_lambda"])


def test_diverged_runs_are_counted_and_left_out_of_the_means():
    t = cells({0.0: 0.99, 0.9: 0.30}, {0.0: 0.40, 0.9: 0.30}, {0.0: 0.7, 0.9: 0.2}, {0.0: 0.4, 0.9: 0.3})
    t.loc[(t.momentum == 0.9) & (t.batch_size == 8), ["status", "train_acc"]] = ["diverged", 0.0]
    r = row(table_rows(t), "Optimization")
    lam9 = r["per_lambda"][1]
    assert lam9["small"]["n"] == 0 and lam9["failed"]["small"] == {"diverged": 3}
    assert lam9["verdict"] == "not measured" and (r["verdict"], r["scope"]) == (
        "holds",
        "(λ=0: holds, λ=0.9: not measured)",
    )
    assert lam9["reason"] == "B=8 at λ=0.9 has 0 usable run(s) (3 diverged)"
    assert "B=8 none (3 diverged left out)" in r["evidence"] and "not measured (B=8 at λ=0.9 has 0" in r["evidence"]


def test_generalization_and_sharpness_use_only_runs_at_the_target():
    equal = equal_runs({0.0: 0.80, 0.9: 0.80}, {0.0: 0.70, 0.9: 0.70})
    # one large-batch seed of λ=0.9 stopped short of the target: its (high) test accuracy must not count
    short = (equal.momentum == 0.9) & (equal.batch_size == 512) & (equal.seed == 3)
    equal.loc[short, ["reached_target", "test_acc", "hessian_top"]] = [False, 0.99, 0.1]
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t, equal=equal)
    gen = row(rows, "Generalization")
    assert gen["verdict"] == "holds"
    lam9 = gen["per_lambda"][1]
    assert lam9["large"]["n"] == 2 and lam9["large"]["mean"] == pytest.approx(0.695)
    assert lam9["failed"]["large"] == {"short of the target": 1}
    assert "bs512_lam0.9/seed3" not in gen["cells"] and "bs512_lam0.9/seed1" in gen["cells"]
    sharp = row(rows, "Sharp vs flat minima")
    assert sharp["verdict"] == "holds" and sharp["small"] == "Flat minimum"
    assert set(sharp["per_lambda"][0]["measures"]) >= {"top Hessian eigenvalue", "Hessian trace"}
    assert sharp["primary"] == "ε-sharpness ε=0.001"  # params' verdict.sharpness_primary: eps_sharpness
    assert sharp["per_lambda"][0]["ratio"]["ratio"] == pytest.approx(50.0, rel=1e-3)  # 50 / 1: the primary's


def test_the_primary_measure_decides_and_a_disagreeing_measure_is_named():
    # the Hessian says sharper at the large batch, epsilon-sharpness (the primary) says flatter
    equal = equal_runs({0.0: 0.8, 0.9: 0.8}, {0.0: 0.7, 0.9: 0.7}, top=(5.0, 30.0), eps=(50.0, 1.0))
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    sharp = row(table_rows(t, equal=equal), "Sharp vs flat minima")
    assert sharp["verdict"] == "does not hold"  # the primary's verdict, not a mix of the measures
    lam0 = sharp["per_lambda"][0]
    assert (
        lam0["measures"]["top Hessian eigenvalue"] == "holds"
        and lam0["measures"]["ε-sharpness ε=0.001"] == "does not hold"
    )
    assert lam0["agreement"]["top Hessian eigenvalue"] == "disagrees (holds)"
    assert lam0["agreement"]["ε-sharpness ε=0.0005"] == "agrees"
    assert lam0["measures_disagree"] and "measures disagree" in lam0["note"]
    assert sharp["flags"] == ["measures disagree at λ = 0, 0.9"]
    # every measure pointing the same way: no flag
    same = equal_runs({0.0: 0.8, 0.9: 0.8}, {0.0: 0.7, 0.9: 0.7}, top=(5.0, 30.0), eps=(1.0, 50.0))
    agreeing = row(table_rows(t, equal=same), "Sharp vs flat minima")
    assert agreeing["verdict"] == "holds" and agreeing["flags"] == []
    assert not agreeing["per_lambda"][0]["measures_disagree"]


def test_agreement_needs_intervals_that_exclude_one_on_opposite_sides():
    def r(verdict, lo, hi):
        return {"verdict": verdict, "ratio": {"ratio": (lo + hi) / 2, "lo": lo, "hi": hi}}

    up, down, open_ = r("holds", 1.5, 3.0), r("does not hold", 0.2, 0.6), r("inconclusive", 0.7, 1.6)
    assert lecture.agreement("a", {"a": up, "b": down})["disagree"]
    assert not lecture.agreement("a", {"a": up, "b": open_})["disagree"]  # one interval holds 1
    assert lecture.agreement("a", {"a": up, "b": open_})["others"] == {"b": "disagrees (inconclusive)"}
    assert not lecture.agreement("a", {"a": up, "b": up})["disagree"]


def test_keskar_table_beside_the_published_row():
    equal = equal_runs({0.0: 0.80, 0.9: 0.80}, {0.0: 0.70, 0.9: 0.70})
    k = lecture.keskar_table(equal, params())
    first = k["rows"][0]
    assert (first["momentum"], first["side"], first["batch_size"], first["seeds"]) == (0.0, "small", 8, 3)
    assert first["values"]["test_acc"]["mean"] == pytest.approx(0.80)
    assert first["values"]["test_acc"]["std"] == pytest.approx(0.01)
    assert k["published"]["large"]["eps_sharpness"] == 205.14 and "Adam" in k["differs"]
    cifar = params()
    cifar = dataclasses.replace(cifar, data=dataclasses.replace(cifar.data, dataset="cifar10"))
    c1 = lecture.keskar_table(equal, cifar)
    assert c1["published"]["network"] == "C1" and c1["published"]["large"]["eps_sharpness"] == 707.23
    assert "CIFAR-10, conv 64" in c1["differs"]


def test_timing_rows_from_the_timing_step():
    timing = timing_frame()
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t, timing)
    assert row(rows, "Speed for one update (no parallel computing)")["verdict"] == "holds"
    par = row(rows, "Speed for one update (with parallel computing)")
    assert par["verdict"] == "does not hold" and "30.0×" in par["evidence"]
    ep = row(rows, "Time for one epoch")
    assert ep["verdict"] == "holds" and "2.1×" in ep["evidence"]
    timing.loc[1, "parallel_median_s"] = 1.2e-3  # within verdict.margin_ratio = 1.25 of B=8's time
    par = row(table_rows(t, timing), "Speed for one update (with parallel computing)")
    assert par["verdict"] == "holds" and par["margin_text"] == "times within 1.25× are the same"


@functools.cache
def small_momentum_run():
    """A real momentum-step result on a few steps (about 0.1 s), whose outcomes momentum_result replaces."""
    from batch_momentum.critical.experiments import run_momentum_step

    cfg = dataclasses.replace(
        params().momentum,
        steps_1d=40,
        steps_2d=40,
        noise_seeds_2d=1,
        finite_seeds=2,
        saddle_steps=10,
        minimum_steps=10,
        weighted_sum_steps=5,
    )
    return run_momentum_step(cfg, (0.0, 0.5, 0.9))


def momentum_result(deep=(0.9,), fractions=None, diff=1e-16):
    """A momentum-step result (critical.records) with made-up outcomes: which λ reach the deep minimum,
    the escape fraction per (λ, B) of a finite sum with N = 4, and the weighted-sum check's difference."""
    from batch_momentum.critical.records import FiniteCell

    real = small_momentum_run()
    fractions = fractions or {0.0: [0.5, 0.2, 0.0], 0.5: [0.8, 0.4, 0.0], 0.9: [1.0, 0.9, 0.0]}
    summary = tuple(
        dataclasses.replace(
            s,
            final_1d=3.0 if s.momentum in deep else -0.01,
            first_escape_step_1d=None,
            nearest_1d="deep minimum" if s.momentum in deep else "flat saddle",
            reached_deep_min_1d=s.momentum in deep,
        )
        for s in real.summary
    )
    cells = tuple(
        FiniteCell(
            case="saddle",
            momentum=lam,
            batch_size=b,
            temperature=1.0,
            escape_fraction=f,
            median_escape_step=None,
            escape_steps=(),
        )
        for lam in real.lambdas
        for b, f in zip((1, 2, 4), fractions[lam])
    )
    finite = dataclasses.replace(
        real.finite_sum, n=4, batch_sizes=(1, 2, 4), seeds=10, cells=cells, cases=real.finite_sum.cases[:1], collapse=()
    )
    checks = tuple(dataclasses.replace(w, max_abs_diff=diff) for w in real.weighted_sum_check)
    return dataclasses.replace(real, summary=summary, finite_sum=finite, weighted_sum_check=checks)


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

    bad = {
        r["aspect"]: r
        for r in lecture.momentum_rows(
            momentum_result(
                deep=(), fractions={0.0: [0.9, 0.2, 0.0], 0.5: [0.5, 0.1, 0.0], 0.9: [0.1, 0.0, 0.0]}, diff=1e-3
            )
        )
    }
    assert bad["Critical point: gradient descent (λ = 0) vs momentum (λ > 0)"]["verdict"].startswith("does not hold")
    assert bad["Escaping a critical point: no momentum vs momentum"]["verdict"].startswith("does not hold")
    assert bad["mᵗ is the weighted sum of all earlier gradients"]["verdict"] == "does not hold"


def test_momentum_rows_join_the_table():
    t = cells({0.0: 0.99, 0.9: 0.95}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t)
    assert [r["verdict"] for r in rows if r["aspect"].startswith("Escaping")] == ["holds", "holds"]
    assert all(r["verdict"] in lecture.VERDICTS for r in rows)
    assert rows[-1]["aspect"] == "mᵗ is the weighted sum of all earlier gradients"


def test_all_diverged_cells_give_no_verdict_from_training():
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    t["status"] = "diverged"
    rows = table_rows(t)
    assert row(rows, "Optimization")["verdict"] == "not measured"
    assert row(rows, "Optimization")["per_lambda"][0]["failed"]["small"] == {"diverged": 3}
    assert "has 0 usable run(s) (3 diverged)" in row(rows, "Optimization")["per_lambda"][0]["reason"]
    assert row(rows, "Time for one epoch")["verdict"] == "holds"  # from the timing step, which trains nothing


def test_one_batch_size_compares_nothing():
    t = cells({0.0: 0.99, 0.9: 0.9}, {0.0: 0.99, 0.9: 0.9}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7})
    t = t[t.batch_size == 8]
    rows = table_rows(t)
    for aspect in ("Speed for one update (with parallel computing)", "Time for one epoch"):
        assert row(rows, aspect)["verdict"] == "inconclusive", aspect
    assert row(rows, "Optimization")["verdict"] == "not measured"
    assert row(rows, "Optimization")["per_lambda"][0]["reason"] == "one batch size only (B=8): nothing to compare"
    timing = pd.DataFrame(
        dict(
            device="cpu",
            device_name="x",
            threads=1,
            torch_version="2",
            n_train=4000,
            batch_size=[8],
            updates_per_epoch=[500],
            parallel_median_s=[1e-3],
            sequential_median_s=[8e-3],
            sequential_extrapolated=[False],
            epoch_measured_s=[0.5],
            epoch_estimated_s=[0.5],
        )
    )
    rows = table_rows(t, timing)
    assert row(rows, "Speed for one update (with parallel computing)")["verdict"] == "inconclusive"


def test_same_time_holds_up_to_the_first_batch_size_beyond_the_margin():
    timing = pd.DataFrame(
        dict(
            device="cpu",
            device_name="x",
            threads=1,
            torch_version="2",
            n_train=4000,
            batch_size=[1, 8, 32, 128, 512],
            updates_per_epoch=[4000, 500, 125, 32, 8],
            parallel_median_s=[1e-3, 1.2e-3, 1.5e-3, 1.1e-3, 9e-3],
            sequential_median_s=[1e-3, 8e-3, 32e-3, 128e-3, 512e-3],
            sequential_extrapolated=False,
            epoch_measured_s=np.nan,
            epoch_estimated_s=[4, 0.75, 0.375, 0.06, 0.07],
        )
    )
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    par = row(table_rows(t, timing), "Speed for one update (with parallel computing)")
    assert "within 1.25× of B=1 up to B=8" in par["evidence"]  # B=32 is 1.5×; B=128's 1.1× does not extend it


def test_analyze_writes_the_table_as_data_and_the_report_renders_it(tmp_path):
    from batch_momentum.analysis import findings
    from batch_momentum.io import files

    t = cells({0.0: 0.99, 0.9: 0.95}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    p = params()
    p = dataclasses.replace(p, sharpness=dataclasses.replace(p.sharpness, epsilons=(5e-4,)))  # the collapse view
    equal = equal_runs({0.0: 0.8, 0.9: 0.8}, {0.0: 0.7, 0.9: 0.7})  # names the first ε
    result = findings.analyze(p, t, equal, candidates_for(equal), timing_frame(), momentum_result())
    assert set(result["verdicts"]) == set(lecture.VERDICTS)
    opt = next(r for r in result["rows"] if r["aspect"] == "Optimization")
    assert opt["verdict"] == "holds" and opt["scope"] == ""
    assert [r["momentum"] for r in opt["per_lambda"]] == [0.0, 0.9]
    assert opt["cells"] and set(opt["cells"]) <= set(t.cell)  # the runs the comparison used
    assert findings.collapse_measures(p)[-1].column == "sharpness_full_eps0.0005"
    trained = [c["column"] for c in result["collapse"] if c["runs"] == "grid, trained"]
    assert trained == ["test_acc", "train_acc"]  # the table has no sharpness
    assert {c["runs"] for c in result["collapse"]} <= {
        "grid, trained",
        "grid, reached the target",
        "equal-accuracy runs",
    }
    # strict JSON: analyze writes every NaN (an interval of fewer than two runs, a collapse statistic
    # of too few points) as null, so no NaN survives anywhere in the result or the file
    values = list(_leaves(result))
    assert not [v for v in values if isinstance(v, float) and math.isnan(v)]
    json.dumps(result, allow_nan=False)  # raises on a NaN or an infinity
    files.write_json(tmp_path / "lecture.json", result)
    text = (tmp_path / "lecture.json").read_text()
    back = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in lecture.json"))
    assert back == json.loads(json.dumps(result))


def test_no_equal_accuracy_run_measured_gives_not_measured_rows_not_a_crash():
    """evaluate writes the sharpness columns only for runs with status ok: when no equal-accuracy run
    is ok, the table has none of them, and the rows must say not measured, with the reason."""
    equal = equal_runs({0.0: 0.8, 0.9: 0.8}, {0.0: 0.7, 0.9: 0.7})
    equal = equal.drop(columns=[c for c in equal.columns if c.startswith(("hessian", "sharpness"))])
    equal["status"] = "stalled"
    t = cells({0.0: 0.9, 0.9: 0.9}, {0.0: 0.4, 0.9: 0.7}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t, equal=equal)
    for aspect in ("Generalization", "Sharp vs flat minima"):
        r = row(rows, aspect)
        assert r["verdict"] == "not measured", (aspect, r["verdict"])
        assert all(p["small"]["n"] == p["large"]["n"] == 0 for p in r["per_lambda"])
        assert all("0 usable run(s) (3 stalled)" in p["reason"] for p in r["per_lambda"])


def _leaves(node):
    """Every value at the leaves of nested dicts and lists."""
    if isinstance(node, dict):
        for v in node.values():
            yield from _leaves(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _leaves(v)
    else:
        yield node


def _paired_frame(small, large, lam=0.0, sizes=(8, 512)):
    """A run table with the given per-seed test accuracies of both sides (seed k = the k-th value)."""
    rows = [
        dict(
            cell=f"bs{b}_lam{lam}/seed{k + 1}",
            batch_size=b,
            momentum=lam,
            seed=k + 1,
            status="ok",
            reached_target=True,
            test_acc=v,
            lr=0.05 if b == sizes[0] else 2.0,
        )
        for b, values in zip(sizes, (small, large))
        for k, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_compare_pairs_seeds_and_reports_what_pairing_gains():
    # seeds differ by ±5 points, which both sides share; the large batch is 1.5 points behind at every seed
    base = np.array([0.60, 0.70, 0.65, 0.55, 0.75, 0.62, 0.68, 0.58])
    jit = np.array([0.002, -0.002, 0.001, -0.001, 0.0, 0.002, -0.002, 0.0])
    t = _paired_frame(base, base - 0.015 + jit)
    (r,) = lecture.compare(t, "test_acc", "smaller", (8, 512), margin=0.01)
    assert r["paired"] and r["difference"]["n_pairs"] == 8 and r["correlation"] > 0.99
    assert r["difference"]["diff"] == pytest.approx(-0.015)
    paired_width = r["difference"]["hi"] - r["difference"]["lo"]
    assert paired_width < 0.01 < r["unpaired"]["hi"] - r["unpaired"]["lo"]  # unpaired: the seeds' spread
    assert r["verdict"] == "holds" and r["seeds_needed"] is None
    sd = np.std(jit, ddof=1)
    assert r["detectable"] == pytest.approx((t_dist.ppf(0.975, 7) + t_dist.ppf(0.8, 7)) * sd / np.sqrt(8))


def test_compare_says_no_difference_and_what_an_inconclusive_row_needs():
    base = np.array([0.60, 0.70, 0.65, 0.55, 0.75, 0.62, 0.68, 0.58])
    small_jit = np.array([0.002, -0.002, 0.001, -0.001, 0.0, 0.002, -0.002, 0.0])
    (same,) = lecture.compare(_paired_frame(base, base + small_jit), "test_acc", "smaller", (8, 512), margin=0.01)
    assert same["verdict"] == "no difference" and same["seeds_needed"] is None
    noisy = np.array([0.03, -0.04, 0.02, -0.01, 0.05, -0.03, 0.0, -0.02])  # sd 3 points around −0.25
    (wide,) = lecture.compare(_paired_frame(base, base + noisy), "test_acc", "smaller", (8, 512), margin=0.01)
    assert wide["verdict"] == "inconclusive" and wide["seeds_needed"] > 8
    assert "seeds would decide" in lecture.describe([wide], lecture.pct)


def test_sharpness_ratio_is_paired_on_logs():
    small = np.array([1.0, 2.0, 0.5, 1.5])
    (r,) = lecture.compare(
        _paired_frame(small, 1.1 * small).rename(columns={"test_acc": "hessian_top"}),
        "hessian_top",
        "larger",
        (8, 512),
        margin=1.25,
        ratio=True,
    )
    assert r["ratio"]["ratio"] == pytest.approx(1.1) and r["ratio"]["lo"] == pytest.approx(1.1)
    assert r["verdict"] == "no difference"  # 1.1 lies inside [1/1.25, 1.25]: real, but too small to matter
    assert r["unpaired"]["hi"] > 2  # unpaired, the seeds' twofold spread hides it


def test_edge_of_stability_per_side():
    # η = 2 at λ = 0.5: threshold 2(1.5)/2 = 1.5; the large batch's eigenvalue 1.45 sits at the edge, the small
    # batch's (η = 0.05: threshold 60) far below it
    t = _paired_frame([0.8] * 3, [0.8] * 3, lam=0.5)
    t["hessian_top"] = np.where(t.batch_size == 512, 1.45, 1.2)
    (e,) = lecture.edge_of_stability(t, (8, 512))
    assert e["large"]["threshold"] == pytest.approx(1.5) and e["large"]["edge_ratio"] == pytest.approx(1.45 / 1.5)
    assert e["large"]["at_edge"] and not e["small"]["at_edge"] and e["small"]["threshold"] == pytest.approx(60)
    text = lecture.edge_text([e])
    assert "sits at its edge at λ = 0.5" in text and "Cohen et al. 2021" in text


def test_precision_is_the_half_width_against_the_margin():
    base = np.array([0.60, 0.70, 0.65, 0.55])
    tight = lecture.compare(
        _paired_frame(base, base + [0.001, -0.001, 0.002, 0.0]), "test_acc", "smaller", (8, 512), 0.01
    )
    wide = lecture.compare(
        _paired_frame(base, base + [0.03, -0.04, 0.02, -0.01]), "test_acc", "smaller", (8, 512), 0.01
    )
    assert tight[0]["precise"] and tight[0]["half_width"] < 0.01
    assert not wide[0]["precise"] and wide[0]["half_width"] > 0.01
    assert "interval wider than the margin" in lecture.describe(wide, lecture.pct)


def test_a_stalled_seed_at_the_best_eta_leaves_the_verdict_and_the_other_seeds_unchanged():
    """Issue 27: 8 paired seeds, the large batch's η = 2 the best for every seed (test accuracy 2 points
    below the small batch), η = 1 worse (5 below). Seed 8 then stalls at η = 2: it alone falls back to η = 1;
    the generalization verdict and every other seed's run stay as they were."""
    from batch_momentum.training import equal_acc

    seeds = range(1, 9)

    def run(b, lr, seed, test, val, reached=True):
        j = (seed - 4.5) / 1000
        return dict(
            cell=f"bs{b}_lam0.0/seed{seed}",
            batch_size=b,
            momentum=0.0,
            seed=seed,
            lr=lr,
            status="ok",
            reached_target=reached,
            train_acc=0.99 if reached else 0.899,
            val_acc=val + j,
            test_acc=test + j,
        )

    def table(stalled: bool):
        cands = [run(8, 0.1, s, 0.72, 0.72) for s in seeds]
        cands += [run(512, 1.0, s, 0.67, 0.70) for s in seeds]
        cands += [run(512, 2.0, s, 0.70, 0.73, reached=not (stalled and s == 8)) for s in seeds]
        c = pd.DataFrame(cands)
        kept = {b: equal_acc.choose_per_seed(c[c.batch_size == b].to_dict("records")) for b in (8, 512)}
        c["chosen"] = [r.lr == kept[r.batch_size][r.seed]["lr"] for r in c.itertuples()]
        c["cell"] = c["cell"].str.split("/").str[0]
        equal = c[c.chosen].assign(cell=lambda f: f["cell"] + "/seed" + f["seed"].astype(str))
        return equal, c, kept[512]

    p = params()
    p = dataclasses.replace(p, equal_acc=dataclasses.replace(p.equal_acc, batch_size=(8, 512), seed=tuple(seeds)))
    before_equal, before_c, before_kept = table(stalled=False)
    after_equal, after_c, after_kept = table(stalled=True)
    before = lecture.generalization_row(before_equal, before_c, p, interior(before_c))["per_lambda"][0]
    after = lecture.generalization_row(after_equal, after_c, p, interior(after_c))["per_lambda"][0]
    assert {s: k["lr"] for s, k in after_kept.items()} == {**{s: 2.0 for s in range(1, 8)}, 8: 1.0}
    assert before["verdict"] == after["verdict"] == "holds"
    assert before["difference"]["diff"] == pytest.approx(-0.02)
    assert after["difference"]["diff"] == pytest.approx(-0.02 - 0.03 / 8)  # seed 8 alone moved, by 3 points
    assert after["large"]["n"] == before["large"]["n"] == 8  # seed 8 still counts, at its own best η


def test_the_mechanism_row_follows_sharp_vs_flat_and_answers_from_the_candidates():
    t = cells({0.0: 0.99, 0.9: 0.95}, {0.0: 0.40, 0.9: 0.70}, {0.0: 0.7, 0.9: 0.7}, {0.0: 0.4, 0.9: 0.6})
    rows = table_rows(t)  # the large batch sharper and 10 points worse in every seed: the flatter runs test better
    aspects = [r["aspect"] for r in rows]
    mech = rows[aspects.index("Sharp vs flat minima") + 1]
    assert mech["aspect"] == "Flat minimum → better testing" and mech["verdict"] == "holds"
    assert all(p["n_runs"] == 6 and p["n_seeds"] == 3 for p in mech["per_lambda"])
