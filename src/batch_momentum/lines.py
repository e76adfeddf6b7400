"""1-D views of the loss surface: the line between two solutions, and a random direction.

Every point is set from the saved weights (theta_a, theta_b, theta + t d), never reached
by adding steps, so rounding does not accumulate along a curve (as in Li et al.'s
loss-landscape code). The model's own parameters are never changed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call


@torch.no_grad()
def _loss_acc(model, params: dict, x, y) -> tuple[float, float]:
    out = functional_call(model, params, (x,))
    return float(F.cross_entropy(out, y)), float((out.argmax(1) == y).double().mean())


def interpolate(model: torch.nn.Module, state_a: dict, state_b: dict, splits: dict, alphas) -> dict:
    """Loss and accuracy along theta(alpha) = alpha * theta_b + (1 - alpha) * theta_a.

    Keskar et al. 2017, Figure 3 (a = small-batch, b = large-batch solution). At alpha = 0
    and 1 the weights are theta_a and theta_b exactly. `splits`: name -> (x, y). Returns
    {"alpha": [...], "<split>_loss": [...], "<split>_acc": [...]}.
    """
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    out = {"alpha": [float(a) for a in alphas]}
    for split in splits:
        out[f"{split}_loss"], out[f"{split}_acc"] = [], []
    for a in alphas:
        params = {n: state_a[n] if a == 0 else state_b[n] if a == 1 else a * state_b[n] + (1 - a) * state_a[n]
                  for n in names}
        for split, (x, y) in splits.items():
            loss, acc = _loss_acc(model, params, x, y)
            out[f"{split}_loss"].append(loss)
            out[f"{split}_acc"].append(acc)
    return out


def filter_normalized_direction(model: torch.nn.Module, seed: int = 0) -> dict:
    """A Gaussian direction d with each filter rescaled to the norm of theta's filter (Li et al. 2018).

    A filter is a row of a weight matrix (an output unit) or an output channel of a
    convolution kernel: d_i <- d_i / |d_i| * |theta_i|. 1-D parameters (biases) get d = 0.
    """
    gen = torch.Generator().manual_seed(seed)
    d = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            d[name] = torch.zeros_like(p)
            continue
        r = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
        rows, prow = r.reshape(p.shape[0], -1), p.detach().reshape(p.shape[0], -1)
        scale = prow.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
        d[name] = (rows * scale).reshape(p.shape)
    return d


def direction_curve(model: torch.nn.Module, x, y, ts, seed: int = 0) -> dict:
    """Training loss and accuracy along theta + t d for a filter-normalized random d."""
    model.eval()
    base = {n: p.detach() for n, p in model.named_parameters()}
    d = filter_normalized_direction(model, seed)
    out = {"t": [float(t) for t in ts], "loss": [], "acc": []}
    for t in ts:
        loss, acc = _loss_acc(model, {n: base[n] + t * d[n] for n in base}, x, y)
        out["loss"].append(loss)
        out["acc"].append(acc)
    return out
