"""Critical points, momentum and minibatch noise: the experiments, on surfaces whose answers are known.

The lecture (Hung-yi Lee, ML 2021, "Batch and Momentum") claims:

1. gradient descent stops at a critical point (gradient zero: a local minimum or a saddle);
2. momentum, m^0 = 0, m^t = lam * m^{t-1} - eta * g^{t-1}, theta^t = theta^{t-1} + m^t,
   carries the parameters on like a rolling ball, past saddles and over small hills;
3. m^t is a weighted sum of all earlier gradients: m^t = -eta * sum_{i<t} lam^{t-1-i} g^i;
4. smaller batches and momentum help to escape critical points.

The surfaces (a 1-D one with a flat saddle, a shallow and a deep minimum; a 2-D saddle between
two minima) and their critical points are in batch_momentum.surfaces. Every experiment is
float64 numpy, deterministic given its seeds, and uses batch_momentum.optim.momentum_step for
the update (lam = 0 is plain (S)GD).

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

import dataclasses
import time
from typing import Callable

import numpy as np

from batch_momentum.config import Momentum, noise_temperature
from batch_momentum.io.files import finite
from batch_momentum.training.optim import momentum_step
from batch_momentum.analysis.stats import collapse_stats
from batch_momentum.critical.surfaces import BARRIER_1D, CRITICAL_1D, CRITICAL_2D, df1, df2, f1, f2, predicted_escape_steps, saddle_growth_rate


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


def run_1d(cfg: Momentum, lam: float) -> dict:
    """The 1-D ball run with cfg's settings; escaped = ended past the hill (x > 1.5)."""
    return run_gd(df1, [cfg.start_1d], cfg.lr_1d, lam, cfg.steps_1d,
                  escape_fn=lambda p: p[0] > BARRIER_1D, critical=CRITICAL_1D)


def run_2d(cfg: Momentum, lam: float, start=None, noise: float = 0.0, seed: int = 0) -> dict:
    """The 2-D saddle run (from cfg.start_2d, or `start`); escaped = |x| >= escape_radius."""
    start = cfg.start_2d if start is None else start
    r = cfg.escape_radius
    return run_gd(df2, start, cfg.lr_2d, lam, cfg.steps_2d, noise=noise or None,
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


def finite_offsets(n: int, dim: int, seed: int) -> np.ndarray:
    """Integer a_n, shape (n, dim) for an even n: n/2 draws from -8..8 and their negatives, so
    sum_n a_n = 0 exactly (integer sums are exact in float64); the gradient offset is (scale / 8) a_n."""
    half = np.random.default_rng(seed).integers(-8, 9, size=(n // 2, dim)).astype(np.float64)
    return np.concatenate([half, -half])


def finite_sum_runs(case: str, batch_size: int, seeds, n: int, lr: float, lam: float, steps: int,
                    offset_scale: float, offset_seed: int, escape_radius: float) -> dict:
    """Minibatch SGD (lecture's momentum) on the finite sum of `case`, started at its theta*.

    All seeds run at once as a (S, d) array; seed s shuffles the N examples each epoch with
    default_rng(s) and walks through them in consecutive batches of B (the last one smaller if
    B does not divide N), so a seed's run does not depend on which other seeds run beside it.
    Batch b's gradient: grad f(theta) + (offset_scale / 8) mean_{n in b} a_n (its own loss L_b).
    A run stops at its first escape. Returns seeds, escape_steps (per seed, None = stayed),
    escape_fraction (share of seeds that escaped; exactly 0 at batch_size >= N, where the
    batch gradient at theta* is exactly 0), final (S, d) as lists.
    """
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


# ----------------------------------------------------------------------------- the whole run
def _run_json(r: dict) -> dict:
    nc = r["nearest_critical"]
    return {"trajectory": r["trajectory"].tolist(), "final": r["final"].tolist(),
            "final_grad_norm": r["final_grad_norm"],
            "nearest_critical": None if nc is None else {**nc, "distance": float(nc["distance"])},
            "escaped": bool(r["escaped"]), "first_escape_step": r["first_escape_step"]}


def _median(v):
    return float(np.median(v)) if len(v) else None


def run_momentum_step(c: Momentum, lambdas) -> dict:
    """Run every experiment of this module for each lam in `lambdas`; strict JSON (NaN, inf as None).

    c: params' momentum section, and lambdas grid.momentum, both checked by config.validate.
    Result keys: config (c as a dict), lambdas;
    surface_1d: critical_points (with f values), barrier, runs[str(lam)] (trajectory, final,
      final_grad_norm, nearest_critical, escaped, first_escape_step), start_on_saddle_max_move
      (lam = 0 and max(lambdas) started exactly on x = 0: exactly 0.0);
    surface_2d: critical_points, escape_radius, runs[str(lam)] = {offset, on_manifold (+
      max_abs_x), noisy (list over seeds), noisy_escape_steps, predicted_escape_steps (None
      when start_2d lies on the manifold), growth_rate};
    finite_sum: n, batch_sizes, seeds, cases[case] = {lr, steps, offset_scale, start,
      full_batch_grad_at_start (exactly 0), escape_fraction[str(lam)] (list over batch sizes),
      escape_steps[str(lam)] (per batch size, per seed; None = stayed)}; cells: one row per
      (case, lam, B) with temperature eta N / (B (1 - lam)), escape_fraction, median_escape_step;
      collapse[case]: stats.collapse_stats of escape_fraction against the temperature;
    weighted_sum_check: steps, lr, max_abs_diff[str(lam)];
    summary: one flat row per lam; seconds.
    """
    t0 = time.perf_counter()
    lambdas = [float(v) for v in lambdas]
    radius = c.escape_radius
    n, bss, n_seeds = c.finite_n, list(c.finite_batch_sizes), c.finite_seeds

    s1 = {"critical_points": [{**p, "value": float(f1(p["point"][0]))} for p in CRITICAL_1D],
          "barrier": BARRIER_1D, "runs": {}}
    s1["start_on_saddle_max_move"] = max(
        float(np.max(np.abs(run_gd(df1, [0.0], c.lr_1d, lam, c.steps_1d)["trajectory"])))
        for lam in {0.0, max(lambdas, default=0.0)})
    s2 = {"critical_points": [{**p, "value": float(f2(p["point"]))} for p in CRITICAL_2D],
          "escape_radius": radius, "runs": {}}
    on_manifold = [0.0, float(c.start_2d[1])]
    fs = {"n": n, "batch_sizes": bss, "seeds": n_seeds, "cases": {}, "cells": []}
    for case, (grad, start, _) in FINITE_CASES.items():
        lr, steps, scale = (getattr(c, f"{case}_{k}") for k in ("lr", "steps", "offset_scale"))
        a = finite_offsets(n, len(start), c.finite_offset_seed)
        g0 = grad(np.asarray(start)) + scale / 8.0 * a.mean(axis=0)
        fs["cases"][case] = {"lr": lr, "steps": steps, "offset_scale": scale, "start": list(start),
                             "full_batch_grad_at_start": np.atleast_1d(g0).tolist(),
                             "escape_fraction": {}, "escape_steps": {}}
    grads = np.random.default_rng(c.weighted_sum_seed).standard_normal((c.weighted_sum_steps, 3))
    ws = {"steps": c.weighted_sum_steps, "lr": 0.1, "max_abs_diff": {}}
    summary = []
    for lam in lambdas:
        key = str(lam)
        r1 = run_1d(c, lam)
        s1["runs"][key] = _run_json(r1)
        off = run_2d(c, lam)
        man = run_2d(c, lam, start=on_manifold)
        noisy = [run_2d(c, lam, start=on_manifold, noise=c.noise_2d, seed=s) for s in range(c.noise_seeds_2d)]
        noisy_steps = [r["first_escape_step"] for r in noisy]
        s2["runs"][key] = {
            "offset": _run_json(off),
            "on_manifold": {**_run_json(man), "max_abs_x": float(np.max(np.abs(man["trajectory"][:, 0])))},
            "noisy": [_run_json(r) for r in noisy],
            "noisy_escape_steps": noisy_steps,
            "predicted_escape_steps": predicted_escape_steps(c.start_2d[0], c.lr_2d, lam, radius),
            "growth_rate": saddle_growth_rate(c.lr_2d, lam),
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
                                    c.finite_offset_seed, radius) for b in bss]
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
    fs["collapse"] = {case: collapse_stats(cells[cells["case"] == case], y="escape_fraction")
                      for case in FINITE_CASES} if len(cells) else {}
    return finite({"config": dataclasses.asdict(c), "lambdas": lambdas, "surface_1d": s1, "surface_2d": s2, "finite_sum": fs,
                   "weighted_sum_check": ws, "summary": summary, "seconds": time.perf_counter() - t0})
