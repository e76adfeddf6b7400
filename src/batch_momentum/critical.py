"""Critical points, momentum and minibatch noise on surfaces whose answers are known exactly.

The lecture (Hung-yi Lee, ML 2021, "Batch and Momentum") claims:

1. gradient descent stops at a critical point (gradient zero: a local minimum or a saddle);
2. momentum, m^0 = 0, m^t = lam * m^{t-1} - eta * g^{t-1}, theta^t = theta^{t-1} + m^t,
   carries the parameters on like a rolling ball, past saddles and over small hills;
3. m^t is a weighted sum of all earlier gradients: m^t = -eta * sum_{i<t} lam^{t-1-i} g^i;
4. smaller batches and momentum help to escape critical points.

Every experiment is float64 numpy, deterministic given its seeds, and uses
batch_momentum.optim.momentum_step for the update (lam = 0 is plain (S)GD).

Which mechanism does what (read this before the figures)
--------------------------------------------------------
- Momentum needs speed. A ball *at rest* on a zero gradient never moves, with or without
  momentum (m^0 = 0, g = 0 => m^1 = 0). Momentum carries a ball that *arrives* with speed.
- On the exact stable manifold of a saddle (2-D, x = 0) the gradient has no x component, so
  neither GD nor momentum ever leaves it (symmetry); only a perturbation does: gradient noise
  or an offset. Momentum then makes the offset grow faster (a larger growth rate r).
- Minibatch noise is what moves a ball at rest on a critical point of the mean loss L that
  is not one of each l_n (finite-sum cases). Momentum multiplies its effect (the noise
  temperature eta N / (B (1 - lam)) grows with lam).

Surfaces
--------
1-D, the ball picture:  f'(x) = x^2 (x - 1)(x - 3/2)(x - 3)
    f(x)  = x^6/6 - 11/10 x^5 + 9/4 x^4 - 3/2 x^3       (f(0) = 0)
    x = 0    flat saddle / inflection: f' = f'' = 0, f''' = -9 < 0, f keeps falling
    x = 1    shallow local minimum, f = -0.1833, f'' = 1
    x = 1.5  local maximum (the small hill), f = -0.1266 (barrier 0.0567 above x = 1)
    x = 3    deeper, global minimum, f = -4.05
  From x0 < 0, f'(x) ~ -9/2 x^2 near 0, so GD gives d_{t+1} = d_t (1 - 4.5 eta |d_t|) + O(d^3)
  with d = x < 0: |d| shrinks like 1/(4.5 eta t) and never changes sign: GD crawls towards
  the flat saddle and never reaches or passes it. With the defaults (x0 = -1, eta = 0.01,
  800 steps): lam <= 0.6 ends just left of 0, lam = 0.7 .. 0.85 roll past 0 into the shallow
  minimum, lam = 0.9, 0.95 also cross the hill into x = 3; lam = 0.99 crosses it at step 9
  and rolls back (too little friction): more momentum is not always better.

2-D, a saddle between two minima:  f(x, y) = (x^2 - 1)^2 / 4 + y^2 / 2
    grad = (x (x^2 - 1), y);  saddle (0, 0), Hessian diag(-1, 1), f = 1/4; minima (+-1, 0), f = 0.
  Near the saddle x obeys x_{t+1} = (1 + eta + lam) x_t - lam x_{t-1}: an offset grows like r^t,
  r the larger root of r^2 - (1 + lam + eta) r + lam = 0 (r = 1 + eta for GD), so momentum
  leaves sooner (saddle_growth_rate, predicted_escape_steps).

Finite sums (the lecture's L_1, L_2, ...: each batch has its own loss):
    L(theta) = (1/N) sum_n l_n(theta),  l_n(theta) = f(theta) + c a_n . theta,  sum_n a_n = 0
  a_n are +- pairs of integer vectors (entries -8..8) and c = offset_scale / 8; a batch's
  gradient is grad f + c * mean_{n in batch} a_n, the integer sum being exact, so the
  full-batch gradient at a critical point theta* of f is exactly 0 and full-batch GD started
  there never moves, while a minibatch's gradient is not 0. Two cases (FINITE_CASES):
    'saddle'   f = the 2-D surface, theta* = (0, 0): minibatch noise pushes the ball off the
               saddle's stable manifold; escaped once |x| >= escape_radius.
    'minimum'  f = the 1-D surface, theta* = 1 (the shallow local minimum): the noise must
               kick the ball over the hill; escaped once x > 1.5.
  Sampling without replacement: Var(batch mean of a) = Var(a) (N - B) / (B (N - 1)), about
  1/B for B << N and exactly 0 at B = N.

Definitions
-----------
escaped (run_gd): escape_fn(final point) is True ("ended past the hill / off the saddle");
  first_escape_step: the first t in 0..steps with escape_fn(theta^t) (None if never). A run
  can cross and roll back: first_escape_step set, escaped False. Finite-sum runs stop at
  their first escape (the deep minimum pulls them on; and stopping avoids overflow).
escape_fraction: share of seeds whose run escaped within its steps.

Noise temperature (Smith & Le 2018, "A Bayesian perspective on generalization and stochastic
gradient descent", ICLR; Smith, Kindermans, Ying & Le 2018, "Don't decay the learning rate,
increase the batch size", ICLR): g = eta N / (B (1 - lam)).
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from .config import DEFAULTS, noise_temperature
from .optim import momentum_step

# The defaults of the experiments: params.yaml's `momentum:` section overlays them.
DEFAULT_CFG: dict = DEFAULTS["momentum"]


# ----------------------------------------------------------------------------- 1-D surface
def f1(x):
    """f(x) = x^6/6 - 11/10 x^5 + 9/4 x^4 - 3/2 x^3 (f(0) = 0); see the module docstring."""
    x = np.asarray(x, dtype=np.float64)
    return x**6 / 6.0 - 1.1 * x**5 + 2.25 * x**4 - 1.5 * x**3


def df1(x):
    """f'(x) = x^2 (x - 1)(x - 3/2)(x - 3), a product so that the zeros are exact."""
    x = np.asarray(x, dtype=np.float64)
    return x * x * (x - 1.0) * (x - 1.5) * (x - 3.0)


# kind is one of 'local min', 'global min', 'saddle/inflection', 'saddle', 'local max'
CRITICAL_1D = [
    {"name": "flat saddle", "kind": "saddle/inflection", "point": [0.0]},  # f' = f'' = 0
    {"name": "shallow minimum", "kind": "local min", "point": [1.0]},
    {"name": "hill", "kind": "local max", "point": [1.5]},
    {"name": "deep minimum", "kind": "global min", "point": [3.0]},
]
BARRIER_1D = 1.5  # past the hill, in the deep minimum's basin: x > BARRIER_1D


# ----------------------------------------------------------------------------- 2-D surface
def f2(p):
    """f(x, y) = (x^2 - 1)^2 / 4 + y^2 / 2; p has shape (..., 2)."""
    p = np.asarray(p, dtype=np.float64)
    x, y = p[..., 0], p[..., 1]
    return (x * x - 1.0) ** 2 / 4.0 + y * y / 2.0


def df2(p):
    """grad f = (x (x^2 - 1), y), shape (..., 2); zero exactly at (0, 0) and (+-1, 0)."""
    p = np.asarray(p, dtype=np.float64)
    x, y = p[..., 0], p[..., 1]
    return np.stack([x * (x * x - 1.0), y], axis=-1)


CRITICAL_2D = [
    {"name": "saddle", "kind": "saddle", "point": [0.0, 0.0]},  # Hessian diag(-1, 1)
    {"name": "left minimum", "kind": "global min", "point": [-1.0, 0.0]},
    {"name": "right minimum", "kind": "global min", "point": [1.0, 0.0]},
]


def saddle_growth_rate(lr: float, lam: float) -> float:
    """Per-step growth factor r of a small offset along the 2-D saddle's unstable direction.

    Linearised (f_xx = -1): x_{t+1} = (1 + eta + lam) x_t - lam x_{t-1}, so r is the larger
    root of r^2 - (1 + lam + eta) r + lam = 0; lam = 0 gives r = 1 + eta.
    """
    b = 1.0 + lam + lr
    return (b + math.sqrt(b * b - 4.0 * lam)) / 2.0


def predicted_escape_steps(x0: float, lr: float, lam: float, escape_radius: float) -> float:
    """ln(escape_radius / |x0|) / ln r, the linearisation's steps to leave the saddle (the
    momentum transient and the cubic term shift the measured value by a few steps)."""
    if x0 == 0:  # on the stable manifold: no offset to grow, never leaves
        return math.inf
    return max(0.0, math.log(escape_radius / abs(x0))) / math.log(saddle_growth_rate(lr, lam))


# ----------------------------------------------------------------------------- the runner
def _nearest(point: np.ndarray, critical) -> dict | None:
    if not critical:
        return None
    d = [float(np.linalg.norm(point - np.asarray(c["point"], dtype=np.float64))) for c in critical]
    i = int(np.argmin(d))
    return {**critical[i], "distance": d[i]}


def run_gd(grad_fn: Callable, start, lr: float, lam: float, steps: int, noise=None,
           rng: np.random.Generator | None = None, escape_fn: Callable | None = None,
           critical: list | None = None) -> dict:
    """Gradient descent with the lecture's momentum (lam = 0: plain GD), optional gradient noise.

    g^t = grad_fn(theta^t) + xi^t, then (theta, m) <- momentum_step(theta, m, g, lr, lam), m^0 = 0.
    noise: None (xi = 0); a float s (xi ~ s N(0, I) from `rng`, default_rng(0) if None); or a
    callable noise(theta, t, rng) -> array shaped like theta.

    Returns trajectory (steps+1, d) = theta^0..theta^steps; final (d,); final_grad_norm
    (noise-free |grad| at the end); nearest_critical (the entry of `critical` closest to the
    end, plus its distance; None without `critical`); escaped (escape_fn(final); False without
    escape_fn); first_escape_step (first t with escape_fn(theta^t), else None).
    """
    theta = np.atleast_1d(np.asarray(start, dtype=np.float64)).copy()
    m = np.zeros_like(theta)
    if noise is not None and not callable(noise):
        std = float(noise)
        noise = None if std == 0 else (lambda th, t, r: std * r.standard_normal(th.shape))
    if noise is not None and rng is None:
        rng = np.random.default_rng(0)
    traj = np.empty((steps + 1, theta.size), dtype=np.float64)
    traj[0] = theta
    for t in range(steps):
        g = np.asarray(grad_fn(theta), dtype=np.float64)
        if noise is not None:
            g = g + noise(theta, t, rng)
        theta, m = momentum_step(theta, m, g, lr, lam)
        traj[t + 1] = theta
    first = None
    if escape_fn is not None:
        first = next((t for t in range(steps + 1) if escape_fn(traj[t])), None)
    return {
        "trajectory": traj,
        "final": traj[-1].copy(),
        "final_grad_norm": float(np.linalg.norm(grad_fn(traj[-1]))),
        "nearest_critical": _nearest(traj[-1], critical),
        "escaped": bool(escape_fn(traj[-1])) if escape_fn is not None else False,
        "first_escape_step": first,
    }


def run_1d(cfg: dict, lam: float) -> dict:
    """The 1-D ball run with cfg's settings; escaped = ended past the hill (x > 1.5)."""
    return run_gd(df1, [cfg["start_1d"]], cfg["lr_1d"], lam, int(cfg["steps_1d"]),
                  escape_fn=lambda p: p[0] > BARRIER_1D, critical=CRITICAL_1D)


def run_2d(cfg: dict, lam: float, start=None, noise: float = 0.0, seed: int = 0) -> dict:
    """The 2-D saddle run (start defaults to cfg['start_2d']); escaped = |x| >= escape_radius."""
    start = cfg["start_2d"] if start is None else start
    r = float(cfg["escape_radius"])
    return run_gd(df2, start, cfg["lr_2d"], lam, int(cfg["steps_2d"]), noise=noise or None,
                  rng=np.random.default_rng(seed), escape_fn=lambda p: abs(p[0]) >= r,
                  critical=CRITICAL_2D)


# ----------------------------------------------------------------------------- finite sums
def _escape_saddle(theta, radius):  # theta (S, 2)
    return np.abs(theta[:, 0]) >= radius


def _escape_minimum(theta, radius):  # theta (S, 1); radius unused: the hill is at 1.5
    return theta[:, 0] > BARRIER_1D


# case -> (grad of f, critical point theta* started from, escape test on (S, d) points)
FINITE_CASES = {
    "saddle": (df2, (0.0, 0.0), _escape_saddle),
    "minimum": (df1, (1.0,), _escape_minimum),
}


def finite_offsets(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Integer a_n, shape (n, dim): n/2 draws from -8..8 and their negatives, so sum_n a_n = 0
    exactly (integer sums are exact in float64); the gradient offset is (scale / 8) a_n."""
    if n < 2 or n % 2:
        raise ValueError(f"finite_n = {n} must be an even number >= 2 (the offsets come in +- pairs)")
    half = np.random.default_rng(seed).integers(-8, 9, size=(n // 2, dim)).astype(np.float64)
    return np.concatenate([half, -half])


def finite_sum_runs(case: str, batch_size: int, seeds, n: int, lr: float, lam: float, steps: int,
                    offset_scale: float, offset_seed: int = 0, escape_radius: float = 0.5) -> dict:
    """Minibatch SGD (lecture's momentum) on the finite sum of `case`, started at its theta*.

    All seeds run at once as a (S, d) array; seed s shuffles the N examples each epoch with
    default_rng(s) and walks through them in consecutive batches of B (the last one smaller if
    B does not divide N), so a seed's run does not depend on which other seeds run beside it.
    Batch b's gradient: grad f(theta) + (offset_scale / 8) mean_{n in b} a_n (its own loss L_b).
    A run stops at its first escape. Returns seeds, escape_steps (per seed, None = stayed),
    escape_fraction, final (S, d) as lists.
    """
    if case not in FINITE_CASES:
        raise ValueError(f"finite-sum case {case!r} unknown; use one of {sorted(FINITE_CASES)}")
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size} must be >= 1")
    grad, start, escaped_fn = FINITE_CASES[case]
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    a = finite_offsets(n, len(start), offset_seed)                     # (N, d) integers
    c = float(offset_scale) / 8.0
    S, B = len(seeds), min(int(batch_size), n)
    theta = np.tile(np.asarray(start, dtype=np.float64), (S, 1))     # (S, d)
    m = np.zeros_like(theta)
    rngs = [np.random.default_rng(s) for s in seeds]
    n_batches = -(-n // B)
    esc = np.full(S, -1)
    for t in range(steps):
        j = t % n_batches
        if j == 0:
            perms = np.stack([r.permutation(n) for r in rngs])       # (S, N)
        idx = perms[:, j * B:(j + 1) * B]                            # (S, B')
        g = grad(theta) + c * a[idx].mean(axis=1)                     # integer mean: exact 0 at B = N
        live = (esc < 0)[:, None]
        th_new, m_new = momentum_step(theta, m, g, lr, lam)
        theta, m = np.where(live, th_new, theta), np.where(live, m_new, m)
        esc[(esc < 0) & escaped_fn(theta, escape_radius)] = t + 1
    steps_out = [int(e) if e >= 0 else None for e in esc]
    return {"seeds": seeds, "escape_steps": steps_out,
            "escape_fraction": float(np.mean(esc >= 0)) if S else float("nan"), "final": theta.tolist()}


def escape_fraction(batch_size: int, seeds, case: str = "saddle", n: int = 32, lr: float = 0.05,
                    lam: float = 0.0, steps: int = 100, offset_scale: float = 1.0, offset_seed: int = 0,
                    escape_radius: float = 0.5) -> float:
    """Fraction of finite_sum_runs that escape within `steps`, over `seeds` (int n: 0..n-1).

    Exactly 0 at batch_size >= N: the full-batch gradient at theta* is exactly 0.
    """
    return finite_sum_runs(case, batch_size, seeds, n, lr, lam, steps, offset_scale, offset_seed,
                           escape_radius)["escape_fraction"]


# ----------------------------------------------------------------------------- momentum as a sum
def momentum_from_recursion(grads, lr: float, lam: float) -> np.ndarray:
    """m^0..m^T by the recursion m^0 = 0, m^t = lam m^{t-1} - eta g^{t-1} (via momentum_step).

    grads: (T, d) = g^0..g^{T-1}; returns (T+1, d).
    """
    g = np.asarray(grads, dtype=np.float64).reshape(len(grads), -1)
    out = np.zeros((g.shape[0] + 1, g.shape[1]))
    theta = np.zeros(g.shape[1])
    for t in range(g.shape[0]):
        theta, out[t + 1] = momentum_step(theta, out[t], g[t], lr, lam)
    return out


def momentum_weighted_sum(grads, lr: float, lam: float) -> np.ndarray:
    """m^t = -eta sum_{i<t} lam^{t-1-i} g^i for t = 0..T, the lecture's unrolled recursion.

    grads: (T, d); returns (T+1, d), row 0 = 0. lam = 0 gives m^t = -eta g^{t-1} (0^0 = 1).
    """
    g = np.asarray(grads, dtype=np.float64).reshape(len(grads), -1)
    T = g.shape[0]
    expo = np.arange(T + 1)[:, None] - 1 - np.arange(T)[None, :]             # (T+1, T): t-1-i
    w = np.where(expo >= 0, np.power(float(lam), np.maximum(expo, 0)), 0.0)  # lower-triangular
    return -lr * (w @ g)


# ----------------------------------------------------------------------------- noise temperature
def _r2(design: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    res = y - design @ coef
    return 1.0 - float(np.sum(res**2)) / float(np.sum((y - y.mean()) ** 2)), res


def collapse_stats(df, x: str = "temperature", y: str = "test_acc", group: str = "momentum",
                   degree: int = 3) -> dict:
    """Does y collapse onto one curve of the noise temperature g = df[x]?

    Rows with NaN x or y, or x <= 0, are dropped. With u = log g:
    - spearman: Spearman rank correlation of y with u over all rows; spearman_by_group: the
      same within each value of `group` (NaN where a group has < 3 rows or a constant column);
    - collapse_score = R^2 = 1 - SS_res / SS_tot of one least-squares polynomial in
      (standardised) u of degree k = min(degree, #distinct u - 1, n - 2) over all cells: the
      share of the variance of y that one smooth curve of g explains. Near 1: batch size and
      lambda act through g only. Clearly below 1: cells with equal g differ, or y is noisy
      (compare residual_std with the seed-to-seed spread);
    - group_gain: R^2 of the same polynomial plus one dummy per extra `group` value, minus
      collapse_score, the variance lambda explains beyond g. Near 0 supports the collapse.
    Scores are NaN where n < 3 or y is constant; `interpretation` says the verdict in a line
    (collapses: score >= 0.9 and gain < 0.05; does not collapse: gain >= 0.05; else weak).
    """
    from scipy.stats import spearmanr

    d = df.dropna(subset=[x, y])
    d = d[d[x] > 0]
    n = len(d)
    out = {"n": int(n), "n_dropped": int(len(df) - n), "degree": None, "spearman": float("nan"),
           "spearman_by_group": {}, "collapse_score": float("nan"), "group_gain": float("nan"),
           "residual_std": float("nan"), "interpretation": "too few cells"}
    if n < 3:
        return out
    u = np.log(d[x].to_numpy(dtype=np.float64))
    yv = d[y].to_numpy(dtype=np.float64)

    def rho(a, b):
        if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            return float("nan")
        return float(spearmanr(a, b).statistic)

    out["spearman"] = rho(u, yv)
    gv = d[group].to_numpy()
    levels = sorted(set(gv.tolist()))
    out["spearman_by_group"] = {str(v): rho(u[gv == v], yv[gv == v]) for v in levels}
    if np.ptp(yv) == 0:
        out["interpretation"] = "y is constant: nothing to explain"
        return out
    k = int(max(0, min(degree, len(np.unique(u)) - 1, n - 2)))
    z = (u - u.mean()) / (u.std() or 1.0)  # standardised: a well-conditioned Vandermonde
    poly = np.vander(z, k + 1, increasing=True)  # (n, k+1)
    score, res = _r2(poly, yv)
    dummies = np.stack([(gv == v).astype(np.float64) for v in levels[1:]], axis=1) if len(levels) > 1 \
        else np.zeros((n, 0))
    gain = _r2(np.hstack([poly, dummies]), yv)[0] - score
    out.update(degree=k, collapse_score=float(score), group_gain=float(gain), residual_std=float(np.std(res)))
    if score >= 0.9 and gain < 0.05:
        out["interpretation"] = (f"collapses: one curve of g explains {score:.0%} of the variance; "
                                 f"{group} adds {gain:.0%}")
    elif gain >= 0.05:
        out["interpretation"] = f"does not collapse: g explains {score:.0%}, {group} adds {gain:.0%} beyond g"
    else:
        out["interpretation"] = (f"weak: g explains {score:.0%} and {group} adds {gain:.0%}; "
                                 f"the rest is scatter (compare with the seed spread)")
    return out


# ----------------------------------------------------------------------------- the whole run
def _run_json(r: dict) -> dict:
    nc = r["nearest_critical"]
    return {"trajectory": r["trajectory"].tolist(), "final": r["final"].tolist(),
            "final_grad_norm": r["final_grad_norm"],
            "nearest_critical": None if nc is None else {**nc, "distance": float(nc["distance"])},
            "escaped": bool(r["escaped"]), "first_escape_step": r["first_escape_step"]}


def _median(v):
    return float(np.median(v)) if len(v) else None


def _nan_to_none(d):
    if isinstance(d, dict):
        return {k: _nan_to_none(v) for k, v in d.items()}
    return None if isinstance(d, float) and math.isnan(d) else d


def resolve_cfg(cfg: dict) -> dict:
    """DEFAULT_CFG overlaid with cfg; an unknown key is an error naming the allowed ones."""
    unknown = sorted(set(cfg) - set(DEFAULT_CFG))
    if unknown:
        raise ValueError(f"momentum: unknown key(s) {unknown}; allowed: {sorted(DEFAULT_CFG)}")
    return {**DEFAULT_CFG, **cfg}


def run_momentum_step(cfg: dict, lambdas) -> dict:
    """Run every experiment of this module for each lam in `lambdas`; a JSON-serialisable dict.

    cfg: keys of DEFAULT_CFG (missing ones take the default). Result keys:
    config (resolved), lambdas;
    surface_1d: critical_points (with f values), barrier, runs[str(lam)] (trajectory, final,
      final_grad_norm, nearest_critical, escaped, first_escape_step), start_on_saddle_max_move
      (lam = 0 and max(lambdas) started exactly on x = 0: exactly 0.0);
    surface_2d: critical_points, escape_radius, runs[str(lam)] = {offset, on_manifold (+
      max_abs_x), noisy (list over seeds), noisy_escape_steps, predicted_escape_steps,
      growth_rate};
    finite_sum: n, batch_sizes, seeds, cases[case] = {lr, steps, offset_scale, start,
      full_batch_grad_at_start (exactly 0), escape_fraction[str(lam)] (list over batch sizes),
      escape_steps[str(lam)] (per batch size, per seed; None = stayed)}; cells: one row per
      (case, lam, B) with temperature eta N / (B (1 - lam)), escape_fraction, median_escape_step;
      collapse[case]: collapse_stats of escape_fraction against the temperature (NaN -> None);
    weighted_sum_check: steps, lr, max_abs_diff[str(lam)];
    summary: one flat row per lam; seconds.
    """
    t0 = time.perf_counter()
    c = resolve_cfg(cfg)
    lambdas = [float(v) for v in lambdas]
    for lam in lambdas:
        if not 0.0 <= lam < 1.0:
            raise ValueError(f"momentum lambda = {lam} must satisfy 0 <= lambda < 1")
    radius = float(c["escape_radius"])
    n, bss, n_seeds = int(c["finite_n"]), [int(b) for b in c["finite_batch_sizes"]], int(c["finite_seeds"])
    for b in bss:
        if not 1 <= b <= n:
            raise ValueError(f"momentum.finite_batch_sizes holds {b}; each must be in 1..finite_n = {n}")

    s1 = {"critical_points": [{**p, "value": float(f1(p["point"][0]))} for p in CRITICAL_1D],
          "barrier": BARRIER_1D, "runs": {}}
    s1["start_on_saddle_max_move"] = max(
        float(np.max(np.abs(run_gd(df1, [0.0], c["lr_1d"], lam, int(c["steps_1d"]))["trajectory"])))
        for lam in {0.0, max(lambdas, default=0.0)})
    s2 = {"critical_points": [{**p, "value": float(f2(p["point"]))} for p in CRITICAL_2D],
          "escape_radius": radius, "runs": {}}
    on_manifold = [0.0, float(c["start_2d"][1])]
    fs = {"n": n, "batch_sizes": bss, "seeds": n_seeds, "cases": {}, "cells": []}
    for case, (grad, start, _) in FINITE_CASES.items():
        a = finite_offsets(n, len(start), int(c["finite_offset_seed"]))
        g0 = grad(np.asarray(start)) + c[f"{case}_offset_scale"] / 8.0 * a.mean(axis=0)
        fs["cases"][case] = {"lr": c[f"{case}_lr"], "steps": int(c[f"{case}_steps"]),
                             "offset_scale": c[f"{case}_offset_scale"], "start": list(start),
                             "full_batch_grad_at_start": np.atleast_1d(g0).tolist(),
                             "escape_fraction": {}, "escape_steps": {}}
    grads = np.random.default_rng(int(c["weighted_sum_seed"])).standard_normal((int(c["weighted_sum_steps"]), 3))
    ws = {"steps": int(c["weighted_sum_steps"]), "lr": 0.1, "max_abs_diff": {}}
    summary = []
    for lam in lambdas:
        key = str(lam)
        r1 = run_1d(c, lam)
        s1["runs"][key] = _run_json(r1)
        off = run_2d(c, lam)
        man = run_2d(c, lam, start=on_manifold)
        noisy = [run_2d(c, lam, start=on_manifold, noise=float(c["noise_2d"]), seed=s)
                 for s in range(int(c["noise_seeds_2d"]))]
        noisy_steps = [r["first_escape_step"] for r in noisy]
        s2["runs"][key] = {
            "offset": _run_json(off),
            "on_manifold": {**_run_json(man), "max_abs_x": float(np.max(np.abs(man["trajectory"][:, 0])))},
            "noisy": [_run_json(r) for r in noisy],
            "noisy_escape_steps": noisy_steps,
            "predicted_escape_steps": predicted_escape_steps(c["start_2d"][0], c["lr_2d"], lam, radius),
            "growth_rate": saddle_growth_rate(c["lr_2d"], lam),
        }
        row = {"momentum": lam, "final_1d": float(r1["final"][0]), "nearest_1d": r1["nearest_critical"]["name"],
               "reached_deep_min_1d": r1["nearest_critical"]["kind"] == "global min",
               "first_escape_step_1d": r1["first_escape_step"],
               "escape_step_2d": off["first_escape_step"],
               "predicted_escape_step_2d": s2["runs"][key]["predicted_escape_steps"],
               "on_manifold_max_abs_x": s2["runs"][key]["on_manifold"]["max_abs_x"],
               "noisy_escaped_2d": float(np.mean([s is not None for s in noisy_steps])) if noisy else None,
               "noisy_median_escape_step_2d": _median([s for s in noisy_steps if s is not None])}
        for case in FINITE_CASES:
            fc = fs["cases"][case]
            runs = [finite_sum_runs(case, b, n_seeds, n, fc["lr"], lam, fc["steps"], fc["offset_scale"],
                                    int(c["finite_offset_seed"]), radius) for b in bss]
            fc["escape_fraction"][key] = [r["escape_fraction"] for r in runs]
            fc["escape_steps"][key] = [r["escape_steps"] for r in runs]
            for b, r in zip(bss, runs):
                hit = [s for s in r["escape_steps"] if s is not None]
                fs["cells"].append({"case": case, "momentum": lam, "batch_size": b,
                                    "temperature": float(noise_temperature(fc["lr"], n, b, lam)),
                                    "escape_fraction": r["escape_fraction"],
                                    "median_escape_step": _median(hit)})
                row[f"{case}_escape_fraction_bs{b}"] = r["escape_fraction"]
        diff = np.abs(momentum_from_recursion(grads, ws["lr"], lam) - momentum_weighted_sum(grads, ws["lr"], lam))
        ws["max_abs_diff"][key] = float(diff.max())
        row["weighted_sum_max_abs_diff"] = ws["max_abs_diff"][key]
        summary.append(row)
    import pandas as pd

    cells = pd.DataFrame(fs["cells"])
    fs["collapse"] = {case: _nan_to_none(collapse_stats(cells[cells["case"] == case], y="escape_fraction"))
                      for case in FINITE_CASES} if len(cells) else {}
    return {"config": c, "lambdas": lambdas, "surface_1d": s1, "surface_2d": s2, "finite_sum": fs,
            "weighted_sum_check": ws, "summary": summary, "seconds": time.perf_counter() - t0}
