"""The verdicts' numbers for DVC: reports/lecture.json flattened to reports/verdicts.json."""

import json

import pytest

from batch_momentum.analysis import metrics
from batch_momentum.io import files


def side(n, mean=0.5):
    return dict(n=n, mean=mean, std=0.01, lo=mean - 0.02, hi=mean + 0.02)


def lecture():
    """A lecture.json as analyze writes it: a timing row (no per-λ comparison), a difference row over two
    λ (one with too few seeds for an interval: null ends), a ratio row and a row this module has no
    short name for."""
    return {
        "verdicts": ["holds", "partly holds", "does not hold", "no difference", "inconclusive", "not measured"],
        "rows": [
            dict(aspect="Time for one epoch", verdict="holds", scope=""),
            dict(
                aspect="Generalization",
                verdict="partly holds",
                scope="(λ=0: holds, λ=0.9: inconclusive)",
                per_lambda=[
                    dict(
                        momentum=0.0,
                        small=side(3),
                        large=side(3),
                        difference=dict(diff=-0.03, lo=-0.05, hi=-0.01),
                        verdict="holds",
                        failed={"small": {}, "large": {}},
                    ),
                    dict(
                        momentum=0.9,
                        small=side(1),
                        large=side(3),
                        difference=dict(diff=-0.02, lo=None, hi=None),
                        verdict="inconclusive",
                    ),
                ],
            ),
            dict(
                aspect="Sharp vs flat minima",
                verdict="does not hold",
                per_lambda=[
                    dict(
                        momentum=0.5,
                        small=side(2),
                        large=side(2),
                        ratio=dict(ratio=0.5, lo=0.25, hi=0.8),
                        verdict="does not hold",
                        measures={"top Hessian eigenvalue": "does not hold"},
                    )
                ],
            ),
            dict(aspect="A new claim (λ > 0)!", verdict="no difference"),
        ],
    }


def test_every_row_and_lambda_flattened_to_numbers_with_intervals_and_verdicts():
    m = metrics.flatten(lecture())
    assert m == {
        "epoch_time/verdict": "holds",
        "epoch_time/verdict_score": 1.0,
        "generalization/verdict": "partly holds",
        "generalization/verdict_score": 0.5,
        "generalization/lam0/diff": -0.03,
        "generalization/lam0/diff_lo": -0.05,
        "generalization/lam0/diff_hi": -0.01,
        "generalization/lam0/n_small": 3,
        "generalization/lam0/n_large": 3,
        "generalization/lam0/verdict": "holds",
        "generalization/lam0/verdict_score": 1.0,
        "generalization/lam0.9/diff": -0.02,
        "generalization/lam0.9/diff_lo": None,
        "generalization/lam0.9/diff_hi": None,
        "generalization/lam0.9/n_small": 1,
        "generalization/lam0.9/n_large": 3,
        "generalization/lam0.9/verdict": "inconclusive",
        "generalization/lam0.9/verdict_score": None,
        "sharpness/verdict": "does not hold",
        "sharpness/verdict_score": -1.0,
        "sharpness/lam0.5/ratio": 0.5,
        "sharpness/lam0.5/ratio_lo": 0.25,
        "sharpness/lam0.5/ratio_hi": 0.8,
        "sharpness/lam0.5/n_small": 2,
        "sharpness/lam0.5/n_large": 2,
        "sharpness/lam0.5/verdict": "does not hold",
        "sharpness/lam0.5/verdict_score": -1.0,
        "a_new_claim_0/verdict": "no difference",  # a row without a short name: its aspect as a slug
        "a_new_claim_0/verdict_score": 0.0,
    }


def test_the_file_is_strict_json_of_scalars(tmp_path):
    path = files.write_json(tmp_path / "verdicts.json", metrics.flatten(lecture()))
    back = json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in verdicts.json"))
    assert all(v is None or isinstance(v, (int, float, str)) for v in back.values())  # DVC reads scalars only
    assert back["sharpness/lam0.5/ratio_hi"] == 0.8


def test_every_verdict_but_the_undecided_has_a_score_ordered_from_holds_to_does_not_hold():
    from batch_momentum.analysis.verdicts import VERDICTS, Verdict

    assert set(metrics.SCORES) | {Verdict.INCONCLUSIVE.value, Verdict.NOT_MEASURED.value} == {v.value for v in VERDICTS}
    order = ["holds", "partly holds", "no difference", "does not hold"]
    assert sorted(order, key=metrics.SCORES.get, reverse=True) == order


def test_lambda_names_follow_the_cells_names():
    assert [metrics.lam_name(x) for x in (0, 0.0, 0.9, 0.99, 0.5)] == ["lam0", "lam0", "lam0.9", "lam0.99", "lam0.5"]


def test_two_rows_with_one_name_or_a_nameless_row_are_errors():
    doc = lecture()
    doc["rows"].append(dict(aspect="Generalization", verdict="holds"))
    with pytest.raises(ValueError, match="two lecture rows are both named 'generalization'"):
        metrics.flatten(doc)
    with pytest.raises(ValueError, match="no letters or digits"):
        metrics.row_name("λ → ∞")


def test_the_power_behind_a_verdict_is_in_the_metrics():
    per = dict(
        momentum=0.5,
        difference={"diff": -0.02, "lo": -0.05, "hi": 0.01},
        small={"n": 8},
        large={"n": 8},
        detectable=0.012,
        correlation=0.4,
        seeds_needed=14,
        verdict="inconclusive",
    )
    out = metrics.flatten({"rows": [{"aspect": "Generalization", "verdict": "inconclusive", "per_lambda": [per]}]})
    assert out["generalization/lam0.5/detectable"] == 0.012 and out["generalization/lam0.5/seeds_needed"] == 14
    assert out["generalization/lam0.5/correlation"] == 0.4 and out["generalization/lam0.5/verdict_score"] is None
