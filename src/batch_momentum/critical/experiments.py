"""Critical points, momentum and minibatch noise: the experiments, on surfaces whose answers are known.

The lecture (Hung-yi Lee, ML 2021, "Batch and Momentum") claims:

1. gradient descent stops at a critical point (gradient zero: a local minimum or a saddle);
2. momentum, m^0 = 0, m^t = lam * m^{t-1} - eta * g^{t-1}, theta^t = theta^{t-1} + m^t,
   carries the parameters on like a rolling ball, past saddles and over small hills;
3. m^t is a weighted sum of all earlier gradients: m^t = -eta * sum_{i<t} lam^{t-1-i} g^i;
4. smaller batches and momentum help to escape critical points.

The surfaces (a 1-D one with a flat saddle, a shallow and a deep minimum; a 2-D saddle between
two minima) and their critical points are in batch_momentum.critical.surfaces. Every experiment
is float64 numpy, deterministic given its seeds, and uses batch_momentum.training.optim.momentum_step
for the update (lam = 0 is plain (S)GD). Every result is a typed record of batch_momentum.critical.records,
which also writes the step's JSON and reads it back.

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

import time
from collections.abc import Callable, Sequence

import numpy as np

from batch_momentum.analysis.stats import collapse_stats
from batch_momentum.config import Momentum, noise_temperature
from batch_momentum.critical.records import (
    Collapse,
    CriticalResult,
    FiniteCase,
    FiniteCell,
    FiniteSum,
    LambdaSummary,
    MomentumSpearman,
    Nearest,
    Run,
    SaddleRuns,
    Surface1D,
    Surface2D,
    WeightedSumCheck,
    cells_frame,
    defined,
)
from batch_momentum.critical.surfaces import (
    BARRIER_1D,
    CRITICAL_1D,
    CRITICAL_2D,
    CriticalPoint,
    df1,
    df2,
    predicted_escape_steps,
    saddle_growth_rate,
)
from batch_momentum.training.optim import momentum_step


# ----------------------------------------------------------------------------- the runner
def _nearest(point: np.ndarray, critical: Sequence[CriticalPoint]) -> Nearest | None:
    if not critical:
        return None
    d = [float(np.linalg.norm(point - np.asarray(c.point, dtype=np.float64))) for c in critical]
    i = int(np.argmin(d))
    return Nearest(critical[i], d[i])


def run_gd(
    grad_fn: Callable,
    start,
    lr: float,
    lam: float,
    steps: int,
    noise=None,
    rng: np.random.Generator | None = None,
    escape_fn: Callable | None = None,
    critical: Sequence[CriticalPoint] = (),
) -> Run:
    """Gradient descent with the lecture's momentum (lam = 0: plain GD), optional gradient noise.

    g^t = grad_fn(theta^t) + xi^t, then (theta, m) <- momentum_step(theta, m, g, lr, lam), m^0 = 0.
    noise: None (xi = 0); a float s (xi ~ s N(0, I) from `rng`, default_rng(0) if None); or a
    callable noise(theta, t, rng) -> array shaped like theta. Returns a records.Run: trajectory
    (steps+1, d), the noise-free |grad| at the end, the entry of `critical` nearest to the end,
    escaped (escape_fn(final); False without escape_fn) and the first t with escape_fn(theta^t).
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
    return Run(
        momentum=float(lam),
        trajectory=tuple(map(tuple, traj.tolist())),
        final_grad_norm=float(np.linalg.norm(grad_fn(traj[-1]))),
        nearest=_nearest(traj[-1], critical),
        escaped=bool(escape_fn(traj[-1])) if escape_fn is not None else False,
        first_escape_step=first,
    )


def run_1d(cfg: Momentum, lam: float) -> Run:
    """The 1-D ball run with cfg's settings; escaped = ended past the hill (x > 1.5)."""
    return run_gd(
        df1, [cfg.start_1d], cfg.lr_1d, lam, cfg.steps_1d, escape_fn=lambda p: p[0] > BARRIER_1D, critical=CRITICAL_1D
    )


def run_2d(cfg: Momentum, lam: float, start=None, noise: float = 0.0, seed: int = 0) -> Run:
    """The 2-D saddle run (from cfg.start_2d, or `start`); escaped = |x| >= escape_radius."""
    start = cfg.start_2d if start is None else start
    r = cfg.escape_radius
    return run_gd(
        df2,
        start,
        cfg.lr_2d,
        lam,
        cfg.steps_2d,
        noise=noise or None,
        rng=np.random.default_rng(seed),
        escape_fn=lambda p: abs(p[0]) >= r,
        critical=CRITICAL_2D,
    )


def saddle_runs(cfg: Momentum, lam: float) -> SaddleRuns:
    """One λ on the 2-D saddle: from start_2d, from (0, y0) without noise, and with noise per seed."""
    on_manifold = (0.0, float(cfg.start_2d[1]))
    noisy = tuple(run_2d(cfg, lam, start=on_manifold, noise=cfg.noise_2d, seed=s) for s in range(cfg.noise_seeds_2d))
    return SaddleRuns(
        momentum=float(lam),
        offset=run_2d(cfg, lam),
        on_manifold=run_2d(cfg, lam, start=on_manifold),
        noisy=noisy,
        growth_rate=saddle_growth_rate(cfg.lr_2d, lam),
        predicted_escape_step=defined(predicted_escape_steps(cfg.start_2d[0], cfg.lr_2d, lam, cfg.escape_radius)),
    )


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


def finite_offsets(n: int, dim: int, seed: int) -> np.ndarray:
    """Integer a_n, shape (n, dim) for an even n: n/2 draws from -8..8 and their negatives, so
    sum_n a_n = 0 exactly (integer sums are exact in float64); the gradient offset is (scale / 8) a_n."""
    half = np.random.default_rng(seed).integers(-8, 9, size=(n // 2, dim)).astype(np.float64)
    return np.concatenate([half, -half])


def finite_case(cfg: Momentum, case: str) -> FiniteCase:
    """A case of FINITE_CASES with its settings from params, and the full-batch gradient at its start (exactly 0)."""
    lr, steps, scale = {
        "saddle": (cfg.saddle_lr, cfg.saddle_steps, cfg.saddle_offset_scale),
        "minimum": (cfg.minimum_lr, cfg.minimum_steps, cfg.minimum_offset_scale),
    }[case]
    grad, start, _ = FINITE_CASES[case]
    a = finite_offsets(cfg.finite_n, len(start), cfg.finite_offset_seed)
    g0 = grad(np.asarray(start)) + scale / 8.0 * a.mean(axis=0)
    return FiniteCase(
        case=case,
        lr=lr,
        steps=steps,
        offset_scale=scale,
        start=start,
        full_batch_grad_at_start=tuple(np.atleast_1d(g0).tolist()),
    )


def finite_sum_runs(fc: FiniteCase, cfg: Momentum, lam: float, batch_size: int, seeds) -> tuple[list, np.ndarray]:
    """Minibatch SGD (lecture's momentum) on the finite sum of case fc, started at its theta*.

    N = cfg.finite_n examples with offsets from cfg.finite_offset_seed. All seeds (an int S for
    0..S-1, or a list) run at once as a (S, d) array; seed s shuffles the N examples each epoch
    with default_rng(s) and walks through them in consecutive batches of B (the last one smaller
    if B does not divide N), so a seed's run does not depend on which other seeds run beside it.
    Batch b's gradient: grad f(theta) + (offset_scale / 8) mean_{n in b} a_n (its own loss L_b).
    A run stops at its first escape. Returns each seed's escape step (None: stayed) and the final
    theta (S, d), which at B >= N is exactly theta*: the batch gradient there is exactly 0.
    """
    grad, _, escaped_fn = FINITE_CASES[fc.case]
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    n = cfg.finite_n
    a = finite_offsets(n, len(fc.start), cfg.finite_offset_seed)  # (N, d) integers
    c = float(fc.offset_scale) / 8.0
    S, B = len(seeds), min(int(batch_size), n)
    theta = np.tile(np.asarray(fc.start, dtype=np.float64), (S, 1))  # (S, d)
    m = np.zeros_like(theta)
    rngs = [np.random.default_rng(s) for s in seeds]
    n_batches = -(-n // B)
    esc = np.full(S, -1)
    for t in range(fc.steps):
        j = t % n_batches
        if j == 0:
            perms = np.stack([r.permutation(n) for r in rngs])  # (S, N)
        idx = perms[:, j * B : (j + 1) * B]  # (S, B')
        g = grad(theta) + c * a[idx].mean(axis=1)  # integer mean: exact 0 at B = N
        live = (esc < 0)[:, None]
        th_new, m_new = momentum_step(theta, m, g, fc.lr, lam)
        theta, m = np.where(live, th_new, theta), np.where(live, m_new, m)
        esc[(esc < 0) & escaped_fn(theta, cfg.escape_radius)] = t + 1
    return [int(e) if e >= 0 else None for e in esc], theta


def _median(v) -> float | None:
    return float(np.median(v)) if len(v) else None


def finite_cell(fc: FiniteCase, cfg: Momentum, lam: float, batch_size: int) -> FiniteCell:
    """cfg.finite_seeds runs of case fc at (λ, B) as a cell: the share that escaped, their median escape step."""
    steps, _ = finite_sum_runs(fc, cfg, lam, batch_size, cfg.finite_seeds)
    hit = [s for s in steps if s is not None]
    return FiniteCell(
        case=fc.case,
        momentum=float(lam),
        batch_size=int(batch_size),
        temperature=float(noise_temperature(fc.lr, cfg.finite_n, batch_size, lam)),
        escape_fraction=len(hit) / len(steps) if steps else float("nan"),
        median_escape_step=_median(hit),
        escape_steps=tuple(steps),
    )


def _collapse(case: str, cells: Sequence[FiniteCell]) -> Collapse:
    """stats.collapse_stats of a case's escape fractions against the temperature, as a record."""
    s = collapse_stats(cells_frame(c for c in cells if c.case == case), y="escape_fraction")
    opt = {k: defined(s[k]) for k in ("spearman", "collapse_score", "group_gain", "residual_std")}
    by_lam = tuple(MomentumSpearman(float(lam), defined(rho)) for lam, rho in s["spearman_by_group"].items())
    return Collapse(
        case=case,
        n=s["n"],
        n_dropped=s["n_dropped"],
        degree=s["degree"],
        spearman_by_momentum=by_lam,
        interpretation=s["interpretation"],
        **opt,
    )


def finite_sum(cfg: Momentum, lambdas: Sequence[float]) -> FiniteSum:
    """Every finite-sum case at every λ and batch size of cfg, and how its escapes follow the temperature."""
    cases = tuple(finite_case(cfg, case) for case in FINITE_CASES)
    cells = tuple(finite_cell(fc, cfg, lam, b) for lam in lambdas for fc in cases for b in cfg.finite_batch_sizes)
    return FiniteSum(
        n=cfg.finite_n,
        batch_sizes=tuple(cfg.finite_batch_sizes),
        seeds=cfg.finite_seeds,
        offset_seed=cfg.finite_offset_seed,
        cases=cases,
        cells=cells,
        collapse=tuple(_collapse(fc.case, cells) for fc in cases) if cells else (),
    )


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
    expo = np.arange(T + 1)[:, None] - 1 - np.arange(T)[None, :]  # (T+1, T): t-1-i
    w = np.where(expo >= 0, np.power(float(lam), np.maximum(expo, 0)), 0.0)  # lower-triangular
    return -lr * (w @ g)


WEIGHTED_SUM_DIM, WEIGHTED_SUM_LR = 3, 0.1  # the random gradients' dimension and the check's eta


def weighted_sum_check(cfg: Momentum, lam: float) -> WeightedSumCheck:
    """The recursion against the weighted sum on cfg.weighted_sum_steps standard-normal gradients (seeded)."""
    grads = np.random.default_rng(cfg.weighted_sum_seed).standard_normal((cfg.weighted_sum_steps, WEIGHTED_SUM_DIM))
    diff = momentum_from_recursion(grads, WEIGHTED_SUM_LR, lam) - momentum_weighted_sum(grads, WEIGHTED_SUM_LR, lam)
    return WeightedSumCheck(
        momentum=float(lam),
        steps=cfg.weighted_sum_steps,
        dim=WEIGHTED_SUM_DIM,
        lr=WEIGHTED_SUM_LR,
        max_abs_diff=float(np.abs(diff).max()),
    )


# ----------------------------------------------------------------------------- the whole run
def surface_1d(cfg: Momentum, lambdas: Sequence[float]) -> Surface1D:
    """The 1-D runs per λ, and the largest move of GD and of the largest λ started at rest on the flat saddle."""
    at_rest = max(
        float(np.max(np.abs(run_gd(df1, [0.0], cfg.lr_1d, lam, cfg.steps_1d).trajectory)))
        for lam in {0.0, max(lambdas, default=0.0)}
    )
    return Surface1D(
        critical_points=CRITICAL_1D,
        barrier=BARRIER_1D,
        start_on_saddle_max_move=at_rest,
        runs=tuple(run_1d(cfg, lam) for lam in lambdas),
    )


def summarize(ball: Run, saddle: SaddleRuns) -> LambdaSummary:
    """One λ's 1-D run and 2-D runs as one flat row."""
    noisy = [r.first_escape_step for r in saddle.noisy]
    hit = [s for s in noisy if s is not None]
    return LambdaSummary(
        momentum=ball.momentum,
        final_1d=ball.final[0],
        nearest_1d=ball.nearest.critical.name,
        reached_deep_min_1d=ball.nearest.critical.kind == "global min",
        first_escape_step_1d=ball.first_escape_step,
        escape_step_2d=saddle.offset.first_escape_step,
        predicted_escape_step_2d=saddle.predicted_escape_step,
        on_manifold_max_abs_x=float(np.max(np.abs(np.asarray(saddle.on_manifold.trajectory)[:, 0]))),
        noisy_escaped_2d=len(hit) / len(noisy) if noisy else None,
        noisy_median_escape_step_2d=_median(hit),
    )


def run_momentum_step(cfg: Momentum, lambdas) -> CriticalResult:
    """Every experiment of this module for each λ in `lambdas`, as records (critical.records).

    cfg: params' momentum section, and lambdas grid.momentum, both checked by config.validate.
    """
    t0 = time.perf_counter()
    lambdas = tuple(float(v) for v in lambdas)
    s1 = surface_1d(cfg, lambdas)
    s2 = Surface2D(
        critical_points=CRITICAL_2D,
        escape_radius=cfg.escape_radius,
        runs=tuple(saddle_runs(cfg, lam) for lam in lambdas),
    )
    return CriticalResult(
        config=cfg,
        lambdas=lambdas,
        summary=tuple(map(summarize, s1.runs, s2.runs)),
        surface_1d=s1,
        surface_2d=s2,
        finite_sum=finite_sum(cfg, lambdas),
        weighted_sum_check=tuple(weighted_sum_check(cfg, lam) for lam in lambdas),
        seconds=time.perf_counter() - t0,
    )
