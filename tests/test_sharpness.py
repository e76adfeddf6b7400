"""Tests of batch_momentum.sharpness (Keskar et al. 2017, Metric 2.1) and its plot."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from batch_momentum.measures import sharpness as S
from batch_momentum.training.models import make_model


def _quadratic(a, c):
    return lambda th: (a * (th - c) ** 2).sum()


def _phi(fmax, f0):
    return (fmax - f0) / (1 + f0) * 100


def test_full_space_separable_quadratic_corner():
    # f(θ) = Σ a_i (θ_i − c_i)²; with b_i = ε(|θ_i|+1) < |θ_i − c_i| the box maximum is the
    # corner y_i = b_i·sign(θ_i − c_i): fmax = Σ a_i (|θ_i − c_i| + b_i)².
    g = torch.Generator().manual_seed(0)
    n, eps = 50, 1e-2
    a = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    c = torch.randn(n, generator=g, dtype=torch.float64)
    theta = c + torch.sign(torch.randn(n, generator=g, dtype=torch.float64)) * (
        0.5 + torch.rand(n, generator=g, dtype=torch.float64)
    )
    b = eps * (theta.abs() + 1)
    assert bool((b < (theta - c).abs()).all())
    f0 = float((a * (theta - c) ** 2).sum())
    fmax = float((a * ((theta - c).abs() + b) ** 2).sum())
    r = S.epsilon_sharpness_fn(_quadratic(a, c), theta, eps, max_iter=10)
    assert r["f0"] == pytest.approx(f0, rel=1e-12)
    assert r["fmax"] == pytest.approx(fmax, rel=1e-9)
    assert r["phi"] == pytest.approx(_phi(fmax, f0), rel=1e-6)
    assert r["space"] == "full" and r["eps"] == eps
    assert 1 <= r["iterations"] <= 10 and r["evaluations"] >= r["iterations"]
    assert set(r) == {"phi", "f0", "fmax", "iterations", "evaluations", "eps", "space"}


def test_full_space_at_the_minimum():
    # θ = c: every corner is a maximum, fmax = Σ a_i b_i², f0 = 0.
    a = torch.tensor([1.0, 2.0, 3.0, 0.5], dtype=torch.float64)
    c = torch.tensor([0.3, -1.0, 2.0, 0.0], dtype=torch.float64)
    eps = 0.1
    b = eps * (c.abs() + 1)
    r = S.epsilon_sharpness_fn(_quadratic(a, c), c.clone(), eps)
    assert r["f0"] == 0.0
    assert r["phi"] == pytest.approx(_phi(float((a * b**2).sum()), 0.0), rel=1e-9)


def test_subspace_with_coordinate_columns():
    # A = three columns of the identity: A⁺θ = θ[sel], the box is the full-space box on
    # those coordinates; the other coordinates stay put.
    a = torch.tensor([1.0, 2.0, 3.0, 0.5, 1.5, 1.0], dtype=torch.float64)
    c = torch.zeros(6, dtype=torch.float64)
    theta = torch.tensor([1.0, -2.0, 0.5, 1.0, -1.0, 3.0], dtype=torch.float64)
    sel = [0, 2, 5]
    A = torch.eye(6, dtype=torch.float64)[:, sel]
    eps = 0.05
    b = eps * (theta.abs() + 1)
    moved = a * ((theta - c).abs() + b) ** 2
    still = a * (theta - c) ** 2
    fmax = float(moved[sel].sum() + still[[1, 3, 4]].sum())
    r = S.epsilon_sharpness_fn(_quadratic(a, c), theta, eps, A=A)
    assert r["space"] == "random3"
    assert r["fmax"] == pytest.approx(fmax, rel=1e-9)
    assert r["phi"] == pytest.approx(_phi(fmax, float(still.sum())), rel=1e-6)


def test_pinv_apply_matches_pinv():
    A = S.random_subspace(300, 7, seed=1, dtype=torch.float64)
    assert A.shape == (300, 7)
    assert torch.equal(A, S.random_subspace(300, 7, seed=1, dtype=torch.float64))
    theta = torch.randn(300, dtype=torch.float64)
    np.testing.assert_allclose(S.pinv_apply(A, theta), (torch.linalg.pinv(A) @ theta).numpy(), rtol=1e-9, atol=1e-12)


def test_model_unchanged_keys_and_seeded():
    torch.manual_seed(0)
    m = make_model("mlp", (40,), 10, (256, 256))
    m.train()
    x, y = torch.randn(100, 40), torch.randint(0, 10, (100,))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    full = S.epsilon_sharpness(m, x, y, 1e-3, max_iter=3)
    sub = S.epsilon_sharpness(m, x, y, 1e-3, max_iter=3, subspace_dim=100, seed=2)
    sub2 = S.epsilon_sharpness(m, x, y, 1e-3, max_iter=3, subspace_dim=100, seed=2)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert m.training and all(p.grad is None for p in m.parameters())
    assert full["space"] == "full" and sub["space"] == "random100"
    assert sub == sub2
    for r in (full, sub):
        assert r["phi"] >= 0 and r["fmax"] >= r["f0"] and np.isfinite(r["phi"])
        assert r["iterations"] <= 3
    with torch.no_grad():
        f0 = float(torch.nn.functional.cross_entropy(m.eval()(x), y))
    assert full["f0"] == pytest.approx(f0, rel=1e-6)


def test_plot_sharpness_vs_batch():
    from matplotlib.figure import Figure

    from batch_momentum.report.plots.sharpness import plot_sharpness_vs_batch

    rows = [
        dict(batch_size=bs, momentum=mu, seed=s, phi=bs * (1 + mu) + s)
        for bs in (16, 64, 256)
        for mu in (0.0, 0.9)
        for s in (0, 1)
    ]
    fig = plot_sharpness_vs_batch(pd.DataFrame(rows), "phi", "ε-sharpness")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [16.5, 64.5, 256.5])
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_errors_and_diverged_point():
    f = _quadratic(torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    theta = torch.ones(4, dtype=torch.float64)
    for eps in (0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="eps"):
            S.epsilon_sharpness_fn(f, theta, eps)
    with pytest.raises(ValueError, match="subspace_dim"):
        S.epsilon_sharpness_fn(f, theta, 1e-3, subspace_dim=5)
    with pytest.raises(ValueError, match=r"\(n, p\)"):
        S.epsilon_sharpness_fn(f, theta, 1e-3, A=torch.ones(3, 2, dtype=torch.float64))
    r = S.epsilon_sharpness_fn(f, torch.full((4,), float("nan"), dtype=torch.float64), 1e-3, subspace_dim=2)
    assert np.isnan(r["phi"]) and r["evaluations"] == 0 and r["space"] == "random2"


def test_plot_sharpness_vs_batch_drops_nonfinite_and_picks_y_scale():
    import matplotlib.pyplot as plt

    from batch_momentum.report.plots.sharpness import plot_sharpness_vs_batch

    rows = [dict(batch_size=bs, momentum=0.9, seed=s, phi=float(bs + s)) for bs in (16, 256) for s in (0, 1)]
    rows.append(dict(batch_size=256, momentum=0.9, seed=2, phi=float("nan")))  # a diverged cell
    fig = plot_sharpness_vs_batch(pd.DataFrame(rows), "phi", "φ")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [16.5, 256.5])
    assert ax.get_yscale() == "log"
    rows[0]["phi"] = -1.0  # a negative trace estimate: linear axis
    fig2 = plot_sharpness_vs_batch(pd.DataFrame(rows), "phi", "trace")
    assert fig2.axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="hessian_top"):
        plot_sharpness_vs_batch(pd.DataFrame(rows), "hessian_top", "λ_max")
    plt.close(fig)
    plt.close(fig2)


# ----------------------------------------------------------------------------- stacked: every seed of a cell at once
def test_stacked_full_space_separable_quadratic_corners():
    """Two rows, each f_s(θ) = Σ a_si (θ_i − c_si)² with its own box: each row reaches its own corner
    fmax = Σ a (|θ − c| + b)², as epsilon_sharpness_fn does for it alone."""
    g = torch.Generator().manual_seed(1)
    k, n, eps = 2, 30, 1e-2
    a = torch.rand(k, n, generator=g, dtype=torch.float64) + 0.5
    c = torch.randn(k, n, generator=g, dtype=torch.float64)
    theta = c + torch.sign(torch.randn(k, n, generator=g, dtype=torch.float64)) * (
        0.5 + torch.rand(k, n, generator=g, dtype=torch.float64)
    )

    def f(th):  # rows of th are rows of theta, in order; a subset is matched by its distance to c
        idx = torch.stack([(c - r.detach()).abs().sum(1).argmin() for r in th])
        return (a[idx] * (th - c[idx]) ** 2).sum(1)

    rs = S.epsilon_sharpness_stacked(f, theta, eps, seeds=[3, 4], max_iter=50)
    for s in range(k):
        b = eps * (theta[s].abs() + 1)
        fmax = float((a[s] * ((theta[s] - c[s]).abs() + b) ** 2).sum())
        f0 = float((a[s] * (theta[s] - c[s]) ** 2).sum())
        assert rs[s]["fmax"] == pytest.approx(fmax, rel=1e-10)
        assert rs[s]["phi"] == pytest.approx(_phi(fmax, f0), rel=1e-9)
        alone = S.epsilon_sharpness_fn(lambda t, s=s: (a[s] * (t - c[s]) ** 2).sum(), theta[s], eps, 50, seed=3 + s)
        assert (rs[s]["iterations"], rs[s]["evaluations"]) == (alone["iterations"], alone["evaluations"])
        assert rs[s]["space"] == "full" and rs[s]["eps"] == eps


@pytest.fixture(scope="module")
def stack64():
    from test_hessian import _trained_stack

    return _trained_stack()


@pytest.mark.parametrize("subspace", [None, 7])
def test_stacked_equals_each_models_own_l_bfgs_b(stack64, subspace):
    """Each seed runs its own L-BFGS-B (start point, box, subspace of its seed), the evaluations of
    all seeds batched: the same iterates as alone (float64: phi to 1e-8, the same counts)."""
    from batch_momentum.measures.hessian import loss_function
    from batch_momentum.training.stacked import flat_stack

    ms, net, x, y, f = stack64
    theta, seeds = flat_stack(net), [5, 6, 7]
    n = theta.shape[1]
    A = None if subspace is None else torch.stack([S.random_subspace(n, subspace, s, theta.dtype) for s in seeds])
    for eps in (1e-3, 5e-2):
        rs = S.epsilon_sharpness_stacked(f, theta, eps, seeds, max_iter=10, A=A)
        for s, (m, r) in enumerate(zip(ms, rs)):
            fs, th = loss_function(m, x, y)
            basis = None if A is None else A[s]
            alone = S.epsilon_sharpness_fn(fs, th, eps, max_iter=10, seed=seeds[s], A=basis)
            assert r["phi"] == pytest.approx(alone["phi"], rel=1e-8, abs=1e-12)
            assert (r["iterations"], r["evaluations"], r["space"]) == (
                alone["iterations"],
                alone["evaluations"],
                alone["space"],
            )
            assert r["phi"] > 0


def test_stacked_reaches_the_per_seed_l_bfgs_b_value_on_trained_float32_weights(stack64):
    """On float32 weights, as the pipeline measures them: each seed's stacked box maximum is at least
    its own L-BFGS-B maximum alone (to float32 rounding of the loss, 1e-6 relative)."""
    from batch_momentum.measures.hessian import loss_function
    from batch_momentum.training.stacked import StackedNet, flat_stack, stacked_loss_function

    ms, _, x, y, _ = stack64
    ms, x = [copy.deepcopy(m).float() for m in ms], x.float()  # float32 copies
    net = StackedNet(ms, (x.shape[1],))
    f, theta, seeds = stacked_loss_function(net, x, y), flat_stack(net), [1, 2, 3]
    for eps in (1e-3, 5e-4):
        rs = S.epsilon_sharpness_stacked(f, theta, eps, seeds, max_iter=10)
        for s, (m, r) in enumerate(zip(ms, rs)):
            fs, th = loss_function(m, x, y)
            alone = S.epsilon_sharpness_fn(fs, th, eps, max_iter=10, seed=seeds[s])
            assert r["fmax"] >= alone["fmax"] * (1 - 1e-6)
            assert r["phi"] == pytest.approx(alone["phi"], rel=1e-3)


def test_stacked_skips_a_diverged_row_and_checks_its_arguments(stack64):
    from batch_momentum.training.stacked import flat_stack

    _, net, _, _, f = stack64
    theta = flat_stack(net)
    bad = theta.clone()
    bad[0, :10] = float("nan")
    clean, spoiled = (S.epsilon_sharpness_stacked(f, t, 1e-3, [1, 2, 3], max_iter=5) for t in (theta, bad))
    assert np.isnan(spoiled[0]["phi"]) and spoiled[0]["evaluations"] == 0
    assert spoiled[1:] == clean[1:]
    with pytest.raises(ValueError, match="seeds for 3"):
        S.epsilon_sharpness_stacked(f, theta, 1e-3, [1, 2])
    with pytest.raises(ValueError, match="must be \\(k, n, p\\)"):
        S.epsilon_sharpness_stacked(f, theta, 1e-3, [1, 2, 3], A=torch.zeros(3, 5, 2, dtype=theta.dtype))


def test_sign_ascent_reaches_the_corner_of_a_separable_quadratic():
    """f_s(θ) = Σ a (θ − c)² with the box inside |θ − c|: the first step lands on the corner
    sign(θ − c)·b, which is the box maximum, and the later steps stay there: fmax in closed form."""
    g = torch.Generator().manual_seed(2)
    k, n, eps = 3, 40, 1e-2
    a = torch.rand(k, n, generator=g, dtype=torch.float64) + 0.5
    c = torch.randn(k, n, generator=g, dtype=torch.float64)
    theta = c + torch.sign(torch.randn(k, n, generator=g, dtype=torch.float64)) * (
        0.5 + torch.rand(k, n, generator=g, dtype=torch.float64)
    )

    def f(th):  # the rows still searching are passed in order; match each to its c
        idx = torch.stack([(c - r.detach()).abs().sum(1).argmin() for r in th])
        return (a[idx] * (th - c[idx]) ** 2).sum(1)

    rs = S.epsilon_sharpness_sign_ascent(f, theta, eps, seeds=[1, 2, 3])
    for s in range(k):
        b = eps * (theta[s].abs() + 1)
        fmax = float((a[s] * ((theta[s] - c[s]).abs() + b) ** 2).sum())
        f0 = float((a[s] * (theta[s] - c[s]) ** 2).sum())
        assert rs[s]["fmax"] == pytest.approx(fmax, rel=1e-12)
        assert rs[s]["phi"] == pytest.approx(_phi(fmax, f0), rel=1e-10)
        assert (rs[s]["iterations"], rs[s]["evaluations"], rs[s]["space"]) == (20, 21, "full")
    bad = theta.clone()
    bad[1] = float("nan")
    spoiled = S.epsilon_sharpness_sign_ascent(f, bad, eps, seeds=[1, 2, 3])
    assert np.isnan(spoiled[1]["phi"]) and spoiled[1]["evaluations"] == 0
    assert spoiled[0]["fmax"] == rs[0]["fmax"] and spoiled[2]["fmax"] == rs[2]["fmax"]


def test_sign_ascent_reaches_at_least_l_bfgs_b_on_trained_weights():
    """On models trained by the real loop (float32, as the pipeline measures them; the default grid's
    40-256-256-10 mlp on the tiny data; test_evaluation checks the tiny grid's mlp through
    evaluate_runs), for every seed and both of params' ε: the full-space box
    maximum of the sign ascent is at least each seed's own L-BFGS-B maximum (epsilon_sharpness_fn, 10
    iterations). The README reports the same check on the default grid's saved runs."""
    from batch_momentum.data import prepared
    from batch_momentum.measures.hessian import loss_function
    from batch_momentum.training import loop, models
    from batch_momentum.training.stacked import StackedNet, flat_stack, stacked_loss_function
    from conftest import tiny_with

    p = tiny_with(train=dict(max_epochs=8, lr=0.1), model=dict(hidden=[256, 256]))
    blob = prepared.prepare(p.data)
    seeds = [1, 2, 3]
    ms = []
    for r in loop.train_cell(p, blob, 8, 0.5, seeds, torch.device("cpu"), log=lambda s: None):
        ms.append(models.build(p, blob["meta"]))
        ms[-1].load_state_dict(r["state"])
    x, y = blob["x_train"][:100], blob["y_train"][:100]
    net = StackedNet(ms, blob["meta"]["input_shape"])
    f, theta = stacked_loss_function(net, x, y), flat_stack(net)
    for eps in (1e-3, 5e-4):
        rs = S.epsilon_sharpness_sign_ascent(f, theta, eps, seeds)
        for s, (m, r) in enumerate(zip(ms, rs)):
            fs, th = loss_function(m, x, y)
            alone = S.epsilon_sharpness_fn(fs, th, eps, max_iter=10, seed=seeds[s])
            assert r["fmax"] >= alone["fmax"], (eps, s, r["phi"], alone["phi"])
            assert r["phi"] < 1.1 * alone["phi"]  # the same maximum, a little higher: not another measure


def test_adaptive_sharpness_of_a_quadratic_is_its_box_corner():
    """L(w) = ½ Σ c_i w_i², c > 0: over |δ_i| ≤ ρ|w_i| the largest L(w + δ) − L(w) is
    Σ c_i (ρ + ρ²/2) w_i², at the corner δ = ρw (each coordinate pushed away from 0); the sign ascent
    must reach it. A coordinate w_i = 0 has an empty box and stays put. Not normalized (no /(1 + f))."""
    g = torch.Generator().manual_seed(5)
    k, n, rho = 3, 30, 0.005
    c = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    theta = torch.randn(k, n, generator=g, dtype=torch.float64)
    theta[:, 0] = 0.0

    def f(th):
        return 0.5 * (c * th**2).sum(1)

    rs = S.adaptive_sharpness(f, theta, rho, seeds=[4, 5, 6])
    for s in range(k):
        expected = float((c * (rho + rho**2 / 2) * theta[s] ** 2).sum())
        assert rs[s]["sharpness"] == pytest.approx(expected, rel=1e-12)
        assert rs[s]["f0"] == pytest.approx(float(f(theta[s : s + 1])), rel=1e-14)
        assert (rs[s]["iterations"], rs[s]["evaluations"], rs[s]["rho"]) == (20, 21, rho)
    # the Keskar box of the same ascent is larger (ε(|w|+1) > ρ|w| at ε = ρ): a different number
    keskar = S.epsilon_sharpness_sign_ascent(f, theta, rho, seeds=[4, 5, 6])
    assert keskar[0]["fmax"] - keskar[0]["f0"] > 1.5 * rs[0]["sharpness"]
    bad = theta.clone()
    bad[2] = float("nan")
    spoiled = S.adaptive_sharpness(f, bad, rho, seeds=[4, 5, 6])
    assert np.isnan(spoiled[2]["sharpness"]) and spoiled[2]["evaluations"] == 0
    assert spoiled[0]["sharpness"] == rs[0]["sharpness"]
    for rho_bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="adaptive_rho"):
            S.adaptive_sharpness(f, theta, rho_bad, seeds=[4, 5, 6])
    with pytest.raises(ValueError, match="seeds for 3"):
        S.adaptive_sharpness(f, theta, rho, seeds=[4])
