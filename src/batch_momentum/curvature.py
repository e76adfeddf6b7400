"""Sharpness of a minimum: Hessian spectrum and Keskar's epsilon-sharpness.

Everything works on a scalar function f of a flat parameter vector theta (shape (P,)),
so the same code is tested on quadratics with known answers and used on a network
(`loss_function(model, x, y)` turns a model's mean cross-entropy into such an f without
touching the model's parameters).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, jvp

Fn = Callable[[torch.Tensor], torch.Tensor]


def loss_function(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[Fn, torch.Tensor]:
    """(f, theta0): f(theta) = mean cross-entropy of `model` with flat parameters theta on (x, y).

    The model is put in eval mode and never changed; theta0 is a detached copy of its weights.
    """
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()

    def f(theta: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, sizes)
        params = {n: t.view(s) for n, t, s in zip(names, parts, shapes)}
        return F.cross_entropy(functional_call(model, params, (x,)), y)

    return f, theta0


def hvp(f: Fn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hessian-vector product H(theta) v, forward-over-reverse (one jvp of the gradient)."""
    return jvp(grad(f), (theta,), (v,))[1]


def hvp_operator(f: Fn, theta: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> H(theta) v by double backward (Pearlmutter's trick): the gradient graph is built
    once, and each product is one more backward pass through it; H is never formed."""
    th = theta.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(th), th, create_graph=True)
    return lambda v: torch.autograd.grad(g, th, v, retain_graph=True)[0].detach()


def top_eigenvalue(f: Fn, theta: torch.Tensor, tol: float = 1e-3, max_iter: int = 100, seed: int = 0) -> dict:
    """Largest-magnitude eigenvalue of the Hessian of f at theta by power iteration.

    v <- Hv / |Hv| from a seeded Gaussian start; the estimate is the Rayleigh quotient
    v.Hv. Stops when |lam_k - lam_{k-1}| <= tol * |lam_{k-1}| or after max_iter products
    (the method of PyHessian, Yao et al. 2020). Returns value, iterations, converged,
    rel_change.
    """
    H = hvp_operator(f, theta)
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(theta.shape, generator=gen, dtype=theta.dtype).to(theta.device)
    v /= v.norm()
    lam_old, rel = None, math.inf
    for k in range(1, max_iter + 1):
        hv = H(v)
        lam = float(torch.dot(v, hv))  # CPU-GPU sync point, once per product
        norm = float(hv.norm())
        if norm == 0.0:
            return dict(value=0.0, iterations=k, converged=True, rel_change=0.0)
        v = hv / norm
        if lam_old is not None:
            rel = abs(lam - lam_old) / max(abs(lam_old), 1e-12)
            if rel <= tol:
                return dict(value=lam, iterations=k, converged=True, rel_change=rel)
        lam_old = lam
    return dict(value=lam_old, iterations=max_iter, converged=False, rel_change=rel)


def trace(f: Fn, theta: torch.Tensor, n_samples: int = 50, tol: float = 1e-3, seed: int = 0,
          min_samples: int = 10) -> dict:
    """Hutchinson's estimate of tr(H): the mean of z.Hz over Rademacher vectors z (E[zz^T] = I).

    Stops early once at least `min_samples` are in and the running mean moved by less
    than tol (relative) with the last sample. Returns value, std_error, samples, converged.
    """
    H = hvp_operator(f, theta)
    gen = torch.Generator().manual_seed(seed)
    values = []
    mean_old = None
    converged = False
    for k in range(1, n_samples + 1):
        z = (torch.randint(0, 2, theta.shape, generator=gen) * 2 - 1).to(theta.device, theta.dtype)
        values.append(float(torch.dot(z, H(z))))
        mean = sum(values) / k
        if k >= min_samples and mean_old is not None and abs(mean - mean_old) <= tol * max(abs(mean_old), 1e-12):
            converged = True
            break
        mean_old = mean
    arr = np.asarray(values)
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else math.nan
    return dict(value=float(arr.mean()), std_error=se, samples=len(arr), converged=converged)


def epsilon_sharpness(f: Fn, theta: torch.Tensor, eps: float, max_iter: int = 10, subspace_dim: int | None = None,
                      seed: int = 0) -> dict:
    """Keskar et al. 2017, Metric 2.1: phi = (max_{y in C} f(theta + A y) - f(theta)) / (1 + f(theta)) * 100.

    Full space (subspace_dim None): A = I and the box C = {y : |y_i| <= eps (|theta_i| + 1)}.
    Random subspace: A (P x p) Gaussian with orthonormal columns (QR), so its pseudo-inverse
    is A^T and the box is |y_j| <= eps (|(A^T theta)_j| + 1). The maximum is taken inexactly
    by L-BFGS-B (scipy) on -f from y = 0 for `max_iter` iterations, as in the paper;
    gradients come from torch and cross to scipy as float64.
    Returns phi, f0, fmax, iterations, evaluations, eps, space.
    """
    from scipy.optimize import Bounds, minimize

    dtype, device = theta.dtype, theta.device
    if subspace_dim is None:
        A = None
        centre = theta
    else:
        A = random_subspace(theta.numel(), subspace_dim, seed).to(device, dtype)  # (P, p)
        centre = A.T @ theta
    bound = (eps * (centre.abs() + 1)).double().cpu().numpy()
    with torch.no_grad():
        f0 = float(f(theta))
    evaluations = 0

    def neg(y_np):
        nonlocal evaluations
        evaluations += 1
        y = torch.as_tensor(y_np, dtype=dtype, device=device).requires_grad_(True)
        value = f(theta + (y if A is None else A @ y))
        (g_y,) = torch.autograd.grad(value, y)
        return -float(value.detach()), -g_y.double().cpu().numpy()

    res = minimize(neg, np.zeros_like(bound), jac=True, method="L-BFGS-B",
                   bounds=Bounds(-bound, bound), options={"maxiter": max_iter})
    fmax = max(-float(res.fun), f0)  # the start y = 0 is inside the box
    return dict(phi=(fmax - f0) / (1 + f0) * 100, f0=f0, fmax=fmax, iterations=int(res.nit),
                evaluations=evaluations, eps=eps, space="full" if A is None else f"random{subspace_dim}")


_SUBSPACES: dict = {}


def random_subspace(n: int, p: int, seed: int) -> torch.Tensor:
    """A (n, p) Gaussian matrix with orthonormal columns (QR), seeded; cached, since every
    epsilon of a cell uses the same one and the QR of an (n, p) matrix costs O(n p^2)."""
    key = (n, p, seed)
    if key not in _SUBSPACES:
        gen = torch.Generator().manual_seed(seed)
        _SUBSPACES.clear()
        _SUBSPACES[key] = torch.linalg.qr(torch.randn(n, p, generator=gen, dtype=torch.float64)).Q.float()
    return _SUBSPACES[key]
