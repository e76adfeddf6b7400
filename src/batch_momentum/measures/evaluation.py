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
from batch_momentum.data import prepared
from batch_momentum.training import models
from batch_momentum.io import runs, tables


def sharpness_measures(model, x, y, cfg: config.Sharpness, seed: int) -> tuple[dict, dict]:
    """Hessian spectrum, epsilon-sharpness and the 1-D direction curve at the given weights."""
    from batch_momentum.measures import hessian
    from batch_momentum.measures import landscape
    from batch_momentum.measures import sharpness

    out = {}
    with hessian.eval_mode(model):
        # one flat-parameter loss and one random subspace A for every measure (A: 0.2 s to draw)
        f, theta = hessian.loss_function(model, x, y)
        top = hessian.top_eigenvalue_fn(f, theta, tol=cfg.hessian_tol, max_iter=cfg.hessian_max_iter, seed=seed)
        out.update(hessian_top=top["value"], hessian_top_iters=top["iterations"],
                   hessian_top_converged=top["converged"])
        tr = hessian.trace_fn(f, theta, n_samples=cfg.trace_samples, tol=cfg.hessian_tol, seed=seed)
        out.update(hessian_trace=tr["value"], hessian_trace_se=tr["std_error"], hessian_trace_samples=tr["samples"],
                   hessian_trace_converged=tr["converged"])
        A = sharpness.random_subspace(theta.numel(), cfg.subspace_dim, seed, theta.dtype, theta.device)
        for eps in cfg.epsilons:
            for dim, basis in ((None, None), (cfg.subspace_dim, A)):
                r = sharpness.epsilon_sharpness_fn(f, theta, eps, max_iter=cfg.lbfgs_iters, seed=seed, A=basis)
                out[tables.sharpness_column(eps, dim)] = r["phi"]
    span, k = cfg.direction_span, cfg.direction_points
    ts = [-span + 2 * span * i / (k - 1) for i in range(k)]
    curve = landscape.direction_curve(model, x, y, ts, seed=seed)
    return out, {"t": list(curve["t"]), "loss": list(curve["loss"]), "acc": list(curve["acc"])}


def noise_measures(model, x, y, batch_size: int, n_train: int, cfg: config.Noise, seed: int, tag: str) -> dict:
    """Gradient noise scale and its noise-to-signal ratio at B; the cosine between a batch
    gradient of B examples and the full gradient, sampled on the subset (x, y) and expected
    from the noise scale for batches drawn from all n_train examples (noise.expected_cosine)."""
    from batch_momentum.measures import noise

    b = min(batch_size, len(y))
    ns = noise.gradient_noise(model, x, y, batch_sizes=(b,), n_batches=cfg.cosine_batches, seed=seed)
    cos = dict(ns["cosine"][b])
    if batch_size >= len(y) and batch_size < n_train:  # the subset has no batches this large to sample
        cos = {"mean": float("nan"), "std": float("nan")}
    return {f"b_simple_{tag}": ns["b_simple"], f"b_simple_unbiased_{tag}": ns["b_simple_unbiased"],
            f"nsr_{tag}": noise.noise_to_signal(ns["b_simple"], batch_size),
            f"cosine_{tag}": cos["mean"], f"cosine_std_{tag}": cos["std"],
            f"cosine_expected_{tag}": noise.expected_cosine(ns["b_simple"], batch_size, n_train)}


def evaluate_cell(model, blob: dict) -> dict:
    out = {}
    for split in prepared.SPLITS:
        loss, acc = models.loss_and_accuracy(model, blob[f"x_{split}"], blob[f"y_{split}"])
        out[f"{split}_loss"] = loss
        # non-finite weights give NaN logits, whose argmax is class 0: that is no accuracy (written null)
        out[f"{split}_acc"] = acc if math.isfinite(loss) else float("nan")
    return out


def evaluate_run(run_dir: Path, params: config.Params, blob: dict, device) -> tuple[dict, dict]:
    """metrics.json and landscape.json of one seed: accuracy per split, and the measures
    (sharpness at the final weights, gradient noise at the initial and final ones) for a
    run that finished with finite weights."""
    model, init, summary = runs.load_run(run_dir, params, blob["meta"], device)
    metrics = {"cell": f"{run_dir.parent.name}/{run_dir.name}", **summary, **evaluate_cell(model, blob)}
    curve = {"t": [], "loss": [], "acc": []}
    if summary["status"] == "ok" and math.isfinite(metrics["train_loss"]):
        t0 = time.perf_counter()
        sh, nz = params.sharpness, params.noise
        x, y = blob["x_train"], blob["y_train"]
        found, curve = sharpness_measures(model, x[:sh.subset], y[:sh.subset], sh, summary["seed"])
        metrics.update(found)
        metrics["sharpness_wall_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        xs, ys, bs = x[:nz.subset], y[:nz.subset], summary["batch_size"]
        n = len(y)
        metrics.update(noise_measures(init, xs, ys, bs, n, nz, summary["seed"], "init"))
        metrics.update(noise_measures(model, xs, ys, bs, n, nz, summary["seed"], "final"))
        metrics["noise_wall_s"] = time.perf_counter() - t0
        metrics.update(sharpness_subset=sh.subset, noise_subset=nz.subset)
        print(f"{metrics['cell']}: sharpness {metrics['sharpness_wall_s']:.1f} s, noise {metrics['noise_wall_s']:.1f} s",
              flush=True)
    return metrics, curve
