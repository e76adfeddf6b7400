"""Gradient noise: the lecture's row "gradient: small batch noisy, large batch stable".

Two measures, both from per-example gradients g_i (i = 1..n, each of P numbers):

* the simple gradient noise scale (McCandlish, Kaplan, Amodei et al. 2018, "An Empirical
  Model of Large-Batch Training", eq. 2.8 / appendix A):

      B_simple = tr(Sigma) / |G|^2,

  Sigma the per-example gradient covariance and G the mean (full-batch) gradient. The
  noise-to-signal ratio of a batch gradient of size B is E|g_B - G|^2 / |G|^2 = B_simple / B
  (sampling with replacement); B_simple estimates the critical batch size.

* the cosine between a random batch's mean gradient and the full mean gradient: near 1 when
  the batch gradient is stable, small when it is noisy. For a batch of B rows drawn without
  replacement from n, g_B = G + e with E|e|^2 = tr(Sigma) (1/B - 1/n) (finite-population
  correction), and e nearly orthogonal to G in high dimension, so
      cos ~ |G| / sqrt(|G|^2 + tr(Sigma) (1/B - 1/n)).

Per-example gradients come chunk by chunk: written out by hand for dense models
(Linear/ReLU: the gradient of a weight is the outer product dz_i h_i^T), from torch.func
(functional_call + vmap(grad)) for the others; the model-level functions stream over
chunks and never hold the (n, P) matrix. torch.func's grad imports torch._dynamo (about
3 s per process here), which the dense path never pays.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- per-example gradients


def iter_per_example_grads(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int = 256
) -> Iterator[torch.Tensor]:
    """Yield per-example gradients of CE(f(x_i), y_i), chunk by chunk, each (c, P).

    P = number of parameters, in model.parameters() order. Memory per chunk: c * P floats
    (plus vmap's activations for c examples); cost about one batched forward/backward.
    The model's mode (train/eval) is left as it is; vmap does not support BatchNorm in
    train mode.
    """
    dense = _dense_layers(model)
    if dense is not None:
        for start in range(0, x.shape[0], chunk_size):
            yield _dense_per_example(model, dense, x[start : start + chunk_size], y[start : start + chunk_size])
        return
    from torch.func import functional_call, grad, vmap

    names = [k for k, _ in model.named_parameters()]
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss_one(p, xi, yi):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0))

    per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))
    for start in range(0, x.shape[0], chunk_size):
        xb, yb = x[start : start + chunk_size], y[start : start + chunk_size]
        g = per_example(params, xb, yb)  # dict name -> (c, *shape)
        yield torch.cat([g[k].reshape(xb.shape[0], -1) for k in names], dim=1)


def _dense_layers(model: nn.Module):
    """[(Linear, relu_after)] for an nn.Sequential of Flatten/Linear/ReLU, else None."""
    if not isinstance(model, nn.Sequential) or not all(isinstance(m, (nn.Flatten, nn.Linear, nn.ReLU)) for m in model):
        return None
    mods = list(model)
    return [
        (m, i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU))
        for i, m in enumerate(mods)
        if isinstance(m, nn.Linear)
    ]


@torch.no_grad()
def _dense_per_example(model: nn.Module, layers, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example gradients (c, P) of CE(f(x_i), y_i) for a dense model, in parameter order.
    Backward by hand: dz_L = softmax(z_L) - onehot(y_i); per example, dW = dz h^T, db = dz,
    dz_prev = (dz W) * [z_prev > 0]. Cost about one forward/backward of the chunk plus
    writing c * P numbers."""
    offsets, at = {}, 0
    for name, p in model.named_parameters():
        offsets[name], at = (at, p.numel()), at + p.numel()
    prefix = {id(m): name for name, m in model.named_modules()}
    c = x.shape[0]
    out = torch.empty(c, at, dtype=x.dtype, device=x.device)
    h, pre = [x.reshape(c, -1)], []
    for lin, relu in layers:
        z = F.linear(h[-1], lin.weight, lin.bias)  # (c, out)
        pre.append(z)
        h.append(torch.relu(z) if relu else z)
    dz = torch.softmax(h[-1], dim=1)
    dz[torch.arange(c, device=x.device), y] -= 1.0
    for i in range(len(layers) - 1, -1, -1):
        lin = layers[i][0]
        (ow, nw), (ob, nb) = offsets[f"{prefix[id(lin)]}.weight"], offsets[f"{prefix[id(lin)]}.bias"]
        out[:, ow : ow + nw].view(c, *lin.weight.shape).copy_(dz.unsqueeze(2) * h[i].unsqueeze(1))
        out[:, ob : ob + nb].copy_(dz)
        if i:
            dz = dz @ lin.weight
            if layers[i - 1][1]:
                dz.mul_(pre[i - 1] > 0)
    return out


def per_example_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int = 256) -> torch.Tensor:
    """All per-example gradients as one (n, P) tensor, filled chunk by chunk.

    Memory: n * P floats (the default MLP has P = 78,858: 1000 examples take 315 MB in
    float32); the model-level functions below stream instead and never hold it.
    """
    out = None
    start = 0
    for chunk in iter_per_example_grads(model, x, y, chunk_size):  # (c, P)
        if out is None:
            out = torch.empty(x.shape[0], chunk.shape[1], dtype=chunk.dtype, device=chunk.device)
        out[start : start + chunk.shape[0]] = chunk
        start += chunk.shape[0]
    return out


# --------------------------------------------------------------------------- streaming statistics


def _batch_selections(n: int, batch_size: int, n_batches: int, seed: int) -> list[torch.Tensor]:
    """n_batches index sets of batch_size rows drawn without replacement (CPU, int64),
    from torch.randperm with a Generator seeded by `seed`."""
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size = {batch_size} must be in 1..{n} (the number of per-example gradients)")
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=gen)[:batch_size] for _ in range(n_batches)]


class _GradStats:
    """Running statistics of per-example gradient rows fed in chunks (c, P).

    * mean and M2 = sum_i |g_i - mean|^2 by Chan et al.'s pairwise update (float64 totals,
      rows centred on their chunk's mean before squaring, so no cancellation):
          M2 = M2_a + M2_b + |mean_b - mean_a|^2 n_a n_b / (n_a + n_b);
    * for each batch size B, the row sums of n_batches random batches, as a 0/1 selection
      matrix (n_batches, c) times the chunk: one matmul per chunk, cost n_batches * c * P.
    Memory: O(P) plus (n_batches, P) per batch size; per chunk two passes plus the matmuls.
    """

    def __init__(self, n: int, batch_sizes=(), n_batches: int = 64, seed: int = 0):
        self.n, self.count, self.mean, self.m2 = n, 0, None, 0.0
        self.masks, self.sums = {}, {}
        for b in sorted({int(b) for b in batch_sizes}):
            m = torch.zeros(n_batches, n)
            if b == n:
                m[:] = 1.0  # every batch is the whole set
            else:
                for j, sel in enumerate(_batch_selections(n, b, n_batches, seed)):
                    m[j, sel] = 1.0
            self.masks[b], self.sums[b] = m, None

    def update(self, chunk: torch.Tensor) -> None:
        # Work in the chunk's dtype (float64 conversions of (c, P) are slow on CPU); torch's
        # reductions sum pairwise, and the totals over chunks are kept in float64.
        c = chunk.shape[0]
        cmean = chunk.sum(dim=0) / c  # (P,)
        # |g_i - mean_c| per row, centred before squaring (no cancellation), in blocks of 64
        # rows so the (64, P) temporary stays small (large CPU allocations page-fault each time).
        dist = torch.cat([torch.linalg.vector_norm(blk - cmean, dim=1) for blk in chunk.split(64)])  # (c,)
        cm2 = float(dist.to(torch.float64).square().sum())  # CPU-GPU sync point
        cmean = cmean.to(torch.float64)
        if self.mean is None:
            self.mean, self.m2 = cmean, cm2
        else:
            delta = cmean - self.mean
            tot = self.count + c
            self.mean = self.mean + delta * (c / tot)
            self.m2 = self.m2 + cm2 + float(delta @ delta) * (self.count * c / tot)
        for b, m in self.masks.items():
            sel = m[:, self.count : self.count + c].to(device=chunk.device, dtype=chunk.dtype)
            part = sel @ chunk  # (n_batches, P)
            self.sums[b] = part if self.sums[b] is None else self.sums[b].add_(part)
        self.count += c

    def noise(self) -> dict:
        if self.count != self.n:
            raise ValueError(f"expected {self.n} gradient rows, got {self.count}")
        return _noise_dict(self.m2 / (self.n - 1), float(self.mean @ self.mean), self.n)

    def cosine(self, b: int) -> dict:
        if b == self.n:  # the batch is the whole set: its mean is the full mean
            k = self.masks[b].shape[0]
            return _cosine_dict(torch.ones(k, dtype=torch.float64), b)
        return _cosine_dict(_cosines(self.sums[b].to(torch.float64) / b, self.mean), b)


def _rows(grads: torch.Tensor, chunk_size: int = 256):
    return grads.split(chunk_size, dim=0)


# --------------------------------------------------------------------------- from a gradient matrix


def _noise_dict(trace_sigma: float, grad_norm_sq: float, n: int) -> dict:
    b_simple = trace_sigma / grad_norm_sq if grad_norm_sq > 0 else math.inf
    corrected = grad_norm_sq - trace_sigma / n
    b_unbiased = trace_sigma / corrected if corrected > 0 else math.inf
    return {
        "b_simple": b_simple,
        "b_simple_unbiased": b_unbiased,
        "trace_sigma": trace_sigma,
        "grad_norm_sq": grad_norm_sq,
        "n": n,
    }


def noise_scale_from_grads(grads: torch.Tensor) -> dict:
    """Simple gradient noise scale from per-example gradients `grads` of shape (n, P).

    B_simple = tr(Sigma) / |G|^2   (McCandlish et al. 2018, "An Empirical Model of
    Large-Batch Training", eq. 2.8 and appendix A), with
      G         = (1/n) sum_i g_i                      (P,)
      tr(Sigma) = sum_i |g_i - G|^2 / (n - 1)          (unbiased)
    E|G_hat|^2 = |G|^2 + tr(Sigma)/n over-estimates |G|^2, so also
      b_simple_unbiased = tr(Sigma) / (|G_hat|^2 - tr(Sigma)/n)   (inf when that is <= 0).
    Returns {"b_simple", "b_simple_unbiased", "trace_sigma", "grad_norm_sq", "n"}
    (grad_norm_sq = |G_hat|^2, plain). Sums in float64; cost two passes over (n, P).
    """
    n = int(grads.shape[0])
    if n < 2:
        raise ValueError(f"need at least 2 per-example gradients for a covariance, got {n}")
    st = _GradStats(n)
    for chunk in _rows(grads):
        st.update(chunk)
    return st.noise()


def _cosines(batch_means: torch.Tensor, full_mean: torch.Tensor) -> torch.Tensor:
    """Cosine of each row of (k, P) with (P,), float64, clamped to [-1, 1]."""
    dots = batch_means @ full_mean
    norms = batch_means.norm(dim=1) * full_mean.norm()
    return torch.where(norms > 0, dots / norms, torch.zeros_like(dots)).clamp(-1.0, 1.0)


def _cosine_dict(cos: torch.Tensor, batch_size: int) -> dict:
    std = float(cos.std(unbiased=True)) if cos.numel() > 1 else 0.0
    return {"mean": float(cos.mean()), "std": std, "batch_size": int(batch_size)}


def batch_gradient_cosine_from_grads(grads: torch.Tensor, batch_size: int, n_batches: int = 64, seed: int = 0) -> dict:
    """Cosine between random batch gradients and the full gradient, from grads (n, P).

    For each of n_batches batches of B = batch_size rows drawn without replacement
    (torch.randperm, Generator seeded by `seed`): cos(mean of the batch's rows, mean of all
    rows). With g_B = G + e, E|e|^2 = tr(Sigma)(1/B - 1/n) and e ~ orthogonal to G for large P:
        E cos ~ |G| / sqrt(|G|^2 + tr(Sigma) (1/B - 1/n));     exactly 1 for B = n.
    Returns {"mean", "std" (over the batches), "batch_size"}. Batch sums as one matmul
    (n_batches, n) x (n, P) in grads' dtype, cost n_batches * n * P.
    """
    n = int(grads.shape[0])
    st = _GradStats(n, (batch_size,), n_batches, seed)
    for chunk in _rows(grads):
        st.update(chunk)
    return st.cosine(int(batch_size))


def expected_cosine(b_simple: float, batch_size: int, n: int) -> float:
    """Expected cosine between the mean gradient of a batch of B examples drawn without
    replacement from n and the full mean gradient, from the noise scale:

        cos ~ |G| / sqrt(|G|^2 + tr(Sigma) (1/B - 1/n)) = 1 / sqrt(1 + B_simple (1/B - 1/n)),

    tr(Sigma) with the n - 1 denominator (then E|g_B - G|^2 = tr(Sigma)(1/B - 1/n) exactly).
    Exactly 1 at B = n. Lets a noise scale measured on a subset speak for the whole
    training set (n = n_train), where sampling batches from the subset cannot: a batch as
    large as the subset is the subset's full gradient."""
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size = {batch_size} must lie in 1..n = {n}")
    excess = b_simple * (1.0 / batch_size - 1.0 / n)
    return 1.0 / math.sqrt(1.0 + excess) if excess > -1.0 else float("nan")


def noise_to_signal(b_simple: float, batch_size: int) -> float:
    """Noise-to-signal ratio of a batch gradient of size B: E|g_B - G|^2/|G|^2 = B_simple / B
    (McCandlish et al. 2018, sampling with replacement)."""
    return b_simple / batch_size


# --------------------------------------------------------------------------- on a model (streaming)


def gradient_noise(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_sizes=(),
    n_batches: int = 64,
    seed: int = 0,
    chunk_size: int = 256,
) -> dict:
    """Noise scale and batch-gradient cosines of a model, in one streaming pass.

    Per-example gradients of CE on (x, y) are made chunk by chunk (c, P) and fed to running
    statistics; the (n, P) matrix is never held. Same numbers (to float rounding) as
    noise_scale_from_grads / batch_gradient_cosine_from_grads on per_example_grads(...), with
    the same batches for the same seed. Returns noise_scale_from_grads' keys plus
    "cosine": {B: {"mean", "std", "batch_size"}}.
    """
    n = int(x.shape[0])
    if n < 2:
        raise ValueError(f"need at least 2 examples, got {n}")
    st = _GradStats(n, batch_sizes, n_batches, seed)
    for chunk in iter_per_example_grads(model, x, y, chunk_size):
        st.update(chunk)
    out = st.noise()
    out["cosine"] = {b: st.cosine(b) for b in st.masks}
    return out


def noise_scale(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int = 256) -> dict:
    """B_simple = tr(Sigma)/|G|^2 of the model's mean cross-entropy on (x, y)
    (McCandlish et al. 2018); keys as in `noise_scale_from_grads`."""
    out = gradient_noise(model, x, y, (), chunk_size=chunk_size)
    out.pop("cosine")
    return out


def batch_gradient_cosine(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    n_batches: int = 64,
    seed: int = 0,
    chunk_size: int = 256,
) -> dict:
    """Mean/std cosine between random batch gradients of size B and the full gradient on
    (x, y); same batches as `batch_gradient_cosine_from_grads(per_example_grads(...))`."""
    out = gradient_noise(model, x, y, (batch_size,), n_batches=n_batches, seed=seed, chunk_size=chunk_size)
    return out["cosine"][int(batch_size)]


# --------------------------------------------------------------------------- stacked (all seeds of a cell)


def gradient_noise_stacked(
    models: list[nn.Module], x: torch.Tensor, y: torch.Tensor, seeds, batch_sizes=(), n_batches: int = 64
) -> list[dict]:
    """gradient_noise of several models of one architecture on the same (x, y), model s with the
    batches of seeds[s]; the same keys and, up to float rounding, the same numbers.

    Dense models (Flatten/Linear/ReLU) are measured together without forming any per-example
    gradient: for example i and layer l the gradient is the outer product dz_i h_iᵀ (weight) and
    dz_i (bias), so, with G the mean gradient,
        |g_i|² = Σ_l |dz_i|² (|h_i|² + 1),    |G|² = Σ_l |mean_i dz_i h_iᵀ|² + |mean_i dz_i|²,
        Σ_i |g_i − G|² = Σ_i |g_i|² − n|G|²    (in float64 from the float32 dz and h),
    and a batch's gradient sum is DZ_Bᵀ H_B per layer: one batched matmul for all batches and all
    models. Cost: a forward and a backward of the stack plus n_batches·B·P per model, instead of the
    n·P per-example gradients and the n_batches·n·P selection matmul of gradient_noise. Other models
    (convolutions) are measured one after another by gradient_noise. A model with non-finite weights
    gets non-finite numbers of its own only.
    """
    n = int(x.shape[0])
    if n < 2:
        raise ValueError(f"need at least 2 examples, got {n}")
    if len(seeds) != len(models):
        raise ValueError(f"{len(seeds)} seeds for {len(models)} models")
    dense = [_dense_layers(m) for m in models]
    if any(d is None for d in dense):
        return [gradient_noise(m, x, y, batch_sizes, n_batches=n_batches, seed=s) for m, s in zip(models, seeds)]
    layers = list(zip(*dense))  # per layer, the models' (Linear, relu_after)
    with torch.no_grad():
        dz, h = _stacked_dense_backward(layers, x, y)  # per layer (S, n, out), (S, n, in): float32
        sq = sum(d.double().square().sum(2) * (a.double().square().sum(2) + 1.0) for d, a in zip(dz, h))  # (S, n)
        gw = [torch.bmm(d.double().transpose(1, 2), a.double()) / n for d, a in zip(dz, h)]  # (S, out, in)
        gb = [d.double().mean(1) for d in dz]  # (S, out)
        gnorm = sum(w.square().sum((1, 2)) + b.square().sum(1) for w, b in zip(gw, gb))  # (S,) |G|²
        m2 = sq.sum(1) - n * gnorm  # (S,) Σ_i |g_i − G|²
        outs = [_noise_dict(float(m) / (n - 1), float(gn), n) for m, gn in zip(m2.tolist(), gnorm.tolist())]
        for o in outs:
            o["cosine"] = {}
        for b in sorted({int(b) for b in batch_sizes}):
            if b == n:  # the batch is the whole set: its mean is the full mean
                for o in outs:
                    o["cosine"][b] = _cosine_dict(torch.ones(n_batches, dtype=torch.float64), b)
                continue
            for s, o in enumerate(outs):  # one model at a time: (k, out, in) batch sums per layer
                sel = torch.stack(_batch_selections(n, b, n_batches, int(seeds[s]))).to(x.device)  # (k, b)
                dots = norms = 0.0
                for d, a, w, bias in zip(dz, h, gw, gb):
                    db, ab = d[s][sel], a[s][sel]  # (k, b, out), (k, b, in)
                    sw = torch.bmm(db.transpose(1, 2), ab).double()  # (k, out, in): each batch's weight-gradient sum
                    sb = db.sum(1).double()  # (k, out)
                    dots = dots + (sw * w[s]).sum((1, 2)) + (sb * bias[s]).sum(1)  # (k,)
                    norms = norms + sw.square().sum((1, 2)) + sb.square().sum(1)
                o["cosine"][b] = _cosine_dict(_cosines_from(dots, norms.sqrt(), float(gnorm[s])), b)
    return outs


def _cosines_from(dots: torch.Tensor, norms: torch.Tensor, full_norm_sq: float) -> torch.Tensor:
    """_cosines from the dot products of k batch gradients with the full one, their norms and |G|²."""
    denom = norms * math.sqrt(full_norm_sq)
    return torch.where(denom > 0, dots / denom, torch.zeros_like(dots)).clamp(-1.0, 1.0)


def _stacked_dense_backward(layers, x: torch.Tensor, y: torch.Tensor):
    """Per-example backward of CE(f_s(x_i), y_i) through S dense models at once: per Linear layer the
    outputs' gradients dz (S, n, out) and the layer's inputs h (S, n, in), float32 (as
    _dense_per_example: dz_L = softmax(z_L) − onehot(y), dz_prev = (dz W) * [z_prev > 0])."""
    n = x.shape[0]
    w = [torch.stack([lin.weight.detach() for lin, _ in layer]) for layer in layers]  # (S, out, in)
    bias = [torch.stack([lin.bias.detach() for lin, _ in layer]) for layer in layers]  # (S, out)
    relu = [layer[0][1] for layer in layers]
    s = w[0].shape[0]
    h, pre = [x.reshape(n, -1).unsqueeze(0).expand(s, n, -1)], []
    for wl, bl, r in zip(w, bias, relu):
        z = torch.baddbmm(bl.unsqueeze(1), h[-1], wl.transpose(1, 2))  # (S, n, out)
        pre.append(z)
        h.append(torch.relu(z) if r else z)
    dz = torch.softmax(h[-1], dim=2)
    dz[:, torch.arange(n, device=x.device), y] -= 1.0
    dzs = [None] * len(w)
    for i in range(len(w) - 1, -1, -1):
        dzs[i] = dz
        if i:
            dz = torch.bmm(dz, w[i])
            if relu[i - 1]:
                dz = dz * (pre[i - 1] > 0)
    return dzs, h[: len(w)]
