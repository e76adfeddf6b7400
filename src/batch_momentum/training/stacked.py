"""S copies of one model trained as a single network: every weight gets a leading model
dimension, one forward and one backward serve all S, and each copy keeps its own
initial weights, batches and momentum buffer, so it trains exactly as it would alone.

At small batch sizes the cost of an update is per-call overhead, not arithmetic, so S
copies cost little more than one (measured in the README with `batch_momentum bench`).

Shapes: inputs (S, B, *input_shape), logits (S, B, classes).
Linear:  y_s = x_s W_s^T + b_s          one torch.baddbmm over the S copies
Conv:    the S copies as groups=S of one convolution over (B, S*C, ...) channels
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from batch_momentum.training.optim import momentum_update_

SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.Flatten, nn.Unflatten)


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's layers in forward order with their state_dict prefixes (Sequential only)."""
    out = []
    for prefix, mod in model.named_modules():
        if isinstance(mod, nn.Sequential):
            continue
        if not isinstance(mod, SUPPORTED):
            raise TypeError(
                f"stacked training supports {', '.join(t.__name__ for t in SUPPORTED)} inside "
                f"nn.Sequential; got {type(mod).__name__} at {prefix!r}"
            )
        out.append((prefix, mod))
    return out


class StackedNet:
    """S models of one architecture as stacked tensors. `params` are the leaves that train."""

    def __init__(self, models: list[nn.Module], input_shape, device: torch.device | str = "cpu"):
        self.template = models[0]
        self.input_shape = tuple(input_shape)
        self.layers = _leaves(self.template)
        self.keys = [k for k, _ in self.template.state_dict().items()]
        if any(len(list(m.buffers())) for m in models):
            raise TypeError("stacked training needs models without buffers (no batch norm)")
        states = [m.state_dict() for m in models]
        self.params = [torch.stack([s[k].detach() for s in states]).to(device).requires_grad_() for k in self.keys]
        self.index = {k: i for i, k in enumerate(self.keys)}

    @property
    def size(self) -> int:
        return self.params[0].shape[0]

    def forward(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        """x: (S, B, *input_shape), or (B, *input_shape) shared by all S; returns (S, B, classes)."""
        ps = self.params if params is None else params
        get = lambda pre, n: ps[self.index[f"{pre}.{n}"]]
        s = ps[0].shape[0]
        if x.dim() == len(self.input_shape) + 1:  # one input for all S: a view, no copy
            x = x.unsqueeze(0).expand(s, *x.shape)
        for prefix, mod in self.layers:
            if isinstance(mod, nn.Linear):
                w, b = get(prefix, "weight"), get(prefix, "bias")  # (S, out, in), (S, out)
                x = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
            elif isinstance(mod, nn.ReLU):
                x = torch.relu(x)
            elif isinstance(mod, nn.Flatten):
                x = x.flatten(2)
            elif isinstance(mod, nn.Unflatten):
                x = x.unflatten(2, mod.unflattened_size)
            else:  # Conv1d / Conv2d: S copies as groups of one convolution
                w, b = get(prefix, "weight"), get(prefix, "bias")  # (S, out, in, *k), (S, out)
                batch = x.shape[1]
                xs = x.transpose(0, 1).reshape(batch, s * x.shape[2], *x.shape[3:])
                conv = F.conv1d if isinstance(mod, nn.Conv1d) else F.conv2d
                y = conv(
                    xs,
                    w.reshape(-1, *w.shape[2:]),
                    b.reshape(-1),
                    stride=mod.stride,
                    padding=mod.padding,
                    dilation=mod.dilation,
                    groups=s,
                )
                x = y.reshape(batch, s, w.shape[1], *y.shape[2:]).transpose(0, 1)
        return x

    def state_dict(self, i: int) -> dict[str, torch.Tensor]:
        """Model i's weights, with the keys and shapes of the unstacked model, on the CPU."""
        return {k: p[i].detach().cpu().clone() for k, p in zip(self.keys, self.params)}

    def keep(self, rows: list[int]) -> None:
        """Drop every model not listed in `rows` (in place); the others keep training."""
        idx = torch.as_tensor(rows, device=self.params[0].device)
        self.params = [p.detach().index_select(0, idx).requires_grad_() for p in self.params]


def stacked_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over the S models of each model's mean cross-entropy: its gradient with respect to
    model s's weights is the gradient of model s's own mean loss. logits (S, B, C), y (S, B)."""
    s, b, c = logits.shape
    return F.cross_entropy(logits.reshape(s * b, c), y.reshape(s * b), reduction="sum") / b


class DenseTrainer:
    """Forward, backward and update of a stack of Linear/ReLU/Flatten models written out by
    hand: per layer three batched matmuls and no autograd graph, which is most of the cost
    of an update at small batch sizes on a CPU. Same numbers as autograd to float rounding.

    For mean cross-entropy over a batch of b examples with logits z = h_L and targets y:
        dz_L = (softmax(z_L) - onehot(y)) / b
        dW_l = dz_l^T h_{l-1},  db_l = sum_b dz_l,  dz_{l-1} = (dz_l W_l) * [z_{l-1} > 0]

    The momentum step is fused into the backward pass; the mathematics is the lecture's rule
    (m = lambda*m - eta*g; theta = theta + m, momentum_update_) unchanged. Every gradient above
    is linear in dz_L, so scaling model s's dz_L by -eta_s makes each dW, db come out as
    -eta_s*g already, and the weight gradient's matmul adds it to the momentum in place:
        m_W <- lambda*m_W + (-eta dz_l)^T h_{l-1}    (baddbmm_, beta = lambda)
        m_b <- lambda*m_b + sum_b (-eta dz_l)
        theta <- theta + m                         (one foreach call)
    Two passes over the weights (the matmul's read-modify-write of m, then theta += m) instead
    of the unfused rule's five and a temporary the size of the gradients for one eta per model.
    `m` is the lecture's momentum buffer, in the order of net.params, updated in place (its
    tensors keep their addresses: a captured CUDA graph replays the update).
    """

    @staticmethod
    def supports(net: StackedNet) -> bool:
        kinds = [type(m) for _, m in net.layers]
        return all(k in (nn.Linear, nn.ReLU, nn.Flatten) for k in kinds) and (
            len(net.input_shape) == 1 or kinds[0] is nn.Flatten
        )

    def __init__(self, net: StackedNet, lr, momentum: float):
        self.net, self.lr, self.lam = net, _per_model(lr, net), momentum
        self.linear = [prefix for prefix, m in net.layers if isinstance(m, nn.Linear)]
        self.relu_after = [
            i + 1 < len(net.layers) and isinstance(net.layers[i + 1][1], nn.ReLU)
            for i, (_, m) in enumerate(net.layers)
            if isinstance(m, nn.Linear)
        ]
        self.m = [torch.zeros_like(p) for p in net.params]
        self._refresh()
        self.classes = torch.arange(self.b[-1].shape[1], device=self.b[-1].device)  # the output layer's classes

    def _refresh(self):
        ps, ix = self.net.params, self.net.index
        self.w = [ps[ix[f"{k}.weight"]] for k in self.linear]
        self.b = [ps[ix[f"{k}.bias"]] for k in self.linear]
        # the momentum buffers of each layer's weight and bias: views of self.m, updated in place
        self.mw = [self.m[ix[f"{k}.weight"]] for k in self.linear]
        self.mb = [self.m[ix[f"{k}.bias"]] for k in self.linear]
        # -eta per model, shaped to scale dz (S, b, classes); a number when all models share one eta
        self.neg_lr = -self.lr.view(-1, 1, 1) if torch.is_tensor(self.lr) else -self.lr

    @torch.no_grad()
    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One update of every model on its own batch: x (S, b, *input_shape), y (S, b)."""
        s, b = y.shape
        h = [x.reshape(s, b, -1)]
        pre = []
        for w, bias, relu in zip(self.w, self.b, self.relu_after):
            z = torch.baddbmm(bias.unsqueeze(1), h[-1], w.transpose(1, 2))  # (S, b, out)
            pre.append(z)
            h.append(torch.relu(z) if relu else z)
        dz = torch.softmax(h[-1], dim=2)
        # minus the one-hot targets, as a comparison: elementwise, so deterministic on CUDA and
        # free of host syncs inside a CUDA graph (scatter_add_ on CUDA is neither guaranteed)
        dz.sub_((y.unsqueeze(2) == self.classes).to(dz.dtype))
        dz.div_(b)
        dz.mul_(self.neg_lr)  # from here on every gradient is -eta_s * g of its model s
        lam = self.lam
        for layer in range(len(self.w) - 1, -1, -1):
            dzt = dz.transpose(1, 2)  # (S, out, b)
            self.mw[layer].baddbmm_(dzt, h[layer], beta=lam)  # m_W <- lam*m_W - eta*dW, (S, out, in)
            self.mb[layer].mul_(lam).add_(dz.sum(dim=1))  # m_b <- lam*m_b - eta*db, (S, out)
            if layer:
                dh = torch.bmm(dz, self.w[layer])  # (S, b, in), with the weights before this update
                # times [z > 0] as autograd's ReLU backward does it: one elementwise kernel (a multiply
                # by the bool mask costs about ten times as much on the CPU, most of an update at B=512)
                dz = torch.ops.aten.threshold_backward(dh, pre[layer - 1], 0) if self.relu_after[layer - 1] else dh
        torch._foreach_add_(self.net.params, self.m)  # theta <- theta + m

    def keep(self, rows: list[int]) -> None:
        self.net.keep(rows)
        idx = torch.as_tensor(rows, device=self.m[0].device)
        self.m = [m.index_select(0, idx) for m in self.m]
        self.lr = self.lr.index_select(0, idx) if torch.is_tensor(self.lr) else self.lr
        self._refresh()


class StackedMomentum:
    """The lecture's momentum (m = lambda*m - eta*g; theta = theta + m) on stacked weights;
    each model's rows of m are its own buffer."""

    def __init__(self, net: StackedNet, lr, momentum: float):
        self.net, self.lr, self.lam = net, _per_model(lr, net), momentum
        self.m = [torch.zeros_like(p) for p in net.params]

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One update of every model on its own batch: x (S, b, *input_shape), y (S, b)."""
        stacked_loss(self.net.forward(x), y).backward()
        ps = self.net.params
        momentum_update_(ps, [p.grad for p in ps], self.m, self.lr, self.lam)
        for p in ps:
            p.grad = None

    def keep(self, rows: list[int]) -> None:
        self.net.keep(rows)
        idx = torch.as_tensor(rows, device=self.m[0].device)
        self.m = [m.index_select(0, idx) for m in self.m]
        self.lr = self.lr.index_select(0, idx) if torch.is_tensor(self.lr) else self.lr


def _per_model(lr, net: StackedNet):
    """One eta for every model (a number), or a list of one eta per model as a (S,) tensor."""
    if isinstance(lr, (int, float)):
        return float(lr)
    lr = torch.as_tensor(list(lr), dtype=net.params[0].dtype, device=net.params[0].device)
    if lr.shape != (net.size,):
        raise ValueError(f"{lr.numel()} learning rates for {net.size} stacked models")
    return lr


def trainer(net: StackedNet, lr, momentum: float):
    """The hand-written update for dense models, autograd for the others (convolutions).
    lr: one eta for all models, or a list of one eta per model."""
    return (DenseTrainer if DenseTrainer.supports(net) else StackedMomentum)(net, lr, momentum)


# ----------------------------------------------------------------------------- flat stacked weights
def flat_stack(net: StackedNet) -> torch.Tensor:
    """The S models' weights as one detached (S, n) matrix: row s is model s's flat parameter
    vector in named_parameters order (the order of hessian.flat_params on the unstacked model)."""
    return torch.cat([p.detach().reshape(net.size, -1) for p in net.params], dim=1).clone()


def unflatten_stack(net: StackedNet, theta: torch.Tensor) -> list[torch.Tensor]:
    """Views of a (k, n) matrix of flat weights (k models, any k) shaped like net.params: (k, *shape)."""
    shapes = [p.shape[1:] for p in net.params]
    parts = theta.split([s.numel() for s in shapes], dim=1)
    return [t.reshape(theta.shape[0], *s) for t, s in zip(parts, shapes)]


def per_model_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each model's mean cross-entropy, (S,): logits (S, B, C), y (B,) shared by all S models. A model
    with non-finite logits gets a non-finite loss of its own; the others' rows are untouched."""
    s, b, _ = logits.shape
    return F.cross_entropy(logits.transpose(1, 2), y.unsqueeze(0).expand(s, b), reduction="none").mean(dim=1)


def stacked_loss_function(net: StackedNet, x: torch.Tensor, y: torch.Tensor):
    """F(Θ) = (f_1(θ_1), ..., f_k(θ_k)): the mean cross-entropy on (x, y) of each row of a (k, n)
    matrix of flat weights (k <= S models of net's architecture), (k,). The rows do not interact:
    the Hessian of sum(F) is block diagonal, block s the Hessian of f_s. Cost: one stacked forward."""

    def losses(theta: torch.Tensor) -> torch.Tensor:
        return per_model_loss(net.forward(x, unflatten_stack(net, theta)), y)

    return losses
