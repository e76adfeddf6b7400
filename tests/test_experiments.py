"""Tests of batch_momentum.critical: the lecture's claims about critical points, on cases known exactly."""

import dataclasses
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from matplotlib.colors import to_rgba

from batch_momentum import config
from batch_momentum.analysis.momentum import end_1d
from batch_momentum.analysis.stats import collapse_stats
from batch_momentum.critical import experiments as cr
from batch_momentum.critical import records
from batch_momentum.critical.surfaces import CRITICAL_1D, df1, df2, predicted_escape_steps
from batch_momentum.report.plots import momentum as pc
from batch_momentum.report.plots import temperature as pt
from batch_momentum.report.plots.style import lam_colors
from batch_momentum.steps import momentum
from conftest import REPO

CFG = config.load(REPO / "params.yaml").momentum  # the experiments' settings as params.yaml gives them


def xs(run) -> np.ndarray:
    """A run's trajectory as an array (steps + 1, d)."""
    return np.asarray(run.trajectory)


# ------------------------------------------------------------------ stalls and escapes
@pytest.mark.parametrize("lam", [0.0, 0.9])
def test_ball_at_rest_on_the_flat_saddle_never_moves(lam):
    # m^0 = 0 and g = 0: neither GD nor momentum moves a ball at rest on a zero gradient
    r = cr.run_gd(df1, [0.0], 0.01, lam, 500, critical=CRITICAL_1D)
    assert np.all(xs(r) == 0.0) and r.momentum == lam
    assert r.nearest.critical.name == "flat saddle" and r.nearest.distance == 0.0


def test_gd_approaching_flat_saddle_crawls_and_never_passes():
    x = xs(cr.run_gd(df1, [-1.0], 0.01, 0.0, 3000))[:, 0]
    assert np.all(x < 0) and np.all(np.diff(x) > 0)  # monotone, strictly left of 0
    assert abs(x[-1]) < 0.02


def test_default_1d_gd_stalls_at_first_critical_point_momentum_reaches_deep_minimum():
    gd = cr.run_1d(CFG, 0.0)
    assert gd.nearest.critical.kind == "saddle/inflection"  # the first one on the way
    assert gd.final[0] < 0 and not gd.escaped and gd.first_escape_step is None
    mo = cr.run_1d(CFG, 0.9)
    assert mo.nearest.critical.kind == "global min"
    assert abs(mo.final[0] - 3.0) < 1e-3 and mo.escaped


def test_run_gd_noise_forms_agree():
    a = cr.run_gd(df2, [0.0, 1.0], 0.05, 0.5, 50, noise=0.1, rng=np.random.default_rng(3))
    b = cr.run_gd(
        df2,
        [0.0, 1.0],
        0.05,
        0.5,
        50,
        rng=np.random.default_rng(3),
        noise=lambda th, t, rng: 0.1 * rng.standard_normal(th.shape),
    )
    assert a == b  # records compare field by field
    assert np.any(xs(a)[:, 0] != 0.0)


def test_2d_stable_manifold_and_escape_order():
    for lam in (0.0, 0.9):
        on = cr.run_2d(CFG, lam, start=[0.0, 1.0])  # momentum alone keeps x = 0 (symmetry)
        assert np.all(xs(on)[:, 0] == 0.0) and not on.escaped
        assert on.nearest.critical.name == "saddle"
        assert cr.run_2d(CFG, lam, start=[0.0, 1.0], noise=CFG.noise_2d, seed=0).escaped
    gd, mo = cr.run_2d(CFG, 0.0), cr.run_2d(CFG, 0.9)
    assert gd.escaped and mo.escaped
    assert mo.first_escape_step < gd.first_escape_step / 2
    for lam, r in ((0.0, gd), (0.9, mo)):  # the linearisation predicts it within a few steps
        pred = predicted_escape_steps(CFG.start_2d[0], CFG.lr_2d, lam, CFG.escape_radius)
        assert abs(r.first_escape_step - pred) < 10


# ------------------------------------------------------------------ finite sums
def test_finite_offsets_sum_to_exactly_zero():
    a = cr.finite_offsets(32, 2, 0)
    assert a.shape == (32, 2) and np.all(a.sum(axis=0) == 0.0)


def _fraction(batch_size, seeds, lam, case):
    steps, _ = cr.finite_sum_runs(cr.finite_case(CFG, case), CFG, lam, batch_size, seeds)
    return np.mean([s is not None for s in steps])


@pytest.mark.parametrize("case", list(cr.FINITE_CASES))
def test_finite_sum_full_batch_stays_minibatch_leaves(case):
    n = CFG.finite_n
    fc = cr.finite_case(CFG, case)
    assert fc.full_batch_grad_at_start == (0.0,) * len(fc.start)  # exactly: the a_n sum to 0
    for lam in (0.0, 0.9):
        assert _fraction(n, 10, lam, case) == 0.0
        assert _fraction(1, 10, lam, case) > 0.5
    steps, final = cr.finite_sum_runs(dataclasses.replace(fc, steps=300), CFG, 0.9, n, 3)
    assert steps == [None] * 3 and final.tolist() == [list(fc.start)] * 3  # full batch: exactly stays


def test_finite_sum_seed_runs_do_not_depend_on_their_neighbours():
    fc = cr.finite_case(CFG, "minimum")
    alone = cr.finite_sum_runs(fc, CFG, 0.5, 2, [7])
    many = cr.finite_sum_runs(fc, CFG, 0.5, 2, range(10))
    assert alone[0][0] == many[0][7]
    np.testing.assert_array_equal(alone[1][0], many[1][7])


def test_finite_sum_minimum_smaller_batch_and_momentum_help():
    # the lecture's "smaller batch size and momentum help escape critical points", at a local minimum
    bss = CFG.finite_batch_sizes
    fr = {lam: [_fraction(b, 20, lam, "minimum") for b in bss] for lam in (0.0, 0.9)}
    for lam, f in fr.items():
        assert all(a >= b for a, b in zip(f, f[1:])), (lam, f)  # non-increasing in B
        assert f[0] > f[-1] == 0.0
    assert sum(fr[0.9]) > sum(fr[0.0])


def test_finite_cell_counts_its_seeds_and_has_the_closed_form_temperature():
    cfg = dataclasses.replace(CFG, finite_seeds=8)
    fc = cr.finite_case(cfg, "saddle")
    cell = cr.finite_cell(fc, cfg, 0.9, 2)
    # g = eta N / (B (1 - lam)) = 0.05 * 32 / (2 * 0.1) = 8
    assert (fc.lr, cfg.finite_n) == (0.05, 32) and cell.temperature == pytest.approx(8.0, rel=1e-12)
    hit = [s for s in cell.escape_steps if s is not None]
    assert len(cell.escape_steps) == 8 and cell.escape_fraction == len(hit) / 8
    assert cell.median_escape_step == (float(np.median(hit)) if hit else None)


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


# ------------------------------------------------------------------ the whole run and the step
@pytest.fixture(scope="module")
def result():
    return cr.run_momentum_step(CFG, [0.0, 0.9])


def test_run_momentum_step_default(result):
    r = result
    assert r.seconds < 10 and r.config == CFG and r.lambdas == (0.0, 0.9)
    summ = {s.momentum: s for s in r.summary}
    assert summ[0.0].nearest_1d == "flat saddle" and summ[0.9].reached_deep_min_1d
    assert summ[0.9].escape_step_2d < summ[0.0].escape_step_2d
    assert summ[0.0].on_manifold_max_abs_x == 0.0 == summ[0.9].on_manifold_max_abs_x
    assert [s.escape_step_2d for s in r.summary] == [s.offset.first_escape_step for s in r.surface_2d.runs]
    fs = r.finite_sum
    assert len(fs.cells) == len(fs.cases) * 2 * len(fs.batch_sizes)
    for c in fs.cells:
        assert len(c.escape_steps) == fs.seeds
        if c.batch_size == fs.n:
            assert c.escape_fraction == 0.0
        if c.batch_size == 1:
            assert c.escape_fraction > 0
    assert [c.case for c in fs.collapse] == [fc.case for fc in fs.cases]
    assert max(w.max_abs_diff for w in r.weighted_sum_check) < 1e-12
    assert r.surface_1d.start_on_saddle_max_move == 0.0


def test_collapse_record_is_collapse_stats_of_the_cells(result):
    fs = result.finite_sum
    for col in fs.collapse:
        s = collapse_stats(records.cells_frame(c for c in fs.cells if c.case == col.case), y="escape_fraction")
        assert (col.n, col.spearman, col.interpretation) == (s["n"], s["spearman"], s["interpretation"])
        assert [(m.momentum, m.spearman) for m in col.spearman_by_momentum] == [
            (float(k), v) for k, v in s["spearman_by_group"].items()
        ]


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


def test_start_on_the_manifold_never_leaves_and_the_step_still_runs(tmp_path):
    cfg = dataclasses.replace(CFG, start_2d=(0.0, 1.0), noise_seeds_2d=0, finite_seeds=2)
    r = cr.run_momentum_step(cfg, [0.0, 0.9])
    assert all(s.escape_step_2d is None for s in r.summary)
    assert all(s.noisy_escaped_2d is None for s in r.summary)
    assert all(s.predicted_escape_step_2d is None for s in r.summary)  # infinite: never leaves
    assert records.read(records.write(tmp_path / "c.json", r)) == r


# ------------------------------------------------------------------ the figures draw the records
def _color(line):
    return to_rgba(line.get_color())


def _line(ax, label: str):
    [line] = [ln for ln in ax.lines if ln.get_label() == label]
    return line


def test_1d_figure_draws_each_lambdas_trajectory_in_its_colour(result):
    fig = pc.plot_surface_1d(result)
    top, bottom = fig.axes
    colors = lam_colors(result.lambdas)
    for run, s in zip(result.surface_1d.runs, result.summary):
        x = xs(run)[:, 0]
        ball, path = _line(top, end_1d(s)), _line(bottom, f"λ = {run.momentum:g}")
        np.testing.assert_array_equal(ball.get_xdata(), x)
        np.testing.assert_array_equal(path.get_ydata(), x)
        np.testing.assert_array_equal(path.get_xdata(), np.arange(len(x)))
        assert _color(ball) == _color(path) == to_rgba(colors[run.momentum])
    plt.close(fig)


def test_2d_figure_draws_each_lambdas_offset_and_noisy_run(result):
    fig = pc.plot_surface_2d(result)
    [ax] = fig.axes
    colors = lam_colors(result.lambdas)
    for r in result.surface_2d.runs:
        solid = _line(ax, f"λ = {r.momentum:g}: escapes at step {r.offset.first_escape_step}")
        np.testing.assert_array_equal(np.column_stack([solid.get_xdata(), solid.get_ydata()]), xs(r.offset))
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--" and _color(ln)[:3] == _color(solid)[:3]]
        np.testing.assert_array_equal(dashed[0].get_ydata(), xs(r.noisy[0])[:, 1])
        assert _color(solid) == to_rgba(colors[r.momentum])
    plt.close(fig)


def test_escape_frame_holds_each_case_lambda_and_batch_size(result):
    fs = result.finite_sum
    frame = pc.escape_frame(result)
    assert len(frame) == len(fs.cells)
    titles = list(dict.fromkeys(frame[pc.CASE]))
    assert [t.split(" (")[0] for t in titles] == [pc.CASE_TITLES[fc.case] for fc in fs.cases]  # finite_sum.cases order
    for fc, title in zip(fs.cases, titles):
        assert f"{fc.steps} steps, η = {fc.lr:g}" in title
    at = frame.set_index([pc.CASE, "momentum", "batch_size"])
    for c in fs.cells:
        title = next(t for t in titles if t.startswith(pc.CASE_TITLES[c.case]))
        assert at.loc[(title, c.momentum, c.batch_size), pc.FRACTION] == c.escape_fraction
        step = at.loc[(title, c.momentum, c.batch_size), pc.STEP]
        assert np.isnan(step) if c.median_escape_step is None else step == c.median_escape_step
    fig = pc.plot_escape_fraction(result)
    colors = {to_rgba(c)[:3] for c in lam_colors(result.lambdas).values()}
    assert {to_rgba(line.get_color())[:3] for ax in fig.axes for line in ax.get_lines()} == colors
    plt.close(fig)


def test_escape_fraction_against_temperature_draws_every_cell(result):
    for case in ("minimum", "saddle"):
        cells = records.cells_frame(c for c in result.finite_sum.cells if c.case == case)
        frame = pt.vs_temperature_frame(cells, "escape_fraction")
        np.testing.assert_allclose(
            sorted(zip(frame.x, frame.y)), sorted(zip(cells.temperature, cells.escape_fraction)), rtol=1e-12
        )
        fig = pt.plot_vs_temperature(
            cells, "escape_fraction", "escape fraction", stats=collapse_stats(cells, y="escape_fraction")
        )
        assert collapse_stats(cells, y="escape_fraction")["interpretation"] in fig.axes[0].get_title()
        plt.close(fig)


# ------------------------------------------------------------------ one wording: the lecture rows and the section
def test_lecture_rows_and_section_say_the_same_sentences(result):
    from batch_momentum.analysis.momentum import escape_by_batch, findings, momentum_rows
    from batch_momentum.report.sections.momentum import momentum_section

    section = momentum_section(json.loads(json.dumps(dataclasses.asdict(result))))  # page.py passes the parsed JSON
    for f in section["figures"]:
        plt.close(f["fig"])
    text = findings(result).text()
    assert section["text"] == text
    rows = momentum_rows(result)
    assert [r["verdict"] for r in rows] == ["holds"] * 4
    for r in rows:
        assert r["evidence"] and r["evidence"] in text, r["aspect"]
    by_b = escape_by_batch(result)
    fs = result.finite_sum
    assert by_b[1] == np.mean([c.escape_fraction for c in fs.cells if c.batch_size == 1]) and by_b[fs.n] == 0.0
    assert f"B=1: {by_b[1]:.0%}" in findings(result).by_batch
