"""Tests of batch_momentum.critical: the lecture's claims about critical points, on cases known exactly."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from batch_momentum import config
from batch_momentum.steps import momentum
from batch_momentum.critical import experiments as cr
from batch_momentum.analysis.stats import collapse_stats
from batch_momentum.critical.surfaces import CRITICAL_1D, df1, df2, predicted_escape_steps
from conftest import REPO

CFG = config.load(REPO / "params.yaml").momentum  # the experiments' settings as params.yaml gives them


# ------------------------------------------------------------------ stalls and escapes
@pytest.mark.parametrize("lam", [0.0, 0.9])
def test_ball_at_rest_on_the_flat_saddle_never_moves(lam):
    # m^0 = 0 and g = 0: neither GD nor momentum moves a ball at rest on a zero gradient
    r = cr.run_gd(df1, [0.0], 0.01, lam, 500, critical=CRITICAL_1D)
    assert np.all(r["trajectory"] == 0.0)
    assert r["nearest_critical"]["name"] == "flat saddle"


def test_gd_approaching_flat_saddle_crawls_and_never_passes():
    x = cr.run_gd(df1, [-1.0], 0.01, 0.0, 3000)["trajectory"][:, 0]
    assert np.all(x < 0) and np.all(np.diff(x) > 0)  # monotone, strictly left of 0
    assert abs(x[-1]) < 0.02


def test_default_1d_gd_stalls_at_first_critical_point_momentum_reaches_deep_minimum():
    cfg = CFG
    gd = cr.run_1d(cfg, 0.0)
    assert gd["nearest_critical"]["kind"] == "saddle/inflection"  # the first one on the way
    assert gd["final"][0] < 0 and not gd["escaped"] and gd["first_escape_step"] is None
    mo = cr.run_1d(cfg, 0.9)
    assert mo["nearest_critical"]["kind"] == "global min"
    assert abs(mo["final"][0] - 3.0) < 1e-3 and mo["escaped"]


def test_run_gd_noise_forms_agree():
    a = cr.run_gd(df2, [0.0, 1.0], 0.05, 0.5, 50, noise=0.1, rng=np.random.default_rng(3))
    b = cr.run_gd(df2, [0.0, 1.0], 0.05, 0.5, 50, rng=np.random.default_rng(3),
                  noise=lambda th, t, rng: 0.1 * rng.standard_normal(th.shape))
    np.testing.assert_array_equal(a["trajectory"], b["trajectory"])
    assert np.any(a["trajectory"][:, 0] != 0.0)


def test_2d_stable_manifold_and_escape_order():
    cfg = CFG
    for lam in (0.0, 0.9):
        on = cr.run_2d(cfg, lam, start=[0.0, 1.0])  # momentum alone keeps x = 0 (symmetry)
        assert np.all(on["trajectory"][:, 0] == 0.0) and not on["escaped"]
        assert on["nearest_critical"]["name"] == "saddle"
        assert cr.run_2d(cfg, lam, start=[0.0, 1.0], noise=cfg.noise_2d, seed=0)["escaped"]
    gd, mo = cr.run_2d(cfg, 0.0), cr.run_2d(cfg, 0.9)
    assert gd["escaped"] and mo["escaped"]
    assert mo["first_escape_step"] < gd["first_escape_step"] / 2
    for lam, r in ((0.0, gd), (0.9, mo)):  # the linearisation predicts it within a few steps
        pred = predicted_escape_steps(cfg.start_2d[0], cfg.lr_2d, lam, cfg.escape_radius)
        assert abs(r["first_escape_step"] - pred) < 10


# ------------------------------------------------------------------ finite sums
def test_finite_offsets_sum_to_exactly_zero():
    a = cr.finite_offsets(32, 2, 0)
    assert a.shape == (32, 2) and np.all(a.sum(axis=0) == 0.0)


def _kw(case):
    c = CFG
    return dict(case=case, n=c.finite_n, lr=getattr(c, f"{case}_lr"), steps=getattr(c, f"{case}_steps"),
                offset_scale=getattr(c, f"{case}_offset_scale"), offset_seed=c.finite_offset_seed,
                escape_radius=c.escape_radius)


def _fraction(batch_size, seeds, lam, case):
    return cr.finite_sum_runs(batch_size=batch_size, seeds=seeds, lam=lam, **_kw(case))["escape_fraction"]


@pytest.mark.parametrize("case", list(cr.FINITE_CASES))
def test_finite_sum_full_batch_stays_minibatch_leaves(case):
    n = CFG.finite_n
    for lam in (0.0, 0.9):
        assert _fraction(n, 10, lam, case) == 0.0
        assert _fraction(1, 10, lam, case) > 0.5
    kw = _kw(case)
    r = cr.finite_sum_runs(case, n, 3, n, kw["lr"], 0.9, 300, kw["offset_scale"], 0, CFG.escape_radius)
    start = list(cr.FINITE_CASES[case][1])
    assert r["final"] == [start] * 3  # full batch from the critical point: exactly stays


def test_finite_sum_seed_runs_do_not_depend_on_their_neighbours():
    kw = _kw("minimum")
    args = (kw["n"], kw["lr"], 0.5, kw["steps"], kw["offset_scale"], 0, CFG.escape_radius)
    alone = cr.finite_sum_runs("minimum", 2, [7], *args)
    many = cr.finite_sum_runs("minimum", 2, range(10), *args)
    assert alone["escape_steps"][0] == many["escape_steps"][7]
    assert alone["final"][0] == many["final"][7]


def test_finite_sum_minimum_smaller_batch_and_momentum_help():
    # the lecture's "smaller batch size and momentum help escape critical points", at a local minimum
    bss = CFG.finite_batch_sizes
    fr = {lam: [_fraction(b, 20, lam, "minimum") for b in bss] for lam in (0.0, 0.9)}
    for lam, f in fr.items():
        assert all(a >= b for a, b in zip(f, f[1:])), (lam, f)  # non-increasing in B
        assert f[0] > f[-1] == 0.0
    assert sum(fr[0.9]) > sum(fr[0.0])



# ------------------------------------------------------------------ momentum as a weighted sum
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9, 0.99])
def test_recursion_equals_weighted_sum(lam):
    g = np.random.default_rng(0).standard_normal((40, 3))
    a = cr.momentum_from_recursion(g, 0.1, lam)
    b = cr.momentum_weighted_sum(g, 0.1, lam)
    assert a.shape == (41, 3)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(a[0], 0.0)


def test_weighted_sum_small_case_by_hand():
    m = cr.momentum_weighted_sum(np.array([[1.0], [2.0], [4.0]]), 0.5, 0.5)[:, 0]
    # m1 = -0.5*1; m2 = -0.5*(0.5*1 + 2); m3 = -0.5*(0.25*1 + 0.5*2 + 4)
    np.testing.assert_allclose(m, [0.0, -0.5, -1.25, -2.625])


# ------------------------------------------------------------------ the whole run and the figures
@pytest.fixture(scope="module")
def result():
    return cr.run_momentum_step(CFG, [0.0, 0.9])


def test_run_momentum_step_default(result):
    r = result
    json.dumps(r, allow_nan=False)
    assert r["seconds"] < 10
    summ = {row["momentum"]: row for row in r["summary"]}
    assert summ[0.0]["nearest_1d"] == "flat saddle" and summ[0.9]["reached_deep_min_1d"]
    assert summ[0.9]["escape_step_2d"] < summ[0.0]["escape_step_2d"]
    assert summ[0.0]["on_manifold_max_abs_x"] == 0.0 == summ[0.9]["on_manifold_max_abs_x"]
    fs = r["finite_sum"]
    full = fs["batch_sizes"].index(fs["n"])
    for case, fc in fs["cases"].items():
        assert fc["full_batch_grad_at_start"] == [0.0] * len(fc["start"])
        for lam in ("0.0", "0.9"):
            assert fc["escape_fraction"][lam][full] == 0.0 and fc["escape_fraction"][lam][0] > 0
            assert len(fc["escape_steps"][lam][0]) == fs["seeds"]
    assert len(fs["cells"]) == len(fs["cases"]) * 2 * len(fs["batch_sizes"])
    assert set(fs["collapse"]) == set(fs["cases"])
    assert max(r["weighted_sum_check"]["max_abs_diff"].values()) < 1e-12
    assert r["surface_1d"]["start_on_saddle_max_move"] == 0.0
    assert r["config"] == dataclasses.asdict(CFG) | {"start_2d": list(CFG.start_2d),
                                                     "finite_batch_sizes": list(CFG.finite_batch_sizes)}


def test_momentum_step_refuses_an_unknown_key_in_one_line(tmp_path):
    # the schema is the one check of the keys: the step reads params only through config.load
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["momentum"]["lr_1D"] = 0.1
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(params))
    out = tmp_path / "critical.json"
    with pytest.raises(config.ParamsError, match="unknown key momentum.lr_1D") as info:
        momentum.main(["--params", str(f), "--out", str(out)])
    assert "\n" not in str(info.value) and "lr_1d" in str(info.value)  # names the allowed keys
    assert not out.exists()



def test_figures(result):
    import matplotlib.pyplot as plt
    from batch_momentum.report.plots import momentum as pc
    from batch_momentum.report.plots import temperature as pt

    cells = pd.DataFrame(result["finite_sum"]["cells"])
    minimum = cells[cells["case"] == "minimum"]
    figs = [pc.plot_surface_1d(result), pc.plot_surface_2d(result), pc.plot_escape_fraction(result),
            pt.plot_vs_temperature(minimum, "escape_fraction", "escape fraction",
                                   stats=collapse_stats(minimum, y="escape_fraction")),
            pt.plot_vs_temperature(cells[cells["case"] == "saddle"], "escape_fraction")]
    for fig in figs:
        assert fig.axes
        plt.close(fig)


def test_start_on_the_manifold_never_leaves_and_the_step_still_runs():
    r = cr.run_momentum_step(dataclasses.replace(CFG, start_2d=(0.0, 1.0), noise_seeds_2d=0, finite_seeds=2), [0.0, 0.9])
    json.dumps(r, allow_nan=False)  # the predicted step is infinite there: written as None
    assert all(row["escape_step_2d"] is None for row in r["summary"])
    assert all(row["noisy_escaped_2d"] is None for row in r["summary"])
    assert all(row["predicted_escape_step_2d"] is None for row in r["summary"])
