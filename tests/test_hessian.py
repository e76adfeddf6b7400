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
