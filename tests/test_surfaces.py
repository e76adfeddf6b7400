"""Tests of batch_momentum.surfaces: the critical points are where the tables say, of the kind they say."""

import math

import numpy as np
import pytest

from batch_momentum.critical import surfaces as sf
from batch_momentum.training.optim import momentum_step


@pytest.mark.parametrize("x", [p.point[0] for p in sf.CRITICAL_1D])
def test_1d_critical_points_are_zeros(x):
    assert sf.df1(x) == 0.0
    h = 1e-6  # and f itself is flat there, not only the formula for f'
    assert abs((sf.f1(x + h) - sf.f1(x - h)) / (2 * h)) < 1e-8


def test_1d_derivative_matches_finite_difference():
    xs = np.linspace(-1.2, 3.3, 37)
    h = 1e-6
    fd = (sf.f1(xs + h) - sf.f1(xs - h)) / (2 * h)
    np.testing.assert_allclose(sf.df1(xs), fd, rtol=1e-6, atol=1e-6)


def test_1d_kinds_match_second_derivative():
    h = 1e-4
    d2 = lambda x: (sf.df1(x + h) - sf.df1(x - h)) / (2 * h)
    for p in sf.CRITICAL_1D:
        x = p.point[0]
        if p.kind in ("local min", "global min"):
            assert d2(x) > 0.5
        elif p.kind == "local max":
            assert d2(x) < -0.5
        else:  # flat inflection: f'' = 0 and f keeps falling through it
            assert p.kind == "saddle/inflection"
            assert abs(d2(x)) < 1e-6 and sf.f1(x - 0.1) > sf.f1(x) > sf.f1(x + 0.1)
    mins = {p.kind: sf.f1(p.point[0]) for p in sf.CRITICAL_1D if "min" in p.kind}
    assert mins["global min"] < mins["local min"]
    assert max(p.point[0] for p in sf.CRITICAL_1D if p.kind == "local max") == sf.BARRIER_1D


@pytest.mark.parametrize("p", [c.point for c in sf.CRITICAL_2D])
def test_2d_critical_points_are_zeros(p):
    assert np.all(sf.df2(p) == 0.0)
    h = 1e-6
    fd = [(sf.f2(np.add(p, h * e)) - sf.f2(np.subtract(p, h * e))) / (2 * h) for e in np.eye(2)]
    assert np.max(np.abs(fd)) < 1e-8


def test_critical_point_values_closed_form():
    # f at the 1-D points: f(1) = 1/6 - 11/10 + 9/4 - 3/2 = -11/60, f(1.5) = -81/640, f(3) = -81/20
    values = {p.name: p.value for p in sf.CRITICAL_1D}
    assert values["flat saddle"] == 0.0
    assert values["shallow minimum"] == pytest.approx(-11 / 60, rel=1e-12)
    assert values["hill"] == pytest.approx(-81 / 640, rel=1e-12)
    assert values["deep minimum"] == pytest.approx(-81 / 20, rel=1e-12)
    assert [p.value for p in sf.CRITICAL_2D] == [0.25, 0.0, 0.0]  # saddle f = 1/4, minima 0


def test_2d_gradient_matches_finite_difference():
    h = 1e-6
    for p in np.random.default_rng(1).uniform(-1.5, 1.5, size=(10, 2)):
        fd = [(sf.f2(p + h * e) - sf.f2(p - h * e)) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(sf.df2(p), fd, rtol=1e-6, atol=1e-7)


def test_saddle_growth_rate_closed_form():
    # eta = 0.05, lam = 0.9: r^2 - 1.95 r + 0.9 = (r - 1.2)(r - 0.75), so r = 1.2; GD: r = 1 + eta
    assert sf.saddle_growth_rate(0.05, 0.9) == pytest.approx(1.2, rel=1e-12)
    assert sf.saddle_growth_rate(0.05, 0.0) == pytest.approx(1.05, rel=1e-12)
    # the lecture's update on the linearised saddle (g = f_xx x = -x) grows by r per step
    theta, m = np.array([1e-6]), np.zeros(1)
    xs = [theta[0]]
    for _ in range(100):
        theta, m = momentum_step(theta, m, -theta, 0.05, 0.9)
        xs.append(theta[0])
    assert xs[-1] / xs[-2] == pytest.approx(1.2, rel=1e-9)  # the 0.75 root has died out


def test_predicted_escape_steps_closed_form():
    assert sf.predicted_escape_steps(1e-6, 0.05, 0.9, 0.5) == pytest.approx(math.log(5e5) / math.log(1.2))
    assert sf.predicted_escape_steps(-1e-6, 0.05, 0.0, 0.5) == pytest.approx(math.log(5e5) / math.log(1.05))
    assert sf.predicted_escape_steps(0.7, 0.05, 0.0, 0.5) == 0.0  # already outside the radius
    assert sf.predicted_escape_steps(0.0, 0.05, 0.9, 0.5) == math.inf  # on the stable manifold
