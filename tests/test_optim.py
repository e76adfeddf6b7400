"""The lecture's momentum rule: closed-form cases and agreement with torch.optim.SGD."""

import math

import pytest
import torch

from batch_momentum import config
from batch_momentum.training.optim import LectureMomentum, momentum_step


def test_momentum_step_follows_the_lecture_formula_on_a_constant_gradient():
    # With a constant gradient g, m^t = -eta*g*(1-lam^t)/(1-lam) and
    # theta^t = theta^0 - eta*g*sum_{k=1..t} (1-lam^k)/(1-lam).
    eta, lam, g = 0.1, 0.5, torch.tensor([2.0])
    theta, m = torch.tensor([1.0]), torch.zeros(1)
    expected_theta = 1.0
    for t in range(1, 6):
        theta, m = momentum_step(theta, m, g, eta, lam)
        m_closed = -eta * 2.0 * (1 - lam**t) / (1 - lam)
        expected_theta += m_closed
        assert torch.allclose(m, torch.tensor([m_closed]), atol=1e-7)
        assert torch.allclose(theta, torch.tensor([expected_theta]), atol=1e-7)


def test_momentum_is_the_weighted_sum_of_earlier_gradients():
    gen = torch.Generator().manual_seed(0)
    grads = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    eta, lam = 0.05, 0.9
    m = torch.zeros(3, dtype=torch.float64)
    theta = torch.zeros(3, dtype=torch.float64)
    for t in range(1, 8):
        theta, m = momentum_step(theta, m, grads[t - 1], eta, lam)
        weights = torch.tensor([lam ** (t - 1 - i) for i in range(t)], dtype=torch.float64)
        assert torch.allclose(m, -eta * (weights[:, None] * grads[:t]).sum(0), atol=1e-12)


def test_lambda_zero_is_plain_gradient_descent():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = LectureMomentum([p], lr=0.1, momentum=0.0)
    p.grad = torch.tensor([0.5, 0.5])
    opt.step()
    assert torch.allclose(p.detach(), torch.tensor([0.95, -2.05]))


def _train(opt_cls, kwargs, steps=25):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    x = torch.randn(64, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    opt = opt_cls(model.parameters(), **kwargs)
    for k in range(steps):
        idx = slice(8 * (k % 8), 8 * (k % 8) + 8)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_matches_torch_sgd_with_a_constant_learning_rate():
    ours = _train(LectureMomentum, dict(lr=0.05, momentum=0.9))
    theirs = _train(torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0, weight_decay=0))
    assert torch.allclose(ours, theirs, atol=1e-12)
    plain = _train(torch.optim.SGD, dict(lr=0.05, momentum=0.0))
    assert not torch.allclose(ours, plain, atol=1e-6)  # momentum really changes the path


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9])
def test_momentum_on_a_quadratic_is_stable_below_2_1_plus_lambda_over_eta(lam):
    """f(θ) = ½ θᵀ H θ with H = diag(h): heavy-ball momentum is stable iff η·h < 2(1 + λ) for every h
    (config.stability_threshold). Just below the threshold the loss shrinks; just above it grows."""
    lr = 0.1
    edge = config.stability_threshold(lr, lam)
    assert edge == pytest.approx(2 * (1 + lam) / lr)
    for top, stable in ((0.95 * edge, True), (1.05 * edge, False)):
        h = torch.tensor([0.1, 1.0, top], dtype=torch.float64)
        theta = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = LectureMomentum([theta], lr=lr, momentum=lam)
        for _ in range(3000):
            opt.zero_grad()
            (0.5 * (h * theta**2).sum()).backward()
            opt.step()
        size = float(theta.detach().abs().max())
        assert (size < 1e-3) if stable else (size > 1e3 or not math.isfinite(size)), (lam, top, size)
