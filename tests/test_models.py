"""models.loss_and_accuracy, the one measure of a split's mean cross-entropy and accuracy (of one
model, of a stack, and of weights set through functional_call): closed form, chunks, stacks."""

import math

import pytest
import torch
import torch.nn.functional as F

from batch_momentum.training import models
from batch_momentum.training.stacked import StackedNet


def _logits(n, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, classes, generator=g), torch.randint(0, classes, (n,), generator=g)


def test_closed_form_on_given_logits():
    # logits (2, 2): example 0 right with margin ln 3 (p = 3/4), example 1 a tie (p = 1/2, argmax class 0, wrong)
    z = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    y = torch.tensor([0, 1])
    loss, acc = models.loss_and_accuracy(lambda xb: xb.unsqueeze(0), z, y)
    assert loss.shape == acc.shape == (1,) and loss.dtype == acc.dtype == torch.float64
    assert loss.item() == pytest.approx((math.log(4 / 3) + math.log(2)) / 2, rel=1e-6)
    assert acc.item() == 0.5


def test_one_chunk_is_exactly_cross_entropy_and_chunks_agree_to_rounding():
    z, y = _logits(1000)
    one_loss, one_acc = models.loss_and_accuracy(lambda xb: xb.unsqueeze(0), z, y, chunk=None)
    assert one_loss.item() == F.cross_entropy(z, y).item()  # the float32 mean itself
    assert one_acc.item() == (z.argmax(1) == y).sum().item() / 1000
    for chunk in (1, 7, 256, 999, 1000, 8192):
        loss, acc = models.loss_and_accuracy(lambda xb: xb.unsqueeze(0), z, y, chunk=chunk)
        assert loss.item() == pytest.approx(one_loss.item(), rel=1e-6) and acc.item() == one_acc.item(), chunk
    exact = (torch.logsumexp(z.double(), 1) - z.double()[torch.arange(1000), y]).mean().item()
    assert one_loss.item() == pytest.approx(exact, rel=1e-6)


def test_each_model_of_a_stack_is_measured_as_alone():
    torch.manual_seed(0)
    nets = [models.make_model("mlp", (40,), 10, [16]) for _ in range(3)]
    x, y = torch.randn(300, 40), torch.randint(0, 10, (300,))
    stack = StackedNet(nets, (40,))
    losses, accs = models.loss_and_accuracy(stack.forward, x, y, chunk=128)
    assert losses.shape == accs.shape == (3,)
    for net, loss, acc in zip(nets, losses.tolist(), accs.tolist()):
        alone = models.model_loss_and_accuracy(net, x, y)
        assert loss == pytest.approx(alone[0], rel=1e-5) and acc == pytest.approx(alone[1], abs=1 / 300)
    assert len(set(losses.tolist())) == 3  # three models, three numbers


def test_one_model_is_measured_in_eval_mode_and_left_in_its_own():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.9))  # dropout: eval mode matters
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    net.train()
    loss, acc = models.model_loss_and_accuracy(net, x, y)
    assert net.training
    net.eval()
    with torch.no_grad():
        out = net(x)
    assert loss == F.cross_entropy(out, y).item() and acc == (out.argmax(1) == y).sum().item() / 50
