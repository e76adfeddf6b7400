"""One-dimensional views of the loss landscape (arrays only; the figures are in report/plots/sharpness.py).

* Linear interpolation between two solutions (Goodfellow et al. 2015; Keskar et al. 2017,
  "On Large-Batch Training ...", Figure 3): θ(α) = α·θ_b + (1−α)·θ_a, a = small-batch,
  b = large-batch solution; loss and accuracy on each split along α.
* Filter-normalized random direction (Li et al. 2018, "Visualizing the Loss Landscape of
  Neural Nets"): d ~ N(0, I), each filter rescaled d_i ← d_i / ‖d_i‖ · ‖θ_i‖ (a filter =
  a row of a weight matrix, an output channel of a conv weight), 1-D parameters (biases)
  zeroed; the curve f(θ + t·d).

Every evaluation goes through torch.func.functional_call with parameters computed from
the saved weights, so the model itself is never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch.func import functional_call

from batch_momentum.io import tables as T
from batch_momentum.training.models import eval_mode, loss_and_accuracy


def _evaluate(
    model: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int | None = None,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` with parameters/buffers `state` on (x, y)
    (models.loss_and_accuracy). Cost: one forward pass over x (in chunks of batch_size if given)."""
    loss, acc = loss_and_accuracy(lambda xb: functional_call(model, dict(state), (xb,)).unsqueeze(0), x, y, batch_size)
    return loss.item(), acc.item()


def interpolate(
    model: torch.nn.Module | Callable[[], torch.nn.Module],
    state_a: Mapping[str, torch.Tensor],
    state_b: Mapping[str, torch.Tensor],
    splits: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    alphas: Iterable[float],
    batch_size: int | None = None,
) -> dict:
    """Loss and accuracy along θ(α) = α·θ_b + (1−α)·θ_a (Keskar et al. 2017, Figure 3).

    model: the architecture, as a module or a zero-argument factory that builds one; only
    its structure is used (its own weights are neither read nor changed).
    state_a, state_b: state_dicts of the two solutions (a = small batch, b = large batch),
    same keys; floating-point entries are interpolated, others (integer buffers) taken from a.
    splits: {name: (x, y)}, e.g. {"train": ..., "test": ...}.
    Returns plain lists: {T.ALPHA: [...], T.loss_column(name): [...], T.acc_column(name): [...]}.
    At α = 0 and α = 1 the saved states are used as they are (exactly θ_a and θ_b).
    Cost: len(alphas) × one forward pass over every split.
    """
    if not isinstance(model, torch.nn.Module):
        model = model()
    if set(state_a) != set(state_b):
        raise ValueError(
            f"state_a and state_b differ in keys {sorted(set(state_a) ^ set(state_b))}: "
            f"interpolate two checkpoints of the same architecture"
        )
    alphas = [float(a) for a in alphas]
    out: dict[str, list] = {T.ALPHA: alphas}
    for name in splits:
        out[T.loss_column(name)], out[T.acc_column(name)] = [], []
    with eval_mode(model):
        for a in alphas:
            if a == 0.0 or a == 1.0:  # the saved end points themselves (even if one holds inf/nan)
                state = dict(state_a if a == 0.0 else state_b)
            else:
                state = {
                    k: (a * state_b[k] + (1.0 - a) * v) if torch.is_floating_point(v) else v for k, v in state_a.items()
                }
            for name, (x, y) in splits.items():
                loss, acc = _evaluate(model, state, x, y, batch_size)
                out[T.loss_column(name)].append(loss)
                out[T.acc_column(name)].append(acc)
    return out


def filter_normalized_direction(model: torch.nn.Module, seed: int) -> list[torch.Tensor]:
    """A random direction d shaped like model.parameters() (Li et al. 2018).

    d ~ N(0, I) from torch.Generator().manual_seed(seed); for each parameter with ≥ 2
    dimensions, every filter d[i] (index i along dim 0: a row of a Linear weight, an output
    channel of a conv weight) is rescaled to ‖θ[i]‖: d[i] ← d[i] / ‖d[i]‖ · ‖θ[i]‖.
    Parameters with ≤ 1 dimension (biases, norm scales) are zeroed.
    """
    gen = torch.Generator().manual_seed(seed)
    dirs = []
    for p in model.parameters():
        p = p.detach()
        d = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)  # CPU draw: same d on any device
        if p.dim() <= 1:
            d.zero_()
        else:
            dn = d.reshape(d.shape[0], -1).norm(dim=1)  # (filters,)
            pn = p.reshape(p.shape[0], -1).norm(dim=1)  # (filters,)
            scale = pn / dn.clamp_min(1e-12)
            d = d * scale.view(-1, *([1] * (p.dim() - 1)))
        dirs.append(d)
    return dirs


def direction_curve(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ts: Sequence[float],
    seed: int = 0,
    direction: Sequence[torch.Tensor] | None = None,
    batch_size: int | None = None,
) -> dict:
    """Loss and accuracy along θ + t·d, d = filter_normalized_direction(model, seed)
    (or `direction`), for t in ts (Li et al. 2018, 1-D plot).

    Returns T.DIRECTION_ROW's lists, {T.T: [...], T.LOSS: [...], T.ACC: [...]}; the model is unchanged.
    Cost: len(ts) forward passes over x.
    """
    if direction is None:
        direction = filter_normalized_direction(model, seed)
    names = [n for n, _ in model.named_parameters()]
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    out: dict[str, list] = {T.T: [float(t) for t in ts], T.LOSS: [], T.ACC: []}
    with eval_mode(model):
        for t in out[T.T]:
            state = {n: base[n] + t * d for n, d in zip(names, direction)}
            state.update(buffers)
            loss, acc = _evaluate(model, state, x, y, batch_size)
            out[T.LOSS].append(loss)
            out[T.ACC].append(acc)
    return out


def direction_curves_stacked(
    net,
    models: Sequence[torch.nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    ts: Sequence[float],
    seeds: Sequence[int],
    batch_size: int | None = None,
) -> list[dict]:
    """direction_curve of every model of a stack at once: model s along its own
    filter_normalized_direction(models[s], seeds[s]), one stacked forward over x per t.

    net: the training.stacked.StackedNet of `models` (their weights, same order). Returns one
    T.DIRECTION_ROW dict per model, the same numbers as direction_curve(models[s], x, y, ts,
    seed=seeds[s]) up to float rounding. A model with non-finite weights spoils only its own curve.
    Cost: len(ts) stacked forward passes over x.
    """
    from batch_momentum.training import stacked

    if len(seeds) != len(models) or net.size != len(models):
        raise ValueError(f"{len(seeds)} seeds, {len(models)} models and a stack of {net.size}: one seed per model")
    base = stacked.flat_stack(net)  # (S, n)
    d = torch.stack(
        [torch.cat([t.reshape(-1) for t in filter_normalized_direction(m, s)]) for m, s in zip(models, seeds)]
    )
    d = d.to(base.device, base.dtype)
    ts = [float(t) for t in ts]
    curves = [{T.T: list(ts), T.LOSS: [], T.ACC: []} for _ in models]
    for t in ts:
        ps = stacked.unflatten_stack(net, base + t * d)
        loss, acc = loss_and_accuracy(lambda xb, ps=ps: net.forward(xb, ps), x, y, batch_size)
        for c, lv, av in zip(curves, loss.tolist(), acc.tolist()):
            c[T.LOSS].append(lv)
            c[T.ACC].append(av)
    return curves
