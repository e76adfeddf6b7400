"""Surfaces whose critical points are known exactly, for the experiments of batch_momentum.critical.

Every function is float64 numpy and works on a point or on a stack of points.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CriticalPoint:
    """A critical point of one of these surfaces: its name, its kind ('local min', 'global min',
    'saddle/inflection', 'saddle' or 'local max'), its coordinates (d,) and f there."""

    name: str
    kind: str
    point: tuple[float, ...]
    value: float


# ----------------------------------------------------------------------------- 1-D surface
def f1(x):
    """f(x) = x^6/6 - 11/10 x^5 + 9/4 x^4 - 3/2 x^3 (f(0) = 0); see the module docstring."""
    x = np.asarray(x, dtype=np.float64)
    return x**6 / 6.0 - 1.1 * x**5 + 2.25 * x**4 - 1.5 * x**3


def df1(x):
    """f'(x) = x^2 (x - 1)(x - 3/2)(x - 3), a product so that the zeros are exact."""
    x = np.asarray(x, dtype=np.float64)
    return x * x * (x - 1.0) * (x - 1.5) * (x - 3.0)


CRITICAL_1D = tuple(
    CriticalPoint(name, kind, (x,), float(f1(x)))
    for name, kind, x in (
        ("flat saddle", "saddle/inflection", 0.0),  # f' = f'' = 0
        ("shallow minimum", "local min", 1.0),
        ("hill", "local max", 1.5),
        ("deep minimum", "global min", 3.0),
    )
)
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


CRITICAL_2D = tuple(
    CriticalPoint(name, kind, point, float(f2(point)))
    for name, kind, point in (
        ("saddle", "saddle", (0.0, 0.0)),  # Hessian diag(-1, 1)
        ("left minimum", "global min", (-1.0, 0.0)),
        ("right minimum", "global min", (1.0, 0.0)),
    )
)


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
