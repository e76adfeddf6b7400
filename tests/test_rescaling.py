"""The rescaling check (measures.rescaling; Dinh et al. 2017) on a small MLP trained in the test, in float64:
layer 1 × α and layer 2 × 1/α keep the function; the adaptive sharpness stays, the Hessian and Keskar's
ε-sharpness change by the amounts the reparametrization θ' = Dθ gives in closed form."""

import math

import numpy as np
import pytest
import torch

from batch_momentum.io import tables as T
from batch_momentum.measures import rescaling
from batch_momentum.measures import sharpness as S
from batch_momentum.measures.hessian import flat_params, loss_function, top_eigenvalue_fn
from batch_momentum.training import models

ALPHA, SEED = 10.0, 3


@pytest.fixture(scope="module")
def trained():
    """A 10-16-16-3 ReLU MLP after 150 full-batch SGD steps on 200 random points (float64), and the data."""
    torch.manual_seed(0)
    x = torch.randn(200, 10, dtype=torch.float64)
    y = torch.randint(0, 3, (200,))
    model = models.make_model("mlp", (10,), 3, hidden=[16, 16]).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval(), x, y


def _d(model) -> torch.Tensor:
    """The diagonal of D in θ' = Dθ: the rescaling applied to a model whose every weight is 1."""
    ones = rescaling.rescale(model, 1.0)
    with torch.no_grad():
        for q in ones.parameters():
            q.fill_(1.0)
    return flat_params(rescaling.rescale(ones, ALPHA))


def _stacked(f):
    return lambda th: torch.stack([f(row) for row in th])


def test_the_rescaled_network_computes_the_same_function(trained):
    model, x, y = trained
    scaled = rescaling.rescale(model, ALPHA)
    assert torch.allclose(scaled(x), model(x), rtol=1e-12, atol=1e-12)
    d = _d(model)
    assert sorted(set(d.tolist())) == [0.1, 1.0, 10.0]  # layer 2's weights, the rest, layer 1
    assert torch.allclose(flat_params(scaled), d * flat_params(model), rtol=1e-15, atol=0)
    assert not torch.equal(flat_params(scaled), flat_params(model))  # the model itself is not touched


def test_adaptive_sharpness_is_unchanged_by_the_rescaling(trained):
    model, x, y = trained
    f, theta = loss_function(model, x, y)
    g, theta2 = loss_function(rescaling.rescale(model, ALPHA), x, y)
    before = S.adaptive_sharpness(_stacked(f), theta[None], 0.005, [SEED])[0]
    after = S.adaptive_sharpness(_stacked(g), theta2[None], 0.005, [SEED])[0]
    assert before["sharpness"] > 0
    assert after["sharpness"] == pytest.approx(before["sharpness"], rel=1e-6)


def test_the_top_eigenvalue_after_is_that_of_d_inverse_h_d_inverse(trained):
    """H' = D⁻¹HD⁻¹ (f'(θ') = f(D⁻¹θ')): the power iteration on the rescaled net finds the largest-magnitude
    eigenvalue of D⁻¹HD⁻¹, H the dense Hessian of the original; far from the eigenvalue before."""
    model, x, y = trained
    f, theta = loss_function(model, x, y)
    h = torch.autograd.functional.hessian(f, theta, vectorize=True)  # (n, n), n = 499
    dinv = 1.0 / _d(model)
    eig = torch.linalg.eigvalsh(dinv[:, None] * h * dinv[None, :])
    expected = float(eig[eig.abs().argmax()])
    g, theta2 = loss_function(rescaling.rescale(model, ALPHA), x, y)
    after = top_eigenvalue_fn(g, theta2, tol=1e-8, max_iter=1000, seed=SEED)
    before = top_eigenvalue_fn(f, theta, tol=1e-8, max_iter=1000, seed=SEED)
    assert after["value"] == pytest.approx(expected, rel=1e-4)
    eig0 = torch.linalg.eigvalsh(h)
    assert before["value"] == pytest.approx(float(eig0[eig0.abs().argmax()]), rel=1e-4)
    assert abs(after["value"] / before["value"] - 1) > 0.5  # not invariant


def test_keskar_sharpness_after_is_the_original_net_over_the_mapped_box(trained):
    """Keskar's box ε(|θ'|+1) around θ' = Dθ is, in the original coordinates, the box D⁻¹ε(|Dθ|+1): the
    same sign ascent on the original net over that box gives the same number; the original box another."""
    model, x, y = trained
    eps = 1e-3
    f, theta = loss_function(model, x, y)
    g, theta2 = loss_function(rescaling.rescale(model, ALPHA), x, y)
    d = _d(model)
    after = S.epsilon_sharpness_sign_ascent(_stacked(g), theta2[None], eps, [SEED])[0]
    before = S.epsilon_sharpness_sign_ascent(_stacked(f), theta[None], eps, [SEED])[0]
    mapped = S.box_maximum_sign_ascent(_stacked(f), theta[None], lambda th: eps * ((d * th).abs() + 1.0) / d, [SEED])[0]
    phi_mapped = (mapped["fmax"] - mapped["f0"]) / (1 + mapped["f0"]) * 100
    assert after["phi"] == pytest.approx(phi_mapped, rel=1e-6)
    assert abs(after["phi"] / before["phi"] - 1) > 0.05  # it changed, by far more than the rounding


def test_check_run_rows_and_skips(trained):
    """rows(): one row per measure with after/before; a zero before gives ratio NaN; skipped(): one row
    saying why; a linear model and a CNN cannot be rescaled, and say so."""
    out = rescaling.rows("bs8_lam0/seed1", {"a": 2.0, "b": 0.0}, {"a": 3.0, "b": 1.0}, [("a", "A"), ("b", "B")])
    assert [list(r) for r in out] == [list(T.RESCALING_ROW)] * 2
    assert (out[0][T.MEASURE], out[0][T.BEFORE], out[0][T.AFTER], out[0][T.RATIO]) == ("A", 2.0, 3.0, 1.5)
    assert math.isnan(out[1][T.RATIO]) and out[0][T.ALPHA_SCALE] == ALPHA
    (row,) = rescaling.skipped("c/seed1", "why")
    assert row[T.MEASURE] == "skipped: why" and np.isnan(row[T.BEFORE])
    linear = models.make_model("linear", (10,), 3, hidden=[])
    cnn = models.make_model("cnn", (40,), 3, hidden=[4], head=[8])
    assert "linear" in rescaling.why_not(linear) and "CNN" in rescaling.why_not(cnn)
    assert rescaling.why_not(trained[0]) is None
    with pytest.raises(ValueError, match="cannot rescale a CNN"):
        rescaling.rescale(cnn)


def test_check_run_on_a_trained_run_of_the_pipeline():
    """check_run on a tiny run trained by the real loop (float32, the pipeline's path): one row per measure of
    compare.sharpness_measures, the adaptive sharpness' ratio 1 to float32 rounding, the top eigenvalue's far
    from 1; a run that did not train gives one skipped row."""
    from batch_momentum.analysis.compare import sharpness_measures
    from batch_momentum.data import prepared
    from batch_momentum.measures import evaluation
    from batch_momentum.training import loop, stacked
    from conftest import tiny_with

    p = tiny_with(train=dict(max_epochs=6, lr=0.1))
    blob = prepared.prepare(p.data)
    (result,) = loop.train_cell(p, blob, 8, 0.5, [1], torch.device("cpu"), log=lambda s: None)
    model = models.build(p, blob["meta"])
    model.load_state_dict(result["state"])
    sh = p.sharpness
    xs, ys = blob["x_train"][: sh.subset], blob["y_train"][: sh.subset]
    net = stacked.StackedNet([model], blob["meta"]["input_shape"])
    (before,) = evaluation.sharpness_measures_stacked(net, xs, ys, sh, [1], evaluation._Clock("c", 1, print))
    metrics = {T.CELL: "bs8_lam0.5/seed1", T.STATUS: "ok", T.TRAIN_LOSS: 1.0, T.SEED: 1, **before}
    measures = [(m.column, m.label) for m in sharpness_measures(p)]
    out = rescaling.check_run(model, metrics, p, blob, torch.device("cpu"), measures, log=lambda s: None)
    by = {r[T.MEASURE]: r[T.RATIO] for r in out}
    assert list(by) == [label for _, label in measures]
    assert by[f"adaptive sharpness ρ={sh.adaptive_rho:g}"] == pytest.approx(1.0, abs=1e-3)
    assert abs(by["top Hessian eigenvalue"] - 1) > 0.5
    (row,) = rescaling.check_run(model, {**metrics, T.STATUS: "diverged"}, p, blob, "cpu", measures)
    assert row[T.MEASURE].startswith("skipped: the run did not train")


def test_the_page_shows_one_checked_run_or_says_why_none():
    """report.sections.sharpness.rescaling_html: the first checked run's rows (before, after, ratio) with the
    sentence naming the run and α; only skipped rows: their reason; no table: says so."""
    import pandas as pd

    from batch_momentum.report.sections.sharpness import rescaling_html

    skip = rescaling.skipped("bs8_lam0/seed1", "the run did not train (status diverged)")
    done = rescaling.rows(
        "bs8_lam0.5/seed1", {"a": 2.0, "b": 4.0}, {"a": 2.0, "b": 400.0}, [("a", "adaptive"), ("b", "top")]
    )
    other = rescaling.rows("bs512_lam0.5/seed1", {"a": 1.0}, {"a": 1.0}, [("a", "adaptive")])
    html = str(rescaling_html(pd.DataFrame(skip + done + other)))
    assert "bs8_lam0.5/seed1" in html and "× 10" in html and "bs512" not in html
    assert html.count("</tr>") == 3 and "adaptive" in html and ">100<" in html  # header + 2 measures; ratio 100
    assert "did not train" in str(rescaling_html(pd.DataFrame(skip)))
    assert "not run" in str(rescaling_html(T.RESCALING.frame([])))
