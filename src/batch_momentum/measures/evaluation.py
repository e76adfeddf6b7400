"""Every measure of a trained run: accuracy per split, sharpness and gradient noise.

One process per (B, λ) cell (torch starts once); for each seed s it writes
results/metrics/bs<B>_lam<λ>/seed<s>.json: the training summary (status, epochs, time, device),
loss and accuracy per split, the sharpness measures at the final weights (Hessian top
eigenvalue and trace, epsilon-sharpness in the full space and a random subspace) and
the gradient noise at the initial and the final weights; and landscape.json, the
training loss along a filter-normalized random direction, as
results/landscape/bs<B>_lam<λ>/seed<s>.json. A diverged cell keeps its
status; its measures are written as null.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from batch_momentum import config
from batch_momentum.io import runs
from batch_momentum.io import tables as T
from batch_momentum.training import models
from batch_momentum.training.status import Status


def sharpness_measures(model, x, y, cfg: config.Sharpness, seed: int) -> dict:
    """The Hessian's top eigenvalue and trace (T.HESSIAN) and the epsilon-sharpness columns
    (T.sharpness_columns) of the model's training loss on (x, y), at its weights."""
    from batch_momentum.measures import hessian, sharpness

    with models.eval_mode(model):
        # one flat-parameter loss and one random subspace A for every measure (A: 0.2 s to draw)
        f, theta = hessian.loss_function(model, x, y)
        top = hessian.top_eigenvalue_fn(f, theta, tol=cfg.hessian_tol, max_iter=cfg.hessian_max_iter, seed=seed)
        tr = hessian.trace_fn(f, theta, n_samples=cfg.trace_samples, tol=cfg.hessian_tol, seed=seed)
        out = {
            T.HESSIAN_TOP: top["value"],
            T.HESSIAN_TOP_ITERS: top["iterations"],
            T.HESSIAN_TOP_CONVERGED: top["converged"],
            T.HESSIAN_TRACE: tr["value"],
            T.HESSIAN_TRACE_SE: tr["std_error"],
            T.HESSIAN_TRACE_SAMPLES: tr["samples"],
            T.HESSIAN_TRACE_CONVERGED: tr["converged"],
        }
        A = sharpness.random_subspace(theta.numel(), cfg.subspace_dim, seed, theta.dtype, theta.device)
        for eps in cfg.epsilons:
            for dim, basis in ((None, None), (cfg.subspace_dim, A)):
                r = sharpness.epsilon_sharpness_fn(f, theta, eps, max_iter=cfg.lbfgs_iters, seed=seed, A=basis)
                out[T.sharpness_column(eps, dim)] = r["phi"]
    return out


def direction_curve(model, x, y, cfg: config.Sharpness, seed: int) -> dict:
    """The training loss and accuracy on (x, y) along a filter-normalized random direction through
    the model's weights (T.DIRECTION_ROW: lists over t in [-direction_span, direction_span])."""
    from batch_momentum.measures import landscape

    span, k = cfg.direction_span, cfg.direction_points
    return landscape.direction_curve(model, x, y, [-span + 2 * span * i / (k - 1) for i in range(k)], seed=seed)


def noise_measures(
    model, x, y, batch_size: int, n_train: int, cfg: config.Noise, seed: int, columns: T.NoiseColumns
) -> dict:
    """Gradient noise scale and its noise-to-signal ratio at B; the cosine between a batch
    gradient of B examples and the full gradient, sampled on the subset (x, y) and expected
    from the noise scale for batches drawn from all n_train examples (noise.expected_cosine).
    Keyed by `columns` (T.NOISE_INIT or T.NOISE_FINAL)."""
    from batch_momentum.measures import noise

    b = min(batch_size, len(y))
    ns = noise.gradient_noise(model, x, y, batch_sizes=(b,), n_batches=cfg.cosine_batches, seed=seed)
    cos = dict(ns["cosine"][b])
    if batch_size >= len(y) and batch_size < n_train:  # the subset has no batches this large to sample
        cos = {"mean": float("nan"), "std": float("nan")}
    return {
        columns.b_simple: ns["b_simple"],
        columns.b_simple_unbiased: ns["b_simple_unbiased"],
        columns.nsr: noise.noise_to_signal(ns["b_simple"], batch_size),
        columns.cosine: cos["mean"],
        columns.cosine_std: cos["std"],
        columns.cosine_expected: noise.expected_cosine(ns["b_simple"], batch_size, n_train),
    }


def evaluate_cell(model, blob: dict) -> dict:
    """Loss and accuracy of the model on every split (T.SPLIT_METRICS)."""
    out = {}
    for split in T.SPLITS:
        loss, acc = models.model_loss_and_accuracy(model, blob[f"x_{split}"], blob[f"y_{split}"])
        out[T.loss_column(split)] = loss
        # non-finite weights give NaN logits, whose argmax is class 0: that is no accuracy (written null)
        out[T.acc_column(split)] = acc if math.isfinite(loss) else float("nan")
    return out


def evaluate_run(run_dir: Path, params: config.Params, blob: dict, device) -> tuple[dict, dict]:
    """metrics.json and landscape.json of one seed: its summary and accuracy per split, and for a run
    that finished with finite weights the measures (sharpness and the direction curve at the final
    weights on the first sharpness.subset training examples, gradient noise at the initial and the
    final weights on the first noise.subset)."""
    model, init, summary = runs.load_run(run_dir, params, blob["meta"], device)
    metrics = {T.CELL: runs.run_name(run_dir), **summary, **evaluate_cell(model, blob)}
    if summary[T.STATUS] != Status.OK or not math.isfinite(metrics[T.TRAIN_LOSS]):
        return metrics, {T.T: [], T.LOSS: [], T.ACC: []}
    sh, nz, seed = params.sharpness, params.noise, summary[T.SEED]
    x, y = blob["x_train"], blob["y_train"]
    t0 = time.perf_counter()
    metrics.update(sharpness_measures(model, x[: sh.subset], y[: sh.subset], sh, seed))
    curve = direction_curve(model, x[: sh.subset], y[: sh.subset], sh, seed)
    metrics[T.SHARPNESS_WALL_S] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for weights, columns in ((init, T.NOISE_INIT), (model, T.NOISE_FINAL)):
        metrics.update(
            noise_measures(weights, x[: nz.subset], y[: nz.subset], summary[T.BATCH_SIZE], len(y), nz, seed, columns)
        )
    metrics[T.NOISE_WALL_S] = time.perf_counter() - t0
    metrics.update({T.SHARPNESS_SUBSET: sh.subset, T.NOISE_SUBSET: nz.subset})
    print(
        f"{metrics[T.CELL]}: sharpness {metrics[T.SHARPNESS_WALL_S]:.1f} s, noise {metrics[T.NOISE_WALL_S]:.1f} s",
        flush=True,
    )
    return metrics, curve
