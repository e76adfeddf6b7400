"""The models of the grid: small enough to train many cells on a laptop CPU."""
from __future__ import annotations

import torch
from torch import nn


def make_model(name: str, input_shape: tuple[int, ...], n_classes: int, hidden=(256, 256)) -> nn.Module:
    """Build a model for inputs of `input_shape` (without the batch dimension).

    linear: one affine map of the flattened input.
    mlp:    flattened input -> Linear+ReLU per width in `hidden` -> n_classes.
    cnn:    1-D inputs (L,) or (C, L): Conv1d+ReLU per entry of `hidden` (channels,
            kernel 5, stride 2), then a linear head. Images (C, H, W) use Conv2d likewise.
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
            n_feat = body(torch.zeros(1, *input_shape)).numel()
        return nn.Sequential(body, nn.Flatten(), nn.Linear(n_feat, n_classes))
    raise ValueError(f"model.name = {name!r} is unknown; allowed: linear, mlp, cnn")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
