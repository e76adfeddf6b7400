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

Several models at once (the seeds of a cell, rows of a (k, n) matrix of flat weights; their losses
are separable, f_s depends on row s only): epsilon_sharpness_stacked runs each row's own L-BFGS-B
with the evaluations of all rows batched into one stacked forward and backward (the same numbers as
alone); epsilon_sharpness_sign_ascent maximizes every row's full-space box at once by projected
sign-gradient ascent, which on trained runs reaches at least the L-BFGS-B maximum at a fraction of
its cost (scipy's L-BFGS-B spends more on n = 79k coordinates than the loss does).

Adaptive sharpness (Kwon et al. 2021, ASAM; Andriushchenko et al. 2023), max over |δ_i| ≤ ρ|θ_i| of
f(θ + δ) − f(θ), not normalized: the same sign ascent over a box proportional to |θ|
(box_maximum_sign_ascent takes the box), so it does not change when a reparametrization that keeps
the function scales the coordinates (Dinh et al. 2017; measures/rescaling.py checks it).
"""

from __future__ import annotations

import threading

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


# ----------------------------------------------------------------------------- stacked (all seeds of a cell)
class _Lockstep:
    """One scipy L-BFGS-B per model, each in a thread of its own, whose function evaluations are
    gathered and computed together: each round waits until every model still optimizing has asked
    for its next point, then evaluates all those points in one stacked forward and backward. Each
    model's optimizer sees exactly the values and gradients it would alone (up to float rounding of
    the stacked forward), so each result is its own L-BFGS-B maximum, not a joint one."""

    def __init__(self, evaluate):
        self.evaluate = evaluate  # {row: y (numpy)} -> {row: (value, gradient (numpy))}
        self.cond = threading.Condition()
        self.requests: dict[int, np.ndarray] = {}
        self.answers: dict[int, tuple[float, np.ndarray]] = {}
        self.alive: set[int] = set()

    def _ask(self, row: int, y: np.ndarray) -> tuple[float, np.ndarray]:
        with self.cond:
            self.requests[row] = y
            self.cond.notify_all()
            while row not in self.answers:
                self.cond.wait()
            return self.answers.pop(row)

    def run(self, starts: dict[int, tuple[np.ndarray, Bounds]], max_iter: int) -> dict:
        """Maximize every row's function from its start y₀ in its box; returns {row: scipy result}."""
        results, errors = {}, {}

        def worker(row, y0, bounds):
            try:

                def neg(y):
                    v, g = self._ask(row, y)
                    return -v, -g

                results[row] = minimize(
                    neg, y0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": int(max_iter)}
                )
            except BaseException as exc:  # handed to the caller below
                errors[row] = exc
            finally:
                with self.cond:
                    self.alive.discard(row)
                    self.cond.notify_all()

        self.alive = set(starts)
        threads = [threading.Thread(target=worker, args=(r, y0, b), daemon=True) for r, (y0, b) in starts.items()]
        for t in threads:
            t.start()
        try:
            while True:
                with self.cond:
                    while self.alive and len(self.requests) < len(self.alive):
                        self.cond.wait()
                    if not self.alive:
                        break
                    batch, self.requests = self.requests, {}
                answers = self.evaluate(batch)
                with self.cond:
                    self.answers.update(answers)
                    self.cond.notify_all()
        except BaseException:
            with self.cond:  # release the waiting threads with a value that ends their search
                self.answers.update({r: (float("nan"), np.zeros_like(y)) for r, y in self.requests.items()})
                self.cond.notify_all()
            raise
        for t in threads:
            t.join()
        if errors:
            raise next(iter(errors.values()))
        return results


def _check_stacked(theta: torch.Tensor, eps: float, seeds) -> tuple[torch.Tensor, int, int]:
    """The checks of a stacked box maximum: eps a positive number, one seed per row of theta (k, n);
    theta detached, k and n."""
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps = {eps!r}: the box half-width factor must be a positive number (Keskar: 1e-3, 5e-4)")
    theta = theta.detach()
    k, n = theta.shape
    if len(seeds) != k:
        raise ValueError(f"{len(seeds)} seeds for {k} stacked models")
    return theta, k, n


def epsilon_sharpness_stacked(
    F, theta: torch.Tensor, eps: float, seeds, max_iter: int = 10, A: torch.Tensor | None = None
) -> list[dict]:
    """epsilon_sharpness_fn of every row of theta (k, n) at once, each row by its own L-BFGS-B
    (start point from seeds[s], its own box) with the evaluations of all rows batched: one stacked
    forward and backward per round (see _Lockstep). F: (k', n) -> (k',) each row's loss (any subset of
    rows). A: None for the full space, or (k, n, p), one random subspace per row. Same numbers as
    epsilon_sharpness_fn(f_s, θ_s, eps, seed=seeds[s], A=A[s]) up to float rounding. A row whose loss
    is not finite gets phi NaN and no search."""
    theta, k, n = _check_stacked(theta, eps, seeds)
    if A is not None:
        if A.dim() != 3 or A.shape[:2] != (k, n):
            raise ValueError(f"A has shape {tuple(A.shape)}; it must be (k, n, p) with (k, n) = {(k, n)}")
        A = A.to(theta.device, theta.dtype)
        centers = [pinv_apply(A[r], theta[r]) for r in range(k)]
        space = f"random{A.shape[2]}"
    else:
        centers = list(theta.double().cpu().numpy())
        space = "full"
    with torch.no_grad():
        f0 = F(theta).tolist()
    best = list(f0)

    def evaluate(batch: dict[int, np.ndarray]) -> dict[int, tuple[float, np.ndarray]]:
        rows = sorted(batch)
        idx = torch.as_tensor(rows, device=theta.device)
        y = torch.from_numpy(np.stack([batch[r] for r in rows])).to(theta.device, theta.dtype)  # (m, n) or (m, p)
        # one matrix-vector product per row: A's rows are not copied (k·n·p numbers, 250 MB for 8 seeds)
        pert = y if A is None else torch.stack([A[r] @ y[j] for j, r in enumerate(rows)])  # (m, n)
        th = (theta.index_select(0, idx) + pert).requires_grad_(True)
        with torch.enable_grad():
            vals = F(th)  # (m,)
            (g,) = torch.autograd.grad(vals.sum(), th)
        if A is not None:  # chain rule: ∇_y f(θ + Ay) = Aᵀ∇f, per row
            g = torch.stack([A[r].T @ g[j] for j, r in enumerate(rows)])
        g = g.double().cpu().numpy()
        out = {}
        for j, (r, v) in enumerate(zip(rows, vals.detach().tolist())):
            best[r] = max(best[r], v) if np.isfinite(v) else best[r]
            out[r] = (v, g[j])
        return out

    starts = {}
    for r in range(k):
        if np.isfinite(f0[r]):
            b = eps * (np.abs(centers[r]) + 1.0)  # box half-widths
            y0 = np.random.default_rng(int(seeds[r])).uniform(-1.0, 1.0, size=b.shape) * b * START_FRACTION
            starts[r] = (y0, Bounds(-b, b))
    results = _Lockstep(evaluate).run(starts, max_iter)
    out = []
    for r in range(k):
        if r not in results:  # a diverged model: no box maximum to look for
            out.append(dict(phi=float("nan"), f0=f0[r], fmax=float("nan"), iterations=0, evaluations=0))
        else:
            fmax = best[r]
            out.append(
                dict(
                    phi=(fmax - f0[r]) / (1.0 + f0[r]) * 100.0,
                    f0=f0[r],
                    fmax=fmax,
                    iterations=int(results[r].nit),
                    evaluations=int(results[r].nfev),
                )
            )
        out[-1].update(eps=float(eps), space=space)
    return out


# Steps of the full-space sign ascent, as fractions of the box half-widths: the first from the start
# point to the corner the gradient points at, then smaller steps that move the coordinates whose
# gradient sign changed. Chosen on saved trained runs (8 seeds of the default grid's cells) where it
# reached at least the L-BFGS-B maximum for every seed and ε (tests/test_sharpness.py checks it).
SIGN_ASCENT_STEPS = (2.0,) + (0.5,) * 9 + (0.25,) * 10


def box_maximum_sign_ascent(F, theta: torch.Tensor, halfwidths, seeds, steps=SIGN_ASCENT_STEPS) -> list[dict]:
    """The largest loss of every row of theta (k, n) over its box |y_i| ≤ b_i, all rows at once, by
    projected sign-gradient ascent:

        y ← clip(y + s_j · b ⊙ sign(∇f(θ + y)), −b, b),   j = 1 .. len(steps),

    from the seeded start point y₀ = u ⊙ b · START_FRACTION, u ~ U(−1, 1)ⁿ from numpy default_rng(seed)
    (epsilon_sharpness_fn's start). halfwidths: θ (k, n) float64 ↦ b (k, n), the box of each row, e.g.
    Keskar's ε(|θ| + 1) or the adaptive ρ|θ|. Returns per row {"f0", "fmax", "iterations", "evaluations"}:
    fmax the largest f among f(θ) and every point visited (all inside the box), so fmax ≥ f0. Every step
    is one stacked forward and backward of all rows, with no per-row optimizer state. A row whose loss
    is not finite gets fmax NaN and no search.

    The iterates follow the box: if θ' = Dθ for a positive diagonal D, F'(θ') = F(θ) and the box of θ' is
    D times the box of θ, then every y' = Dy (sign ∇F' = sign ∇F, as D > 0), so fmax is the same."""
    with torch.no_grad():
        f0 = F(theta).tolist()
    k, n = theta.shape
    rows = [r for r in range(k) if np.isfinite(f0[r])]
    best = list(f0)
    if rows:
        idx = torch.as_tensor(rows, device=theta.device)
        th0 = theta.index_select(0, idx)
        b = halfwidths(th0.double())  # (m, n) box half-widths in float64, as epsilon_sharpness_fn's
        u = np.stack([np.random.default_rng(int(seeds[r])).uniform(-1.0, 1.0, size=n) for r in rows])
        y = torch.from_numpy(u).to(theta.device) * b * START_FRACTION
        for step in (*steps, None):
            th = (th0 + y.to(theta.dtype)).requires_grad_(step is not None)
            with torch.enable_grad() if step is not None else torch.no_grad():
                vals = F(th)
            for j, v in enumerate(vals.detach().tolist()):
                if np.isfinite(v):
                    best[rows[j]] = max(best[rows[j]], v)
            if step is not None:
                (g,) = torch.autograd.grad(vals.sum(), th)
                y = torch.minimum(torch.maximum(y + step * b * g.sign().double(), -b), b)
    return [
        dict(
            f0=f0[r],
            fmax=best[r] if r in rows else float("nan"),
            iterations=len(steps) if r in rows else 0,
            evaluations=len(steps) + 1 if r in rows else 0,
        )
        for r in range(k)
    ]


def epsilon_sharpness_sign_ascent(F, theta: torch.Tensor, eps: float, seeds, steps=SIGN_ASCENT_STEPS) -> list[dict]:
    """Full-space ε-sharpness (A = I) of every row of theta (k, n) at once, the box maximum over
    b = ε(|θ| + 1) taken by projected sign-gradient ascent (box_maximum_sign_ascent) instead of L-BFGS-B:
    in the full space, where L-BFGS-B's own work on n coordinates (and scipy's per-coordinate bound
    handling) costs more than the loss, this is several times cheaper. Returns epsilon_sharpness_fn's
    keys (iterations = steps, evaluations = steps + 1; a row whose loss is not finite: phi NaN, no search)."""
    theta, _, _ = _check_stacked(theta, eps, seeds)
    out = box_maximum_sign_ascent(F, theta, lambda th: eps * (th.abs() + 1.0), seeds, steps)
    for r in out:
        r.update(phi=(r["fmax"] - r["f0"]) / (1.0 + r["f0"]) * 100.0, eps=float(eps), space="full")
    return out


def adaptive_sharpness(F, theta: torch.Tensor, rho: float, seeds, steps=SIGN_ASCENT_STEPS) -> list[dict]:
    """Adaptive sharpness (Kwon et al. 2021, ASAM; Andriushchenko et al. 2023) of every row of theta
    (k, n) at once:

        S_ρ(θ) = max_{|δ_i| ≤ ρ|θ_i|} f(θ + δ) − f(θ),

    not normalized, the box maximum taken by the same sign ascent as the full-space ε-sharpness
    (box_maximum_sign_ascent). A box proportional to |θ| follows any rescaling of the coordinates, so S_ρ
    is the same for two weights that compute the same function after θ' = Dθ (Dinh et al. 2017); a weight
    θ_i = 0 does not move. Returns per row {"sharpness", "f0", "fmax", "iterations", "evaluations", "rho"}
    (sharpness NaN for a row whose loss is not finite)."""
    if not (np.isfinite(rho) and rho > 0):
        raise ValueError(f"rho = {rho!r}: the adaptive box factor must be a positive number (sharpness.adaptive_rho)")
    theta = theta.detach()
    if len(seeds) != theta.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for {theta.shape[0]} stacked models")
    out = box_maximum_sign_ascent(F, theta, lambda th: rho * th.abs(), seeds, steps)
    for r in out:
        r.update(sharpness=r["fmax"] - r["f0"], rho=float(rho))
    return out
