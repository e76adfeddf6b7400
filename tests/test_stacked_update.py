"""DenseTrainer.update, the momentum step fused into the hand-written backward pass, against the
lecture's rule written out unfused: autograd's gradient of each model, then momentum_step
(m = lambda*m - eta*g; theta = theta + m) model by model. In float64, so the agreement is tight."""

import pytest
import torch
from torch import nn

from batch_momentum.training.optim import momentum_step
from batch_momentum.training.stacked import DenseTrainer, StackedNet, stacked_loss

F64 = torch.float64
LRS = [0.3, 0.02, 0.1, 0.05]


def tiny_models(n, seed=0):
    torch.manual_seed(seed)
    return [
        nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)).double()
        for _ in range(n)
    ]


class Unfused:
    """The reference: per model, the gradient of its own mean cross-entropy by autograd, then
    the lecture's rule by momentum_step on every tensor."""

    def __init__(self, models, lrs, lam):
        self.thetas = [[p.detach().clone() for p in m.parameters()] for m in models]
        self.ms = [[torch.zeros_like(p) for p in th] for th in self.thetas]
        self.models, self.lrs, self.lam = models, list(lrs), lam

    def update(self, x, y):
        for s, model in enumerate(self.models):
            with torch.no_grad():
                for p, th in zip(model.parameters(), self.thetas[s]):
                    p.copy_(th)
            model.zero_grad()
            nn.functional.cross_entropy(model(x[s]), y[s]).backward()
            for i, p in enumerate(model.parameters()):
                self.thetas[s][i], self.ms[s][i] = momentum_step(
                    self.thetas[s][i], self.ms[s][i], p.grad, self.lrs[s], self.lam
                )

    def keep(self, rows):
        for name in ("thetas", "ms", "models", "lrs"):
            setattr(self, name, [getattr(self, name)[r] for r in rows])


def assert_same(tr: DenseTrainer, ref: Unfused):
    assert tr.net.size == len(ref.thetas)
    for s in range(tr.net.size):
        for i in range(len(tr.net.params)):
            # atol: the momentum of a weight whose ReLU never fired is exactly 0 on one side
            # and a rounding residue on the other
            torch.testing.assert_close(tr.net.params[i][s], ref.thetas[s][i], rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(tr.m[i][s], ref.ms[s][i], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("one_lr", [False, True])
def test_fused_update_is_the_lectures_rule_over_several_updates_and_after_keep(lam, one_lr):
    models = tiny_models(len(LRS))
    lrs = [0.1] * len(LRS) if one_lr else LRS
    net = StackedNet(tiny_models(len(LRS)), (2, 3))  # the same seed: the same initial weights
    tr = DenseTrainer(net, 0.1 if one_lr else lrs, lam)
    ref = Unfused(models, lrs, lam)
    assert isinstance(tr.lr, float) == one_lr
    gen = torch.Generator().manual_seed(1)
    ptrs = [t.data_ptr() for t in net.params + tr.m]

    def updates(n, b):
        for _ in range(n):
            s = net.size
            x, y = torch.randn(s, b, 2, 3, generator=gen, dtype=F64), torch.randint(0, 3, (s, b), generator=gen)
            tr.update(x, y)
            ref.update(x, y)

    updates(4, 8)
    updates(1, 5)  # a short last batch: 1/b with another b
    assert_same(tr, ref)
    assert any(m.abs().max() > 0 for m in tr.m)
    # in place: a captured CUDA graph replays the update on the same buffers
    assert [t.data_ptr() for t in net.params + tr.m] == ptrs
    tr.keep([3, 0, 2])  # seed 1 stops; the others go on, in another order
    ref.keep([3, 0, 2])
    if not one_lr:
        assert tr.lr.tolist() == [LRS[3], LRS[0], LRS[2]]
    assert_same(tr, ref)
    updates(5, 8)
    assert_same(tr, ref)
    tr.keep([1])
    ref.keep([1])
    updates(3, 4)
    assert_same(tr, ref)


def test_fused_update_agrees_with_autograd_through_the_stacked_loss():
    """The same gradients as autograd on the stacked network itself (stacked_loss), one update at lam=0."""
    net = StackedNet(tiny_models(len(LRS)), (2, 3))
    before = [p.detach().clone() for p in net.params]
    x = torch.randn(len(LRS), 7, 2, 3, dtype=F64)
    y = torch.randint(0, 3, (len(LRS), 7))
    stacked_loss(net.forward(x), y).backward()
    grads = [p.grad.clone() for p in net.params]
    tr = DenseTrainer(net, LRS, 0.0)
    tr.update(x, y)
    eta = torch.tensor(LRS, dtype=F64)
    for p, p0, g, m in zip(net.params, before, grads, tr.m):
        step = -eta.view(-1, *[1] * (g.dim() - 1)) * g
        torch.testing.assert_close(m, step, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(p.detach(), p0 + step, rtol=1e-12, atol=1e-15)


def test_one_linear_layer_in_closed_form():
    """Softmax regression from W = 0, b = 0: every class has probability 1/C, so the gradient is
    known, g_W = (1/C - onehot(y))^T x / B and g_b = mean_b (1/C - onehot(y)); with a momentum
    m0 already in the buffer, one update gives m1 = lam*m0 - eta*g and theta1 = m1."""
    c, d, b, lam = 3, 4, 6, 0.75
    lrs = [0.5, 0.125]
    models = [nn.Sequential(nn.Linear(d, c)).double() for _ in lrs]
    for m in models:
        nn.init.zeros_(m[0].weight)
        nn.init.zeros_(m[0].bias)
    tr = DenseTrainer(StackedNet(models, (d,)), lrs, lam)
    m0w = torch.arange(len(lrs) * c * d, dtype=F64).reshape(len(lrs), c, d) / 100
    m0b = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype=F64)
    wi, bi = tr.net.index["0.weight"], tr.net.index["0.bias"]
    tr.m[wi].copy_(m0w)
    tr.m[bi].copy_(m0b)
    x = torch.randn(len(lrs), b, d, dtype=F64)
    y = torch.tensor([[0, 1, 2, 2, 1, 0], [2, 2, 2, 0, 0, 1]])
    tr.update(x, y)
    dz = (1 / c - nn.functional.one_hot(y, c).to(F64)) / b  # (S, B, C)
    gw, gb = dz.transpose(1, 2) @ x, dz.sum(1)
    eta = torch.tensor(lrs, dtype=F64)
    m1w = lam * m0w - eta.view(-1, 1, 1) * gw
    m1b = lam * m0b - eta.view(-1, 1) * gb
    torch.testing.assert_close(tr.m[wi], m1w, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(tr.m[bi], m1b, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(tr.net.params[wi].detach(), m1w, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(tr.net.params[bi].detach(), m1b, rtol=1e-13, atol=1e-15)
