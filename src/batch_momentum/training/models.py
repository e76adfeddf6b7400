"""The models of the grid: small enough to train many cells on a laptop CPU."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from batch_momentum.config import Params

EVAL_CHUNK = 8192  # examples per forward pass when measuring a whole split


def make_model(name: str, input_shape: tuple[int, ...], n_classes: int, hidden, head=()) -> nn.Module:
    """Build a model for inputs of `input_shape` (without the batch dimension).

    linear: one affine map of the flattened input.
    mlp:    flattened input -> Linear+ReLU per width in `hidden` -> n_classes.
    cnn:    1-D inputs (L,) or (C, L): Conv1d+ReLU per entry of `hidden` (channels,
            kernel 5, stride 2), then Linear+ReLU per width in `head`, then a linear output.
            Images (C, H, W) use Conv2d likewise: hidden [64, 64], head [384, 192] on
            CIFAR-10 is Keskar et al.'s C1 with stride-2 convolutions in place of max-pooling
            and without batch norm (stacked training needs neither).
    """
    n_in = 1
    for d in input_shape:
        n_in *= d
    if name == "linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_classes))
    if name == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        return nn.Sequential(*layers)
    if name == "cnn":
        image = len(input_shape) == 3
        conv = nn.Conv2d if image else nn.Conv1d
        channels = input_shape[0] if len(input_shape) >= 2 else 1
        layers = [] if len(input_shape) >= 2 else [nn.Unflatten(1, (1, input_shape[0]))]
        for h in hidden:
            layers += [conv(channels, h, kernel_size=5, stride=2, padding=2), nn.ReLU()]
            channels = h
        body = nn.Sequential(*layers)
        with torch.no_grad():
            width = body(torch.zeros(1, *input_shape)).numel()
        dense: list[nn.Module] = []
        for h in head:
            dense += [nn.Linear(width, h), nn.ReLU()]
            width = h
        return nn.Sequential(body, nn.Flatten(), *dense, nn.Linear(width, n_classes))
    raise ValueError(f"model.name = {name!r} is unknown; allowed: linear, mlp, cnn")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(params: Params, meta: dict) -> nn.Module:
    """The model params' model section names, for the prepared data described by `meta`."""
    m = params.model
    return make_model(m.name, tuple(meta["input_shape"]), meta["n_classes"], m.hidden, m.head)


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split, in eval mode (one host sync at the end)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for lo in range(0, len(y), EVAL_CHUNK):
        out = model(x[lo:lo + EVAL_CHUNK])
        loss_sum += F.cross_entropy(out, y[lo:lo + EVAL_CHUNK], reduction="sum").double()
        correct += (out.argmax(1) == y[lo:lo + EVAL_CHUNK]).sum()
    model.train(was_training)
    n = len(y)
    return loss_sum.item() / n, correct.item() / n  # CPU-GPU sync point
