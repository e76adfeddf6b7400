"""The models of the grid: small enough to train many cells on a laptop CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from batch_momentum.config import Params

EVAL_CHUNK = 8192  # examples per forward pass when measuring a whole split on a GPU ...
# ... and on a CPU, where a stack's activations then stay in cache: 40 stacked MLPs 40-256-256-10 took
# 0.5 s for 4000 examples in chunks of 512 and 0.8-1.4 s in one pass (the training loop measures the
# training and validation splits after every epoch: at B = 512 more time than the epoch's 8 updates)
CPU_EVAL_CHUNK = 512


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


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put `model` in eval mode for the block, restoring its previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def loss_and_accuracy(
    logits: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, chunk: int | None = -1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy over a whole split (x, y) of S models at once, `chunk` examples
    per forward pass (-1: CPU_EVAL_CHUNK on a CPU, EVAL_CHUNK elsewhere; None: the whole split in one).
    logits(x[lo:hi]) is (S, b, classes): a stacked network's forward, or one model's logits with
    unsqueeze(0). Returns two (S,) float64 tensors on x's device (no host sync): each model's loss is
    the mean of its chunks' mean cross-entropies (F.cross_entropy, in the logits' dtype) weighted by
    their sizes, in float64, so with one chunk it is exactly F.cross_entropy over the split; its
    accuracy is the fraction of correct argmaxes."""
    n = len(y)
    if chunk == -1:
        chunk = CPU_EVAL_CHUNK if x.device.type == "cpu" else EVAL_CHUNK
    chunk = chunk or n
    loss = correct = 0
    for lo in range(0, n, chunk):
        out, yb = logits(x[lo : lo + chunk]), y[lo : lo + chunk]  # (S, b, classes), (b,)
        # (S,): one 2-D call per model, deterministic on CUDA (nll_loss2d's mean over (S, C, b) uses atomics)
        means = torch.stack([F.cross_entropy(o, yb) for o in out])
        loss = loss + means.double() * len(yb)
        correct = correct + (out.argmax(2) == yb).sum(1)
    return loss / n, correct.double() / n


def model_loss_and_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """loss_and_accuracy of one model in eval mode (its mode restored after), read back to the host."""
    with eval_mode(model):
        loss, acc = loss_and_accuracy(lambda xb: model(xb).unsqueeze(0), x, y)
    return loss.item(), acc.item()  # CPU-GPU sync point
