"""The row "Flat minimum → better testing" (analysis.rows.mechanism), its numbers in verdicts.json and its figure's
frame, on made-up candidates tables whose answer is planted."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch_momentum import config
from batch_momentum.analysis import metrics
from batch_momentum.analysis.rows import mechanism
from batch_momentum.io import tables as T

pytestmark = pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")  # seaborn 0.13.2 on pandas 3
PRIMARY = "sharpness_full_eps0.001"  # params.yaml: verdict.sharpness_primary eps_sharpness at sharpness.epsilons[0]
LRS = {8: (0.0125, 0.025, 0.05), 512: (0.5, 1.0, 2.0)}  # the sides' η do not overlap, as on the default


@pytest.fixture(scope="module")
def params():
    p = config.load(Path(__file__).resolve().parents[1] / "params.yaml")
    assert p.verdict.margin_tau == 0.1 and p.equal_acc.batch_size == (8, 512)
    return dataclasses.replace(p, verdict=dataclasses.replace(p.verdict, bootstrap=400))


def candidates(sign=-1.0, lams=(0.0, 0.9), seeds=(1, 2, 3, 4), lrs=LRS, columns=True):
    """One candidate per (λ, B, η, seed), every one at the target: the sharpness grows with B and η (with a
    seed's jitter), test accuracy moves with log sharpness by `sign` (−1: the flatter tests better); the
    top eigenvalue follows the sharpness, the adaptive sharpness runs against it; one more candidate per
    cell short of the target (NaN measures, left out)."""
    rng = np.random.default_rng(0)
    rows = []
    for lam in lams:
        for b, steps in lrs.items():
            for k, lr in enumerate(steps):
                for seed in seeds:
                    sharp = (1 + b / 8) * (1 + k) * np.exp(rng.normal(0, 0.05))
                    acc = 0.8 + sign * 0.02 * np.log(sharp) + rng.normal(0, 0.002)
                    row = {
                        T.CELL: f"bs{b}_lam{lam}",
                        T.BATCH_SIZE: b,
                        T.MOMENTUM: lam,
                        T.LR: lr,
                        T.SEED: seed,
                        T.STATUS: "ok",
                        T.REACHED_TARGET: True,
                        T.TEST_ACC: acc,
                        T.HESSIAN_TOP: 2 * sharp,
                        T.CHOSEN: k == 1,
                    }
                    if columns:
                        row |= {PRIMARY: sharp, T.ADAPTIVE_SHARPNESS: 1 / sharp}
                    rows.append(row)
            short = dict(rows[-1], **{T.REACHED_TARGET: False, T.TEST_ACC: 0.1, T.CHOSEN: False})
            rows.append(short | ({PRIMARY: np.nan, T.ADAPTIVE_SHARPNESS: np.nan} if columns else {}))
    return pd.DataFrame(rows)


def test_flatter_runs_testing_better_hold_at_every_lambda(params):
    row = mechanism.mechanism_row(candidates(-1.0), params)
    assert row["aspect"] == "Flat minimum → better testing" and row["section"] == "mechanism"
    assert row["verdict"] == ("holds", "")
    for p in row["per_lambda"]:
        assert p["tau"] < -0.7 and p["hi"] < -0.1 and p["lo"] <= p["tau"] <= p["hi"]
        assert (p["n_runs"], p["n_seeds"]) == (24, 4)  # the short candidate of each cell is left out
        assert p["others"]["top Hessian eigenvalue"]["tau"] == pytest.approx(p["tau"])  # the same ranking
        adaptive = f"adaptive sharpness ρ={params.sharpness.adaptive_rho:g}"
        assert p["others"][adaptive]["tau"] == pytest.approx(-p["tau"])  # the reversed one
        g = p["granulated"]
        assert [x["batch_size"] for x in g["within_batch"]] == [8, 512]
        assert all(x["tau"] < 0 and x["n_runs"] == 12 for x in g["within_batch"])
        assert g["within_lr"] == [] and np.isnan(g["within_lr_mean"])
        assert g["within_lr_none"] == "none: the η of B=8 (0.0125–0.05) and B=512 (0.5–2) do not overlap"
        assert "do not overlap" in p["note"] and "(24 runs, 4 seeds)" in p["note"]
    assert "do not overlap" in row["evidence"]


def test_flatter_runs_testing_worse_do_not_hold(params):
    row = mechanism.mechanism_row(candidates(+1.0), params)
    assert row["verdict"] == ("does not hold", "")
    assert all(p["lo"] > 0.1 for p in row["per_lambda"])


def test_without_the_measured_columns_the_row_is_not_measured_and_says_how_to_measure(params):
    row = mechanism.mechanism_row(candidates(columns=False), params)
    assert row["verdict"] == ("not measured", "")
    for p in row["per_lambda"]:
        assert p["verdict"] == "not measured" and "tau" not in p
        assert p["reason"] == f"candidates.csv has no {PRIMARY} column: {mechanism.RERUN}"
    # the column present but never measured (every value NaN): not measured, the same remedy
    c = candidates().assign(**{PRIMARY: np.nan})
    assert all(mechanism.RERUN in p["reason"] for p in mechanism.mechanism_row(c, params)["per_lambda"])


def test_one_seed_gives_no_interval_and_no_verdict(params):
    row = mechanism.mechanism_row(candidates(-1.0, lams=(0.0,), seeds=(1,)), params)
    (p,) = row["per_lambda"]
    assert p["verdict"] == "inconclusive" and np.isnan(p["lo"]) and "needs two" in p["reason"]


def test_granulated_tau_within_an_eta_both_batch_sizes_trained(params):
    lrs = {8: (0.05, 0.1), 512: (0.1, 0.2)}  # η = 0.1 trained by both: there, only B varies
    (p,) = mechanism.mechanism_row(candidates(-1.0, lams=(0.0,), lrs=lrs), params)["per_lambda"]
    g = p["granulated"]
    assert [x["lr"] for x in g["within_lr"]] == [0.1] and g["within_lr_none"] == ""
    assert g["within_lr"][0]["n_runs"] == 8 and g["within_lr"][0]["tau"] < 0  # B=512 sharper, tests worse
    assert g["within_lr_mean"] == pytest.approx(g["within_lr"][0]["tau"])


def test_the_row_in_verdicts_json(params):
    row = mechanism.mechanism_row(candidates(-1.0, lams=(0.9,)), params)
    flat = metrics.flatten({"rows": [dict(row, verdict="holds", scope="")]})
    p = row["per_lambda"][0]
    assert flat["mechanism/verdict"] == "holds"
    assert flat["mechanism/lam0.9/tau"] == p["tau"]
    assert (flat["mechanism/lam0.9/tau_lo"], flat["mechanism/lam0.9/tau_hi"]) == (p["lo"], p["hi"])
    assert (flat["mechanism/lam0.9/n_runs"], flat["mechanism/lam0.9/n_seeds"]) == (24, 4)
    assert flat["mechanism/lam0.9/tau_within_batch"] == p["granulated"]["within_batch_mean"]
    assert flat["mechanism/lam0.9/verdict"] == "holds"


# ----------------------------------------------------------------------------- the figure, the section, the page
def test_figure_frame_has_one_point_per_candidate_at_the_target_with_its_kept_flag():
    from batch_momentum.report.plots import mechanism as plots
    from batch_momentum.report.plots.style import PANEL, X, Y

    c = candidates(-1.0)
    frame = plots.mechanism_frame(c, PRIMARY)
    assert len(frame) == 48 == int(c[T.REACHED_TARGET].sum())  # the short candidates are left out
    assert sorted(frame[PANEL].unique()) == ["λ = 0", "λ = 0.9"]
    at = c[c[T.REACHED_TARGET]].reset_index(drop=True)
    assert frame[X].tolist() == at[PRIMARY].tolist() and frame[Y].tolist() == at[T.TEST_ACC].tolist()
    assert frame[plots.KEPT].sum() == 16 and frame[plots.ETA].tolist() == at[T.LR].tolist()
    assert plots.mechanism_frame(candidates(columns=False), PRIMARY).empty  # no column: no point, no crash
    fig = plots.plot_mechanism(frame, "ε-sharpness")
    assert [ax.get_xscale() for ax in fig.axes[:2]] == ["log", "log"]
    assert [len(ax.collections[-1].get_offsets()) for ax in fig.axes[:2]] == [8, 8]  # the rings: the kept runs


def test_section_and_page_show_the_tau_or_say_not_measured(params):
    from batch_momentum.io import files
    from batch_momentum.report import page
    from batch_momentum.report.sections.mechanism import mechanism_section

    for c, measured in ((candidates(-1.0), True), (candidates(columns=False), False)):
        row = files.finite(mechanism.mechanism_row(c, params))  # as lecture.json holds it: NaN as null
        row["verdict"], row["scope"] = row["verdict"]
        section = mechanism_section(params, c, row)
        assert section["id"] == "mechanism"
        assert [f["name"] for f in section["figures"]] == (["mechanism"] if measured else [])
        assert ("holds" if measured else "not measured") in str(section["html"])
        (shown,) = page.lecture_rows([row])
        assert [ch["text"] for ch in shown["chips_small"]][0].startswith("λ=0: τ = -" if measured else "λ=0: not")
        assert shown["headline"] == "Kendall τ, ε-sharpness ε=0.001 vs test accuracy"
        columns = shown["detail"]["columns"]
        assert columns[:2] == ["λ", "Kendall τ [95%]"] and "small" not in columns
        if not measured:
            assert mechanism.RERUN in shown["chips_small"][0]["title"]
    for f in section["figures"]:
        f["fig"].clf()
