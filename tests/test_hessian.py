"""Tests of batch_momentum.hessian: HVP, power iteration, Hutchinson trace."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from batch_momentum.measures import hessian as H
from batch_momentum.training.models import make_model


def _sym(eigs, seed=0):
    """A symmetric matrix (float64) with the given eigenvalues."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.as_tensor(eigs, dtype=torch.float64)) @ q.T


def _quad(Hm):
    return lambda th: 0.5 * th @ Hm @ th


def _small(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    m = make_model("mlp", (6,), 3, hidden=(8, 8)).to(dtype)
    x = torch.randn(32, 6, dtype=dtype)
    y = torch.randint(0, 3, (32,))
    return m, x, y


def test_top_eigenvalue_fn_quadratic():
    eigs = np.r_[np.linspace(-1.0, 2.0, 19), 5.0]
    Hm = _sym(eigs)
    theta = torch.randn(20, dtype=torch.float64)
    r = H.top_eigenvalue_fn(_quad(Hm), theta, tol=1e-8, max_iter=500)
    assert r["converged"] and r["rel_change"] < 1e-8
    assert r["value"] == pytest.approx(5.0, rel=1e-6)
    assert set(r) == {"value", "iterations", "converged", "rel_change"}


def test_top_eigenvalue_fn_largest_magnitude_is_negative():
    Hm = _sym(np.r_[np.linspace(0.0, 1.0, 9), -4.0], seed=1)
    r = H.top_eigenvalue_fn(_quad(Hm), torch.zeros(10, dtype=torch.float64), tol=1e-9, max_iter=500)
    assert r["value"] == pytest.approx(-4.0, rel=1e-6)


def test_top_eigenvalue_fn_max_iter():
    Hm = _sym(np.r_[np.ones(9), 1.001])  # tiny gap: slow
    r = H.top_eigenvalue_fn(_quad(Hm), torch.zeros(10, dtype=torch.float64), tol=0.0, max_iter=7)
    assert r["iterations"] == 7 and not r["converged"]


def test_trace_fn_quadratic():
    diag = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    r = H.trace_fn(_quad(diag), torch.zeros(10, dtype=torch.float64), n_samples=20, tol=0.0)
    assert r["value"] == pytest.approx(55.0, rel=1e-12)  # zᵀDz = tr D for any ±1 z
    assert r["samples"] == 20 and not r["converged"]
    Hm = _sym(np.linspace(-1.0, 3.0, 30), seed=2)
    true = float(torch.trace(Hm))
    r = H.trace_fn(_quad(Hm), torch.zeros(30, dtype=torch.float64), n_samples=400, tol=0.0)
    assert abs(r["value"] - true) < 4 * r["std_error"] + 1e-9
    assert r["std_error"] > 0
    assert set(r) == {"value", "std_error", "samples", "converged"}


def test_trace_fn_early_stop():
    diag = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    r = H.trace_fn(_quad(diag), torch.zeros(10, dtype=torch.float64), n_samples=50, tol=1e-3)
    assert r["converged"] and r["samples"] == 10  # at least 10 samples, then stops


def test_hvp_matches_finite_difference():
    m, x, y = _small()
    params = list(m.parameters())
    g = torch.Generator().manual_seed(3)
    vec = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]
    hv = H.hvp(lambda: F.cross_entropy(m(x), y), params, vec)

    f, theta = H.loss_function(m, x, y)
    v = torch.cat([t.reshape(-1) for t in vec])

    def grad_at(th):
        th = th.clone().requires_grad_(True)
        return torch.autograd.grad(f(th), th)[0]

    h = 1e-7  # small: a ReLU kink must not lie within ±h·v (float64: roundoff ~1e-9)
    fd = (grad_at(theta + h * v) - grad_at(theta - h * v)) / (2 * h)
    hv_flat = torch.cat([t.reshape(-1) for t in hv])
    assert torch.allclose(hv_flat, fd, rtol=1e-5, atol=1e-7)
    assert all(a.shape == p.shape for a, p in zip(hv, params))


def test_model_versions_match_dense_hessian_and_leave_model_unchanged():
    m, x, y = _small(seed=1)
    m.train()
    before = [p.detach().clone() for p in m.parameters()]
    f, theta = H.loss_function(m, x, y)
    dense = torch.func.hessian(f)(theta)  # (n, n), vectorized
    ev = torch.linalg.eigvalsh(dense)
    top = ev[ev.abs().argmax()].item()

    r = H.top_eigenvalue(m, x, y, tol=1e-7, max_iter=1000)
    assert r["value"] == pytest.approx(top, rel=1e-4)
    t = H.trace(m, x, y, n_samples=100, tol=0.0, seed=1)
    assert abs(t["value"] - float(torch.trace(dense))) < 4 * t["std_error"]
    assert m.training  # mode restored
    assert all(torch.equal(a, p) for a, p in zip(before, m.parameters()))
    assert all(p.grad is None for p in m.parameters())


def test_default_mlp_float32_runs_and_is_seeded():
    torch.manual_seed(0)
    m = make_model("mlp", (40,), 10, (256, 256))
    x, y = torch.randn(100, 40), torch.randint(0, 10, (100,))
    a = H.top_eigenvalue(m, x, y, seed=4, max_iter=15)
    b = H.top_eigenvalue(m, x, y, seed=4, max_iter=15)
    assert a == b and np.isfinite(a["value"]) and a["iterations"] <= 15
    t = H.trace(m, x, y, n_samples=12, seed=4)
    assert np.isfinite(t["value"]) and 10 <= t["samples"] <= 12


# ----------------------------------------------------------------------------- stacked: every seed of a cell at once
def _trained_stack(dtype=torch.float64, seeds=(1, 2, 3)):
    """Models of a tiny cell trained by the real loop (MNIST-1D, mlp [32]), in `dtype`, their stack,
    and the training subset; float64 so that stacked and per-model numbers agree to ~1e-10."""
    from batch_momentum.data import prepared
    from batch_momentum.training import loop, models
    from batch_momentum.training.stacked import StackedNet, stacked_loss_function
    from conftest import tiny_with

    p = tiny_with(train=dict(max_epochs=8, lr=0.1))
    blob = prepared.prepare(p.data)
    ms = []
    for r in loop.train_cell(p, blob, 8, 0.5, list(seeds), torch.device("cpu"), log=lambda s: None):
        m = models.build(p, blob["meta"])
        m.load_state_dict(r["state"])
        ms.append(m.to(dtype).eval())
    x, y = blob["x_train"][:100].to(dtype), blob["y_train"][:100]
    net = StackedNet(ms, blob["meta"]["input_shape"])
    return ms, net, x, y, stacked_loss_function(net, x, y)


@pytest.fixture(scope="module")
def stack64():
    return _trained_stack()


def test_stacked_loss_and_weights_are_each_models_own(stack64):
    from batch_momentum.training.stacked import flat_stack

    ms, net, x, y, f = stack64
    theta = flat_stack(net)
    for s, m in enumerate(ms):
        fs, th = H.loss_function(m, x, y)
        assert torch.equal(theta[s], th)  # row s is model s's flat_params
        assert f(theta)[s].item() == pytest.approx(fs(th).item(), rel=1e-12)


def test_stacked_top_eigenvalues_equal_each_models_own(stack64):
    """Each seed follows its own power iteration: the same value, iteration count and converged flag
    as alone (float64: to 1e-9), whatever the other seeds do; a seed that stops early leaves the stack."""
    from batch_momentum.training.stacked import flat_stack

    ms, net, x, y, f = stack64
    seeds = [11, 12, 13]
    for tol, max_iter in ((1e-3, 100), (1e-6, 40)):
        stacked = H.top_eigenvalues_stacked(f, flat_stack(net), seeds, tol=tol, max_iter=max_iter)
        alone = [H.top_eigenvalue(m, x, y, tol=tol, max_iter=max_iter, seed=s) for m, s in zip(ms, seeds)]
        for a, b in zip(stacked, alone):
            assert (a["iterations"], a["converged"]) == (b["iterations"], b["converged"])
            assert a["value"] == pytest.approx(b["value"], rel=1e-9)
            assert a["value"] > 0
    assert len({r["iterations"] for r in alone}) > 1 or not all(r["converged"] for r in alone)


def test_stacked_top_eigenvalues_on_quadratics_with_known_spectra():
    """F(Θ) = (½θ_sᵀH_sθ_s)_s with known top eigenvalues 5 and −4 and a slow third (gap 1.9 vs 2: max_iter)."""
    hs = [
        _sym(np.r_[np.linspace(-1.0, 2.0, 9), 5.0]),
        _sym(np.r_[np.linspace(0, 1, 9), -4.0], 1),
        _sym(np.r_[np.linspace(0, 1, 8), 1.9, 2.0], 2),
    ]
    hm = torch.stack(hs)
    # the Hessian of a quadratic does not depend on θ, so each row names its own H by its first entry
    # (θ stays fixed during power iteration; F is called on the rows still iterating)
    th0 = torch.zeros(3, 10, dtype=torch.float64)
    th0[:, 0] = torch.tensor([0.0, 1.0, 2.0])

    def g(th):
        idx = th[:, 0].detach().round().long()
        d = torch.cat([th[:, :1] - idx.unsqueeze(1).to(th.dtype), th[:, 1:]], dim=1)
        return 0.5 * torch.einsum("ki,kij,kj->k", d, hm[idx], d)

    r = H.top_eigenvalues_stacked(g, th0, [0, 0, 0], tol=1e-9, max_iter=500)
    assert r[0]["value"] == pytest.approx(5.0, rel=1e-6) and r[0]["converged"]
    assert r[1]["value"] == pytest.approx(-4.0, rel=1e-6) and r[1]["converged"]
    r = H.top_eigenvalues_stacked(g, th0, [0, 0, 0], tol=1e-4, max_iter=15)
    assert r[2]["iterations"] == 15 and not r[2]["converged"]
    assert all(t["iterations"] < 15 and t["converged"] for t in r[:2])
    alone = H.top_eigenvalue_fn(lambda t: 0.5 * t @ hm[0] @ t, torch.zeros(10, dtype=torch.float64), 1e-4, 15)
    assert (r[0]["iterations"], r[0]["value"]) == (alone["iterations"], pytest.approx(alone["value"], rel=1e-12))


def test_stacked_traces_use_each_seeds_vectors_and_stop_on_their_own(stack64):
    from batch_momentum.training.stacked import flat_stack

    ms, net, x, y, f = stack64
    seeds = [4, 5, 6]
    for n_samples, tol in ((12, 0.0), (50, 1e-2)):
        stacked = H.traces_stacked(f, flat_stack(net), seeds, n_samples=n_samples, tol=tol)
        alone = [H.trace(m, x, y, n_samples=n_samples, tol=tol, seed=s) for m, s in zip(ms, seeds)]
        for a, b in zip(stacked, alone):
            assert (a["samples"], a["converged"]) == (b["samples"], b["converged"])
            assert a["value"] == pytest.approx(b["value"], rel=1e-9)
            assert a["std_error"] == pytest.approx(b["std_error"], rel=1e-7)
    # a diagonal quadratic: zᵀDz = tr D for every ±1 z
    d = torch.arange(1.0, 11.0, dtype=torch.float64)
    r = H.traces_stacked(
        lambda th: 0.5 * (th * th * d).sum(1), torch.zeros(2, 10, dtype=torch.float64), [1, 2], 20, 0.0
    )
    assert [t["value"] for t in r] == [pytest.approx(55.0, rel=1e-12)] * 2 and r[0]["samples"] == 20


def test_a_nan_model_in_the_stack_spoils_only_its_own_hessian_measures(stack64):
    from batch_momentum.training.stacked import flat_stack

    ms, net, x, y, f = stack64
    theta = flat_stack(net)
    bad = theta.clone()
    bad[1, :50] = float("nan")
    seeds = [1, 2, 3]
    for fn, kw in ((H.top_eigenvalues_stacked, dict(max_iter=30)), (H.traces_stacked, dict(n_samples=12, tol=0.0))):
        clean, spoiled = fn(f, theta, seeds, **kw), fn(f, bad, seeds, **kw)
        assert not np.isfinite(spoiled[1]["value"])
        assert spoiled[0] == clean[0] and spoiled[2] == clean[2]
    top = H.top_eigenvalues_stacked(f, bad, seeds, max_iter=30)[1]
    assert top["iterations"] == 1 and not top["converged"]  # stops as top_eigenvalue_fn does on a non-finite Hv
