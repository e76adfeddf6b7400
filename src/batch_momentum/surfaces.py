"""Momentum at critical points, on error surfaces whose critical points are known exactly.

The lecture: gradient descent stops where the gradient is zero (a local minimum or a
saddle point); momentum, m^t = lambda m^{t-1} - eta g^{t-1}, theta^t = theta^{t-1} + m^t,
carries the parameters on like a rolling ball, and minibatch noise moves them off too.

- 1-D: f'(x) = x^2 (x-1)(x-2)(x-3). x = 0 is a flat saddle (f' = 0 but f keeps falling),
  x = 1 a shallow local minimum, x = 2 a local maximum, x = 3 the deeper minimum
  (f(1) = -0.283, f(3) = -1.35). From x0 < 0, plain GD creeps towards 0 and never
  passes it (x_{t+1} = x_t + 6 eta x_t^2 + O(x^3) stays below 0); momentum rolls on.
- 2-D: f(x, y) = x^4/4 - x^2/2 + y^2/2: a saddle at (0, 0), minima at (+-1, 0). From a
  start on the saddle's stable manifold x = 0, GD and momentum both stay on it (by
  symmetry they cannot leave); a tiny offset x0 grows by (1 + eta) per step under GD and
  by the larger root of r^2 - (1 + lambda + eta) r + lambda = 0 under momentum, so
  momentum leaves sooner; gradient noise leaves even from x = 0 exactly.
- Finite sum: L(theta) = (1/N) sum_n l_n(theta), l_n(theta) = f(theta) + a_n . theta, with
  the a_n in +- pairs of dyadic numbers so that sum_n a_n = 0 exactly. (0, 0) is a
  critical point of L but not of any l_n: full-batch GD started there stays forever,
  minibatch SGD (each batch its own loss, L_1, L_2, ... as in the lecture) moves off.
"""
from __future__ import annotations

import math

import numpy as np

from .optim import momentum_step

DEFAULT_CFG = {
    "lr_1d": 0.01,            # eta on the 1-D surface
    "start_1d": -1.0,         # x0 on the 1-D surface (left of the flat saddle at 0)
    "steps_1d": 600,          # updates on the 1-D surface
    "lr_2d": 0.01,            # eta on the 2-D surface
    "start_2d": [1.0e-6, 1.0],  # (x0, y0): x0 = 0 is the saddle's stable manifold
    "steps_2d": 1500,         # updates on the 2-D surface
    "noise_2d": 0.01,         # std of the gradient noise in the noisy 2-D run (started at x0 = 0)
    "escape_radius": 0.5,     # 'escaped the saddle' once |x| > this
    "finite_n": 16,           # N, examples of the finite-sum loss
    "finite_batch_sizes": [1, 2, 4, 8, 16],  # minibatch sizes tried (N = full batch)
    "finite_lr": 0.05,        # eta of the finite-sum runs
    "finite_steps": 150,      # updates per finite-sum run
    "finite_seeds": 20,       # runs per batch size (seeds 0..n-1)
    "weighted_sum_steps": 25, # length of the gradient sequence of the weighted-sum check
}


# ---------------------------------------------------------------- surfaces
def f1(x):
    return x ** 6 / 6 - 6 * x ** 5 / 5 + 11 * x ** 4 / 4 - 2 * x ** 3


def df1(x):
    return x ** 2 * (x - 1) * (x - 2) * (x - 3)


CRITICAL_1D = [(0.0, "flat saddle"), (1.0, "local minimum"), (2.0, "local maximum"), (3.0, "global minimum")]


def f2(p):
    x, y = p[..., 0], p[..., 1]
    return x ** 4 / 4 - x ** 2 / 2 + y ** 2 / 2


def df2(p):
    p = np.asarray(p, dtype=float)
    return np.stack([p[..., 0] ** 3 - p[..., 0], p[..., 1]], axis=-1)


CRITICAL_2D = [((0.0, 0.0), "saddle"), ((1.0, 0.0), "minimum"), ((-1.0, 0.0), "minimum")]


def finite_offsets(n: int) -> np.ndarray:
    """a_n of the finite-sum loss: n (even) vectors in +- pairs, dyadic, so sum_n a_n = 0 exactly."""
    if n % 2:
        raise ValueError(f"momentum.finite_n = {n} must be even (the offsets come in +- pairs)")
    half = np.array([[((k % 4) + 1) / 4, (((k + 1) % 3) - 1) / 2] for k in range(n // 2)])
    return np.concatenate([half, -half])


# ---------------------------------------------------------------- runs
def run_gd(grad_fn, start, lr: float, lam: float, steps: int, noise_std: float = 0.0, seed: int = 0,
           escaped=None) -> dict:
    """Gradient descent with the lecture's momentum from `start` (m^0 = 0).

    `noise_std` adds seeded Gaussian noise to every gradient (a stand-in for minibatch
    noise). `escaped(theta) -> bool` marks the first step at which the run left.
    Returns trajectory (steps+1 points), final, escaped, escape_step.
    """
    rng = np.random.default_rng(seed)
    theta = np.array(start, dtype=float)
    m = np.zeros_like(theta)
    traj = [theta.copy()]
    escape_step = None
    for t in range(1, steps + 1):
        g = grad_fn(theta)
        if noise_std:
            g = g + noise_std * rng.standard_normal(theta.shape)
        theta, m = momentum_step(theta, m, g, lr, lam)
        traj.append(np.array(theta, dtype=float))
        if escape_step is None and escaped is not None and escaped(theta):
            escape_step = t
    return dict(trajectory=np.array(traj), final=np.array(theta), escaped=escape_step is not None,
                escape_step=escape_step)


def nearest(point, critical) -> str:
    dists = [np.linalg.norm(np.atleast_1d(point) - np.atleast_1d(c)) for c, _ in critical]
    c, kind = critical[int(np.argmin(dists))]
    return f"{kind} at {c}"


def finite_sum_run(batch_size: int, seed: int, n: int, lr: float, steps: int, lam: float, radius: float) -> dict:
    """SGD on the finite-sum loss from its critical point (0, 0), batches of a fresh
    permutation every epoch; escaped once |x| > radius."""
    a = finite_offsets(n)
    rng = np.random.default_rng(seed)
    theta, m = np.zeros(2), np.zeros(2)
    perm, pos = rng.permutation(n), 0
    for t in range(1, steps + 1):
        if pos + batch_size > n:
            perm, pos = rng.permutation(n), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        g = df2(theta) + a[np.sort(idx)].sum(0) / batch_size  # gradient of this batch's own loss
        theta, m = momentum_step(theta, m, g, lr, lam)
        if abs(theta[0]) > radius:
            return dict(escaped=True, escape_step=t, final=theta.tolist())
    return dict(escaped=False, escape_step=None, final=theta.tolist())


def escape_fraction(batch_size: int, seeds, n: int, lr: float, steps: int, lam: float, radius: float) -> float:
    runs = [finite_sum_run(batch_size, s, n, lr, steps, lam, radius) for s in seeds]
    return sum(r["escaped"] for r in runs) / len(runs)


# ---------------------------------------------------------------- the weighted sum
def momentum_from_recursion(grads: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """m^1..m^T by the recursion m^t = lam m^{t-1} - lr g^{t-1}, m^0 = 0; grads is (T, P)."""
    m, out = np.zeros(grads.shape[1:]), []
    theta = np.zeros(grads.shape[1:])
    for g in grads:
        theta, m = momentum_step(theta, m, g, lr, lam)
        out.append(m)
    return np.array(out)


def momentum_weighted_sum(grads: np.ndarray, lr: float, lam: float) -> np.ndarray:
    """m^t = -lr sum_{i<t} lam^{t-1-i} g^i for t = 1..T, in closed form."""
    T = len(grads)
    w = np.array([[lam ** (t - 1 - i) if i < t else 0.0 for i in range(T)] for t in range(1, T + 1)])
    return -lr * w @ grads


# ---------------------------------------------------------------- noise temperature
def collapse_stats(df, x: str = "temperature", y: str = "test_acc", group: str = "momentum") -> dict:
    """Do the cells fall on one curve of y against log g?

    spearman: rank correlation of y with g over all cells, and within each lambda.
    collapse: R^2 of one cubic in log g fitted to all cells (1 = every cell on one
    curve; a low value with high within-lambda correlations means lambda acts beyond g).
    """
    from scipy.stats import spearmanr

    d = df[[x, y, group]].dropna()
    if len(d) < 5:
        return dict(n=len(d), spearman=math.nan, collapse=math.nan, within={})
    lx = np.log(d[x].to_numpy(float))
    yy = d[y].to_numpy(float)
    fit = np.polyval(np.polyfit(lx, yy, deg=min(3, len(d) - 2)), lx)
    tot = float(((yy - yy.mean()) ** 2).sum())
    within = {}
    for lam, sub in d.groupby(group):
        within[str(lam)] = float(spearmanr(sub[x], sub[y]).statistic) if sub[x].nunique() > 1 else math.nan
    return dict(n=len(d), spearman=float(spearmanr(d[x], d[y]).statistic),
                collapse=1 - float(((yy - fit) ** 2).sum()) / tot if tot > 0 else 1.0, within=within)


# ---------------------------------------------------------------- the step
def run_momentum(cfg: dict, lambdas) -> dict:
    """Every experiment for the lambda values of the grid; a JSON-serialisable dict."""
    lambdas = [float(v) for v in lambdas]
    out = {"lambdas": lambdas, "critical_1d": [[c, k] for c, k in CRITICAL_1D],
           "critical_2d": [[list(c), k] for c, k in CRITICAL_2D], "cfg": cfg}
    one_d = []
    for lam in lambdas:
        r = run_gd(df1, [cfg["start_1d"]], cfg["lr_1d"], lam, cfg["steps_1d"], escaped=lambda th: th[0] > 2.0)
        xf = float(r["final"][0])
        one_d.append(dict(momentum=lam, final=xf, ends_near=nearest(xf, CRITICAL_1D),
                          reached_deeper_minimum=abs(xf - 3.0) < 0.1, passed_saddle=bool((r["trajectory"] > 0).any()),
                          trajectory=r["trajectory"][:, 0].tolist()))
    out["one_d"] = one_d
    radius = cfg["escape_radius"]
    leave = lambda th: abs(th[0]) > radius  # noqa: E731
    two_d = []
    for lam in lambdas:
        for label, start, noise in (("on the stable manifold", [0.0, cfg["start_2d"][1]], 0.0),
                                    ("tiny offset", cfg["start_2d"], 0.0),
                                    ("on the manifold, noisy gradient", [0.0, cfg["start_2d"][1]], cfg["noise_2d"])):
            r = run_gd(df2, start, cfg["lr_2d"], lam, cfg["steps_2d"], noise_std=noise, seed=0, escaped=leave)
            two_d.append(dict(momentum=lam, start=label, escaped=r["escaped"], escape_step=r["escape_step"],
                              ends_near=nearest(r["final"], CRITICAL_2D), trajectory=r["trajectory"][::5].tolist()))
    out["two_d"] = two_d
    n = cfg["finite_n"]
    seeds = range(cfg["finite_seeds"])
    out["finite_sum"] = [dict(momentum=lam, batch_size=b,
                              escape_fraction=escape_fraction(b, seeds, n, cfg["finite_lr"], cfg["finite_steps"], lam,
                                                              radius))
                         for lam in lambdas for b in cfg["finite_batch_sizes"]]
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((cfg["weighted_sum_steps"], 3))
    diffs = [float(np.abs(momentum_from_recursion(grads, 0.1, lam) - momentum_weighted_sum(grads, 0.1, lam)).max())
             for lam in lambdas]
    out["weighted_sum"] = dict(steps=cfg["weighted_sum_steps"], max_abs_difference=max(diffs))
    deeper = [d["momentum"] for d in one_d if d["reached_deeper_minimum"]]
    out["summary"] = (
        f"1-D surface: plain gradient descent (λ=0) ends at x={one_d[0]['final']:.3g} "
        f"({one_d[0]['ends_near']}); " + (f"with λ ∈ {deeper} the ball rolls past the saddle and the shallow minimum "
                                          "into the deeper one. " if deeper else "no λ of the grid reaches the deeper "
                                          "minimum with these settings. ") +
        f"Momentum's m^t equals −η Σ λ^(t−1−i) g^i to {out['weighted_sum']['max_abs_difference']:.1e} over "
        f"{cfg['weighted_sum_steps']} steps (the weighted sum of all earlier gradients).")
    return out
