"""The rescaling check (Dinh et al. 2017, "Sharp minima can generalize for deep nets").

For a ReLU network, relu(αz) = α·relu(z) for α > 0, so multiplying layer 1's weights and biases by α
and layer 2's weights by 1/α leaves every output the same. In flat coordinates this is θ' = Dθ with D
diagonal (α on layer 1, 1/α on layer 2's weights, 1 elsewhere) and f'(θ') = f(θ): the Hessian becomes
D⁻¹HD⁻¹ and Keskar's box ε(|θ'|+1) is another box in the old coordinates, so those measures change
while the function does not. The adaptive box ρ|θ'| = Dρ|θ| follows D, so the adaptive sharpness stays.

check_run measures one trained run before and after the rescaling, every measure of the run tables,
as rows of T.RESCALING_ROW. An MLP with at least one hidden layer can be rescaled; a linear model
(one layer) and a CNN are skipped with the reason.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from batch_momentum.io import tables as T

ALPHA = 10.0  # the factor of layer 1 (layer 2: 1/ALPHA)


def why_not(model: nn.Module) -> str | None:
    """Why the model cannot be rescaled this way (None: it can): it must be Linear → ReLU → Linear → …"""
    if any(isinstance(m, nn.Conv1d | nn.Conv2d) for m in model.modules()):
        return "a CNN: the check rescales the first two dense layers of an MLP"
    layers = [m for m in model.modules() if not isinstance(m, nn.Sequential | nn.Flatten)]
    kinds = [type(m) for m in layers]
    if kinds[:3] != [nn.Linear, nn.ReLU, nn.Linear]:
        return "a model without a hidden ReLU layer (linear): there is no second layer to scale by 1/α"
    return None


def rescale(model: nn.Module, alpha: float = ALPHA) -> nn.Module:
    """A copy of the model with layer 1's weights and biases × alpha and layer 2's weights × 1/alpha:
    the same function (ReLU is positively homogeneous). The model is not touched."""
    reason = why_not(model)
    if reason is not None:
        raise ValueError(f"cannot rescale {reason}")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha = {alpha!r}: the rescaling factor must be a positive number")
    out = copy.deepcopy(model)
    first, second = [m for m in out.modules() if isinstance(m, nn.Linear)][:2]
    with torch.no_grad():
        first.weight.mul_(alpha)
        first.bias.mul_(alpha)
        second.weight.div_(alpha)
    return out


def rows(cell: str, before: dict, after: dict, measures, alpha: float = ALPHA) -> list[dict]:
    """T.RESCALING_ROW rows: each measure (column, label) before and after the rescaling, and after/before."""
    out = []
    for column, label in measures:
        b, a = before.get(column), after.get(column)
        b = float("nan") if b is None else float(b)
        a = float("nan") if a is None else float(a)
        out.append(
            {
                T.CELL: cell,
                T.ALPHA_SCALE: alpha,
                T.MEASURE: label,
                T.BEFORE: b,
                T.AFTER: a,
                T.RATIO: a / b if b != 0 else float("nan"),
            }
        )
    return out


def skipped(cell: str, reason: str, alpha: float = ALPHA) -> list[dict]:
    """The one row of a run that was not checked, its measure saying why."""
    nan = float("nan")
    return [
        {T.CELL: cell, T.ALPHA_SCALE: alpha, T.MEASURE: f"skipped: {reason}", T.BEFORE: nan, T.AFTER: nan, T.RATIO: nan}
    ]


def check_run(model: nn.Module, metrics: dict, params, blob: dict, device, measures, log=print) -> list[dict]:
    """The rescaling check of one trained run: `metrics` its measures at the trained weights (the
    evaluate step's, taken as they are), the rescaled copy measured the same way (a stack of one,
    measures.evaluation.sharpness_measures_stacked, the run's seed). A run that did not train (status not
    ok, non-finite loss) or a model that cannot be rescaled gives one skipped row."""
    from batch_momentum.io.status import Status
    from batch_momentum.measures import evaluation
    from batch_momentum.training import stacked

    cell = metrics[T.CELL]
    if metrics[T.STATUS] != Status.OK or not math.isfinite(metrics[T.TRAIN_LOSS]):
        return skipped(cell, f"the run did not train (status {metrics[T.STATUS]})")
    reason = why_not(model)
    if reason is not None:
        return skipped(cell, reason)
    scaled = rescale(model)
    net = stacked.StackedNet([scaled], blob["meta"]["input_shape"], device)
    sh = params.sharpness
    xs, ys = blob["x_train"][: sh.subset], blob["y_train"][: sh.subset]
    clock = evaluation._Clock(f"{cell} rescaled by α={ALPHA:g}", 1, log)
    (after,) = evaluation.sharpness_measures_stacked(net, xs, ys, sh, [int(metrics[T.SEED])], clock)
    return rows(cell, metrics, after, measures)
