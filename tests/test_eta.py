"""The η view (analysis.eta, report.plots.eta) on made-up candidates whose answers are known: means and
Student-t intervals per η, the η most seeds kept, the edge of the sweep, and the gap at the kept η and at
its neighbours (robust or depends on η)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as t_dist

from batch_momentum.analysis import eta, metrics
from batch_momentum.analysis.rows.generalization import generalization_row
from batch_momentum.io import tables as T
from batch_momentum.report.plots import eta as eta_plots
from conftest import tiny_with

SEEDS = (1, 2, 3, 4)
JITTER = (-0.01, -0.005, 0.005, 0.01)  # mean 0, sample sd √(2.5e-4/3)


def candidates(test, val=None, reached=None, lam=0.5, sizes=(8, 512), kept=None):
    """Made-up candidates: test[b][lr] the test accuracy of every seed (plus JITTER); val likewise (default:
    test); reached[b][lr] how many seeds reached the target (default: all); kept[b] the η every seed kept
    (default: the best validation accuracy)."""
    val = test if val is None else val
    rows = []
    for b in sizes:
        best = kept[b] if kept else max(val[b], key=val[b].get)
        for lr, acc in test[b].items():
            n_hit = (reached or {}).get(b, {}).get(lr, len(SEEDS))
            for k, (seed, j) in enumerate(zip(SEEDS, JITTER)):
                rows.append(
                    {
                        T.CELL: f"bs{b}_lam{lam}",
                        T.BATCH_SIZE: b,
                        T.MOMENTUM: lam,
                        T.LR: lr,
                        T.SEED: seed,
                        T.STATUS: "ok",
                        T.REACHED_TARGET: k < n_hit,
                        T.VAL_ACC: val[b][lr] + j,
                        T.TEST_ACC: acc + j,
                        T.HESSIAN_TOP: 2 * (1 + lam) / lr * 0.9,
                        T.CHOSEN: lr == best,
                    }
                )
    return pd.DataFrame(rows)


def test_eta_frame_gives_the_mean_and_the_student_t_interval_per_eta():
    c = candidates({8: {0.05: 0.70, 0.1: 0.72}, 512: {1.0: 0.69, 2.0: 0.71}})
    view = eta.eta_frame(c)
    assert len(view) == 4
    r = view[(view[T.BATCH_SIZE] == 8) & (view[T.LR] == 0.1)].iloc[0]
    half = t_dist.ppf(0.975, 3) * math.sqrt(2.5e-4 / 3) / 2  # t_{.975,3} · s/√4
    assert r[T.TEST_ACC] == pytest.approx(0.72) and r[f"{T.TEST_ACC}_hi"] - r[T.TEST_ACC] == pytest.approx(half)
    assert r["step"] == pytest.approx(0.2) and r["kept"] == 4 and not r["short"]
    assert r[T.STABILITY_THRESHOLD] == pytest.approx(2 * 1.5 / 0.1)
    assert r[T.HESSIAN_TOP] == pytest.approx(0.9 * 2 * 1.5 / 0.1)


def test_a_side_short_of_the_target_is_averaged_over_its_seeds_at_the_target_and_marked_short():
    c = candidates({8: {0.05: 0.70, 0.1: 0.72}, 512: {1.0: 0.69, 2.0: 0.71}}, reached={512: {2.0: 2}})
    r = eta.eta_frame(c).set_index([T.BATCH_SIZE, T.LR]).loc[(512, 2.0)]
    assert r["short"] and r["at_target"] == 2 and r[T.TEST_ACC] == pytest.approx(0.71 - 0.0075)  # seeds 1 and 2


@pytest.mark.parametrize(
    "val,reached,bracket,text",
    [
        ({0.5: 0.6, 1.0: 0.7, 2.0: 0.65}, {}, T.INTERIOR, "interior"),
        ({0.5: 0.6, 1.0: 0.65, 2.0: 0.7}, {}, T.NOT_BRACKETED, "best η 2 is the largest step tried, cap reached"),
        ({0.5: 0.6, 1.0: 0.7, 2.0: 0.9}, {2.0: 1}, T.BOUNDED_BY_FAILURE, "bounded by failure at η = 2"),  # 1 of 4
        ({0.5: 0.8, 1.0: 0.7, 2.0: 0.6}, {}, T.NOT_BRACKETED, "best η 0.5 is the smallest step tried"),
        ({0.5: 0.8, 1.0: 0.7, 2.0: 0.6}, {0.5: 0, 1.0: 0, 2.0: 1}, T.NO_ETA_TRAINS, "no η trains"),
    ],
)
def test_each_sides_best_eta_is_bracketed_from_the_candidates(val, reached, bracket, text):
    c = candidates({8: val, 512: val}, reached={8: reached})
    b = eta.brackets_of(c)
    small = eta.side_bracket(b, 0.5, 8)
    assert small[T.BRACKET] == bracket and eta.side_bracket(b, 0.5, 99) is None
    view = eta.eta_frame(c)
    s = eta.side_summary(view[view[T.BATCH_SIZE] == 8], small)
    assert s["bracket"] == bracket and text in s["bracket_text"]


def test_a_side_not_bracketed_makes_the_generalization_row_inconclusive_and_only_it_is_flagged():
    """The cap reached with the large batch's best η at the top of its steps (0.71 at 4.0, rising): at that λ
    the verdict is inconclusive with the reason, though the interval alone says "holds"; the small side
    (interior) is not flagged, and its status is in the details."""
    small, large = {0.05: 0.80, 0.1: 0.82, 0.2: 0.80}, {1.0: 0.69, 2.0: 0.70, 4.0: 0.71}
    frames = []
    for lam in (0.0, 0.5):
        top = large if lam == 0.5 else {1.0: 0.69, 2.0: 0.71, 4.0: 0.70}  # interior at λ = 0
        frames.append(candidates({8: small, 512: top}, lam=lam))
    c = pd.concat(frames, ignore_index=True)
    equal = c[c[T.CHOSEN]].assign(**{T.RUN_KEY[0]: lambda f: f[T.CELL] + "/seed" + f[T.SEED].astype(str)})
    p = tiny_with(equal_acc={"batch_size": [8, 512]}, data={"n_train": 1000}, grid={"momentum": [0, 0.5]})
    row = generalization_row(equal, c, p)
    by = {e["momentum"]: e for e in row["per_lambda"]}
    assert by[0.0]["verdict"] == "holds" and (by[0.0]["bracket_small"], by[0.0]["bracket_large"]) == ("interior",) * 2
    assert by[0.5]["verdict"] == "inconclusive" and by[0.5]["bracket_large"] == T.NOT_BRACKETED
    assert by[0.5]["reason"] == "η not bracketed: B=512's best η 4 is the largest step tried, cap reached"
    assert row["flags"] == ["η not bracketed for B=512 at λ = 0.5"]
    assert "B=8 kept η = 0.1 by 4 of 4 seeds, best η interior" in row["evidence"]
    flat = metrics.flatten({"rows": [row]})
    assert flat["generalization/lam0.5/bracket_large"] == T.NOT_BRACKETED
    assert flat["generalization/lam0/bracket_small"] == T.INTERIOR


def test_the_gap_at_the_kept_eta_and_its_neighbours_robust_or_depends_on_eta():
    small = {0.05: 0.80, 0.1: 0.82, 0.2: 0.80}
    # at its kept η 2.0 the large batch is 4 points worse; at 1.0 as good as the small batch
    large = {1.0: 0.82, 2.0: 0.78, 4.0: 0.77}
    c = candidates({8: small, 512: large}, val={8: small, 512: {1.0: 0.7, 2.0: 0.8, 4.0: 0.6}})
    g = eta.neighbour_gaps(c, 0.5, (8, 512), "smaller", 0.01)
    assert (g["small"]["kept"], g["large"]["kept"]) == (0.1, 2.0)
    assert g["kept"]["diff"] == pytest.approx(-0.04) and g["kept"]["verdict"] == "holds" and g["kept"]["n"] == 4
    by = {(n["lr_small"], n["lr_large"]): n for n in g["neighbours"]}
    assert set(by) == {(0.05, 2.0), (0.2, 2.0), (0.1, 1.0), (0.1, 4.0)}
    assert by[(0.1, 1.0)]["diff"] == pytest.approx(0.0) and by[(0.1, 1.0)]["verdict"] == "no difference"
    assert g["robust"] == eta.DEPENDS
    text = eta.describe(g, (8, 512), "{:.1%}".format)
    assert "B=8 kept η = 0.1 by 4 of 4 seeds" in text and "depends on η" in text
    # the same verdict at every neighbour: robust
    large_far = {1.0: 0.74, 2.0: 0.78, 4.0: 0.77}
    c = candidates({8: small, 512: large_far}, val={8: small, 512: {1.0: 0.7, 2.0: 0.8, 4.0: 0.6}})
    assert eta.neighbour_gaps(c, 0.5, (8, 512), "smaller", 0.01)["robust"] == eta.ROBUST


def test_a_gap_without_two_paired_seeds_is_not_measured_and_does_not_decide_robustness():
    small, large = {0.1: 0.82, 0.2: 0.80}, {2.0: 0.78, 4.0: 0.70}
    c = candidates({8: small, 512: large}, reached={512: {4.0: 1}})
    g = eta.neighbour_gaps(c, 0.5, (8, 512), "smaller", 0.01)
    by = {(n["lr_small"], n["lr_large"]): n for n in g["neighbours"]}
    assert by[(0.1, 4.0)]["verdict"] == "not measured" and by[(0.1, 4.0)]["n"] == 1
    assert g["robust"] == eta.ROBUST  # the one measured neighbour (0.2, 2.0) holds as the kept pair


def test_the_figure_rings_the_eta_most_seeds_kept_and_draws_every_lambda():
    c = pd.concat(
        [candidates({8: {0.05: 0.70, 0.1: 0.72}, 512: {1.0: 0.69, 2.0: 0.71}}, lam=lam) for lam in (0.0, 0.9)]
    )
    view = eta.eta_frame(c)
    kept = eta_plots.kept_rows(view)
    assert sorted(zip(kept[T.MOMENTUM], kept[T.BATCH_SIZE], kept[T.LR])) == [
        (0.0, 8, 0.1),
        (0.0, 512, 2.0),
        (0.9, 8, 0.1),
        (0.9, 512, 2.0),
    ]
    fig = eta_plots.plot_eta_view(view)
    axes = fig.get_axes()
    assert len(axes) == 4 and [a.get_title() for a in axes[:2]] == ["λ = 0", "λ = 0.9"]
    threshold = [line for line in axes[2].get_lines() if line.get_label() == "2(1+λ)/η"][0]
    x, y = threshold.get_data()
    assert np.allclose(np.asarray(y) * np.asarray(x), 2.0)  # 2(1 + 0)/η at λ = 0


def test_the_figure_draws_every_step_marks_extensions_and_tells_a_failure_bound_from_an_interior_one():
    # B=8 interior at 0.1 (0.05 and 0.2 train, lower); B=512 best 2.0, its upper neighbour 4.0 fails (1 of 4)
    c = candidates(
        {8: {0.05: 0.70, 0.1: 0.72, 0.2: 0.71}, 512: {1.0: 0.69, 2.0: 0.71, 4.0: 0.75}}, reached={512: {4.0: 1}}
    )
    c[T.SWEEP_ROUND] = np.where((c[T.BATCH_SIZE] == 512) & (c[T.LR] == 4.0), 1, 0)
    view = eta.eta_frame(c)
    assert view.set_index([T.BATCH_SIZE, T.LR])["extension"].to_dict() == {
        (8, 0.05): False,
        (8, 0.1): False,
        (8, 0.2): False,
        (512, 1.0): False,
        (512, 2.0): False,
        (512, 4.0): True,
    }
    marks = eta_plots.bracket_marks(view, eta.brackets_of(c))
    got = {
        (m[T.BATCH_SIZE], m["direction"]): (m[T.BEST_LR], m["bound_lr"], m["bound"]) for m in marks.to_dict("records")
    }
    assert got == {
        (8, "lower"): (0.1, 0.05, "trained"),
        (8, "upper"): (0.1, 0.2, "trained"),
        (512, "lower"): (2.0, 1.0, "trained"),
        (512, "upper"): (2.0, 4.0, "failed"),
    }
    assert marks[marks[T.BATCH_SIZE] == 512][T.VAL_ACC].tolist() == pytest.approx([0.71, 0.71])  # at the best's
    fig = eta_plots.plot_eta_view(view, eta.brackets_of(c))
    red = [line for line in fig.get_axes()[0].get_lines() if line.get_color() == "red"]
    assert len(red) == 1 and red[0].get_linestyle() == "--" and list(red[0].get_xdata()) == [2.0, 4.0]
