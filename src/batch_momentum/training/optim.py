"""Gradient descent with momentum, written exactly as in the lecture.

    m^0 = 0,   m^t = lambda * m^{t-1} - eta * g^{t-1},   theta^t = theta^{t-1} + m^t

Unrolled, m^t = -eta * sum_{i<t} lambda^{t-1-i} g^i: the movement is a weighted sum of
every earlier gradient. torch.optim.SGD keeps v <- mu*v + g, p <- p - lr*v instead; with
a constant learning rate the two agree (m = -lr*v, lambda = mu) and differ only when eta
changes during training, because the lecture's m already carries the old eta.
"""

from __future__ import annotations

import torch


def momentum_step(theta: torch.Tensor, m: torch.Tensor, grad: torch.Tensor, lr: float, lam: float):
    """One update of the lecture's rule; returns new (theta, m) without touching the inputs."""
    m_new = lam * m - lr * grad
    return theta + m_new, m_new


@torch.no_grad()
def momentum_update_(params, grads, ms, lr, lam: float) -> None:
    """The same rule in place on lists of tensors: m <- lam*m - eta*g, theta <- theta + m.
    Three foreach calls whatever the number of tensors (the per-update overhead matters at
    small batch sizes). `lr` is one eta, or for stacked models (leading model dimension) a
    tensor (S,) of one eta per model."""
    torch._foreach_mul_(ms, lam)
    if torch.is_tensor(lr):
        steps = torch._foreach_mul(grads, [lr.view(-1, *[1] * (g.dim() - 1)) for g in grads])
        torch._foreach_sub_(ms, steps)
    else:
        torch._foreach_add_(ms, grads, alpha=-lr)
    torch._foreach_add_(params, ms)


class LectureMomentum(torch.optim.Optimizer):
    """SGD with the lecture's momentum (m = lambda*m - eta*g; theta = theta + m), in place.
    lr > 0 and 0 <= momentum < 1 come from params, checked once by config.validate."""

    def __init__(self, params, lr: float, momentum: float):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            ps = [p for p in group["params"] if p.grad is not None]
            for p in ps:
                if "m" not in self.state[p]:
                    self.state[p]["m"] = torch.zeros_like(p)
            if ps:
                momentum_update_(
                    ps, [p.grad for p in ps], [self.state[p]["m"] for p in ps], group["lr"], group["momentum"]
                )
        return loss
