"""ε-sharpness of a minimum: Keskar et al. 2017, "On Large-Batch Training for Deep
Learning: Generalization Gap and Sharp Minima" (ICLR), Metric 2.1.

    φ_{θ,f}(ε, A) = ( max_{y ∈ C_ε} f(θ + A y) − f(θ) ) / ( 1 + f(θ) ) × 100,

f the training loss (mean cross-entropy, eval mode), θ ∈ ℝⁿ the flat parameters.

* Full space (A = I, y ∈ ℝⁿ):   C_ε = { y : |y_i| ≤ ε (|θ_i| + 1) }.
* Random subspace (A ∈ ℝ^{n×p}, y ∈ ℝᵖ, p = subspace_dim, Keskar use p = 100):
      C_ε = { y : |y_j| ≤ ε (|(A⁺θ)_j| + 1) }.
  Choice of A: i.i.d. N(0, 1/p) entries drawn from a torch.Generator seeded with
  `seed`; the 1/p variance makes a box corner y = ±ε·1 move each coordinate of θ by
  about ε, the scale of the full-space box. Choice of A⁺: the Moore–Penrose
  pseudo-inverse A⁺ = (AᵀA)⁻¹Aᵀ (A has full column rank a.s.), applied to θ by solving
  the p×p normal equations (AᵀA) u = Aᵀθ in float64; AᵀA is well conditioned for
  n ≫ p (condition ≈ ((1+√(p/n))/(1−√(p/n)))² ≈ 1.15 for n = 79k, p = 100), so this
  equals lstsq. A⁺θ are the coordinates of the projection of θ onto range(A).

The max is taken inexactly, as in the paper, by L-BFGS-B (scipy) on −f(θ + Ay) with
box bounds, `max_iter` iterations (paper: 10), gradients from torch, float64 at the numpy
boundary. Start point: y₀ = u ⊙ b / 10 with u ~ U(−1, 1) (numpy default_rng(seed)) and b
the box half-widths — a small seeded random point inside the box. (y₀ = 0 would be a
stationary point at an exact minimum and stop L-BFGS-B at once.) The reported fmax is the
largest f among f(θ) and all points L-BFGS-B evaluated (all feasible), so φ ≥ 0.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import Bounds, minimize

from batch_momentum.measures.hessian import Fn, loss_function
from batch_momentum.training.models import eval_mode

START_FRACTION = 0.1  # y₀ lies in START_FRACTION × box


def random_subspace(
    n: int, p: int, seed: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A (n, p) with i.i.d. N(0, 1/p) entries, drawn on the CPU from
    torch.Generator().manual_seed(seed) (the same A on every device), then moved.
    Cost: n·p normal draws (7.9M for the default mlp and p = 100, ~30 MB in float32, ~60 ms)."""
    if p < 1 or p > n:
        raise ValueError(
            f"subspace_dim = {p} must lie in [1, n = {n}] (the number of parameters); use None for the full space"
        )
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, p, generator=gen, dtype=torch.float32) / np.sqrt(p)).to(device, dtype)


def pinv_apply(A: torch.Tensor, theta: torch.Tensor) -> np.ndarray:
    """A⁺θ (p,) in float64 via the normal equations (AᵀA) u = Aᵀθ. Cost: n·p² for AᵀA."""
    G = (A.T @ A).double()  # (p, p)
    rhs = (A.T @ theta.to(A.dtype)).double()  # (p,)
    return torch.linalg.solve(G, rhs).cpu().numpy()


def epsilon_sharpness_fn(
    f: Fn,
    theta: torch.Tensor,
    eps: float,
    max_iter: int = 10,
    subspace_dim: int | None = None,
    seed: int = 0,
    A: torch.Tensor | None = None,
) -> dict:
    """ε-sharpness φ (Keskar et al. 2017, Metric 2.1) of a torch function f of a flat θ (n,).

    f: θ (n,) -> scalar tensor, differentiable by autograd; evaluated in θ's dtype.
    subspace_dim: None for the full space (A = I); p for a random Gaussian A (n, p), see
    the module docstring; or pass A (n, p) directly.
    Returns {"phi", "f0", "fmax", "iterations", "evaluations", "eps", "space"} with
    space "full" or f"random{p}". Cost: (evaluations + 1) forward+backward passes of f.
    """
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps = {eps!r}: the box half-width factor must be a positive number (Keskar: 1e-3, 5e-4)")
    theta = theta.detach()
    if A is None and subspace_dim is not None:
        A = random_subspace(theta.numel(), int(subspace_dim), seed, theta.dtype, theta.device)
    if A is not None:
        if A.dim() != 2 or A.shape[0] != theta.numel():
            raise ValueError(f"A has shape {tuple(A.shape)}; it must be (n, p) with n = {theta.numel()} = len(theta)")
        A = A.to(theta.device, theta.dtype)
        center = pinv_apply(A, theta)  # (p,) A⁺θ
        space = f"random{A.shape[1]}"
    else:
        center = theta.double().cpu().numpy()  # (n,)
        space = "full"
    b = eps * (np.abs(center) + 1.0)  # box half-widths (n,) or (p,)

    with torch.no_grad():
        f0 = float(f(theta))
    if not np.isfinite(f0):  # a diverged cell: no box maximum to look for
        return {
            "phi": float("nan"),
            "f0": f0,
            "fmax": float("nan"),
            "iterations": 0,
            "evaluations": 0,
            "eps": float(eps),
            "space": space,
        }
    best = [f0]

    def neg_f_and_grad(y_np: np.ndarray) -> tuple[float, np.ndarray]:
        y = torch.from_numpy(y_np).to(theta.device, theta.dtype)  # host -> device, once per evaluation
        pert = y if A is None else A @ y  # (n,)
        th = (theta + pert).requires_grad_(True)
        with torch.enable_grad():
            val = f(th)
            (g,) = torch.autograd.grad(val, th)
        if A is not None:
            g = A.T @ g  # (p,) chain rule: ∇_y f(θ + Ay) = Aᵀ∇f
        v = float(val.detach())
        best[0] = max(best[0], v) if np.isfinite(v) else best[0]
        return -v, -g.double().cpu().numpy()

    rng = np.random.default_rng(seed)
    y0 = rng.uniform(-1.0, 1.0, size=b.shape) * b * START_FRACTION
    res = minimize(
        neg_f_and_grad, y0, jac=True, method="L-BFGS-B", bounds=Bounds(-b, b), options={"maxiter": int(max_iter)}
    )
    fmax = best[0]
    return {
        "phi": (fmax - f0) / (1.0 + f0) * 100.0,
        "f0": f0,
        "fmax": fmax,
        "iterations": int(res.nit),
        "evaluations": int(res.nfev),
        "eps": float(eps),
        "space": space,
    }


def epsilon_sharpness(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    max_iter: int = 10,
    subspace_dim: int | None = None,
    seed: int = 0,
) -> dict:
    """ε-sharpness (Keskar et al. 2017, Metric 2.1) of the mean cross-entropy of `model`
    on (x, y), eval mode; see `epsilon_sharpness_fn`. The model's weights are not touched
    (all evaluations go through functional_call on a copy of the flat parameters)."""
    with eval_mode(model):
        f, theta = loss_function(model, x, y)
        return epsilon_sharpness_fn(f, theta, eps, max_iter=max_iter, subspace_dim=subspace_dim, seed=seed)
