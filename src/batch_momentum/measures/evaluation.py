"""Every measure of a trained run: accuracy per split, sharpness and gradient noise.

One process per (B, λ) cell (torch starts once); for each seed s it writes
results/metrics/bs<B>_lam<λ>/seed<s>.json: the training summary (status, epochs, time, device),
loss and accuracy per split, the sharpness measures at the final weights (Hessian top
eigenvalue and trace, epsilon-sharpness in the full space and a random subspace, adaptive
sharpness) and
the gradient noise at the initial and the final weights; and landscape.json, the
training loss along a filter-normalized random direction, as
results/landscape/bs<B>_lam<λ>/seed<s>.json. A diverged cell keeps its
status; its measures are written as null.

The evaluate step measures a cell's seeds together (evaluate_runs): their weights stacked as one
training.stacked.StackedNet, every measure computed for all seeds in one pass, each seed with its own
random vectors, start points and stopping rules, so its numbers are those of evaluate_run (one seed
alone) up to float rounding; the one exception is the full-space ε-sharpness, whose box maximum is
taken by sign ascent for all seeds at once (sharpness.epsilon_sharpness_sign_ascent) where
evaluate_run uses L-BFGS-B per seed: on trained runs it reaches at least L-BFGS-B's maximum.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch

from batch_momentum import config
from batch_momentum.io import runs
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status
from batch_momentum.training import models


def hessian_columns(top: dict, tr: dict) -> dict:
    """The T.HESSIAN columns of one run from its power iteration (`top`) and Hutchinson trace (`tr`)."""
    return {
        T.HESSIAN_TOP: top["value"],
        T.HESSIAN_TOP_ITERS: top["iterations"],
        T.HESSIAN_TOP_CONVERGED: top["converged"],
        T.HESSIAN_TRACE: tr["value"],
        T.HESSIAN_TRACE_SE: tr["std_error"],
        T.HESSIAN_TRACE_SAMPLES: tr["samples"],
        T.HESSIAN_TRACE_CONVERGED: tr["converged"],
    }


def sharpness_measures(model, x, y, cfg: config.Sharpness, seed: int) -> dict:
    """The Hessian's top eigenvalue and trace (T.HESSIAN) and the epsilon-sharpness columns
    (T.sharpness_columns) of the model's training loss on (x, y), at its weights."""
    from batch_momentum.measures import hessian, sharpness

    with models.eval_mode(model):
        # one flat-parameter loss and one random subspace A for every measure (A: 0.2 s to draw)
        f, theta = hessian.loss_function(model, x, y)
        top = hessian.top_eigenvalue_fn(f, theta, tol=cfg.hessian_tol, max_iter=cfg.hessian_max_iter, seed=seed)
        tr = hessian.trace_fn(f, theta, n_samples=cfg.trace_samples, tol=cfg.hessian_tol, seed=seed)
        out = hessian_columns(top, tr)
        A = sharpness.random_subspace(theta.numel(), cfg.subspace_dim, seed, theta.dtype, theta.device)
        for eps in cfg.epsilons:
            for dim, basis in ((None, None), (cfg.subspace_dim, A)):
                r = sharpness.epsilon_sharpness_fn(f, theta, eps, max_iter=cfg.lbfgs_iters, seed=seed, A=basis)
                out[T.sharpness_column(eps, dim)] = r["phi"]
        (r,) = sharpness.adaptive_sharpness(_one_row(f), theta[None], cfg.adaptive_rho, [seed])
        out[T.ADAPTIVE_SHARPNESS] = r["sharpness"]
    return out


def _one_row(f):
    """A loss of one flat θ (n,) as the stacked form the box ascents take: Θ (k, n) -> (k,)."""
    return lambda th: torch.stack([f(row) for row in th])


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
    return noise_columns(ns, batch_size, len(y), n_train, columns)


def noise_columns(ns: dict, batch_size: int, n_subset: int, n_train: int, columns: T.NoiseColumns) -> dict:
    """noise_measures' columns from a gradient_noise result measured on n_subset examples with batches
    of min(batch_size, n_subset)."""
    from batch_momentum.measures import noise

    cos = dict(ns["cosine"][min(batch_size, n_subset)])
    if batch_size >= n_subset and batch_size < n_train:  # the subset has no batches this large to sample
        cos = {"mean": float("nan"), "std": float("nan")}
    return {
        columns.b_simple: ns["b_simple"],
        columns.b_simple_unbiased: ns["b_simple_unbiased"],
        columns.nsr: noise.noise_to_signal(ns["b_simple"], batch_size),
        columns.cosine: cos["mean"],
        columns.cosine_std: cos["std"],
        columns.cosine_expected: noise.expected_cosine(ns["b_simple"], batch_size, n_train),
    }


def evaluate_cell(model, blob: dict, splits=T.SPLITS) -> dict:
    """Loss and accuracy of the model on every split of `splits` (T.SPLIT_METRICS: all three)."""
    out = {}
    for split in splits:
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


# ----------------------------------------------------------------------------- all seeds of a cell together
def _stack(models: list, meta: dict, device):
    """The models as one training.stacked.StackedNet, or None for an architecture it does not hold."""
    from batch_momentum.training.stacked import StackedNet

    try:
        return StackedNet(models, meta["input_shape"], device)
    except TypeError:
        return None


def split_metrics_stacked(net, blob: dict, splits=T.SPLITS) -> list[dict]:
    """evaluate_cell of every model of a stack: loss and accuracy per split (of `splits`), one stacked
    forward per chunk of a split. A model with non-finite loss gets accuracy NaN (as evaluate_cell)."""
    out = [{} for _ in range(net.size)]
    with torch.no_grad():
        for split in splits:
            loss, acc = models.loss_and_accuracy(net.forward, blob[f"x_{split}"], blob[f"y_{split}"])
            for o, lv, av in zip(out, loss.tolist(), acc.tolist()):
                o[T.loss_column(split)] = lv
                o[T.acc_column(split)] = av if math.isfinite(lv) else float("nan")
    return out


def _print(line: str) -> None:
    print(line, flush=True)


class _Clock:
    """Prints how long each part of a cell's evaluation took ("bs8_lam0.9: hessian top (8 seeds) 3.2 s"),
    so the step's log shows where it is."""

    def __init__(self, cell: str, k: int, log):
        self.cell, self.k, self.log = cell, k, log

    @contextlib.contextmanager
    def part(self, what: str):
        t0 = time.perf_counter()
        yield
        self.log(f"{self.cell}: {what} ({self.k} seeds) {time.perf_counter() - t0:.1f} s")


def sharpness_measures_stacked(net, x, y, cfg: config.Sharpness, seeds, clock: _Clock) -> list[dict]:
    """sharpness_measures of every model of a stack (each with its own seed's random vectors, start
    points and subspace), the Hessian-vector products and the box maximizations batched over the models."""
    from batch_momentum.measures import hessian, sharpness
    from batch_momentum.training import stacked

    f = stacked.stacked_loss_function(net, x, y)
    theta = stacked.flat_stack(net)  # (k, n)
    with clock.part("hessian top eigenvalue"):
        tops = hessian.top_eigenvalues_stacked(f, theta, seeds, tol=cfg.hessian_tol, max_iter=cfg.hessian_max_iter)
    with clock.part("hessian trace"):
        trs = hessian.traces_stacked(f, theta, seeds, n_samples=cfg.trace_samples, tol=cfg.hessian_tol)
    out = [hessian_columns(top, tr) for top, tr in zip(tops, trs)]
    n = theta.shape[1]
    with clock.part(f"random subspaces of {cfg.subspace_dim}"):
        A = torch.stack([sharpness.random_subspace(n, cfg.subspace_dim, s, theta.dtype, theta.device) for s in seeds])
    for eps in cfg.epsilons:
        for dim, basis in ((None, None), (cfg.subspace_dim, A)):
            with clock.part(f"epsilon-sharpness eps {eps:g} {'full space' if dim is None else f'subspace {dim}'}"):
                if basis is None:  # full space: sign ascent, which reaches L-BFGS-B's maximum at a fraction of its cost
                    rs = sharpness.epsilon_sharpness_sign_ascent(f, theta, eps, seeds)
                else:  # the subspace: each seed's own L-BFGS-B, the evaluations batched
                    rs = sharpness.epsilon_sharpness_stacked(f, theta, eps, seeds, max_iter=cfg.lbfgs_iters, A=basis)
            for o, r in zip(out, rs):
                o[T.sharpness_column(eps, dim)] = r["phi"]
    with clock.part(f"adaptive sharpness rho {cfg.adaptive_rho:g}"):
        for o, r in zip(out, sharpness.adaptive_sharpness(f, theta, cfg.adaptive_rho, seeds)):
            o[T.ADAPTIVE_SHARPNESS] = r["sharpness"]
    return out


def sharpness_column_stacked(f, theta: torch.Tensor, column: str, cfg: config.Sharpness, seeds) -> list[float]:
    """One sharpness column (T.HESSIAN_TOP, T.HESSIAN_TRACE, T.ADAPTIVE_SHARPNESS or an ε-sharpness
    column of cfg) of every row of theta (k, n), f: (k, n) -> (k,), computed as sharpness_measures_stacked
    computes it (each row with its seed's random vectors, start point and subspace)."""
    from batch_momentum.measures import hessian, sharpness

    if column == T.HESSIAN_TOP:
        return [
            r["value"] for r in hessian.top_eigenvalues_stacked(f, theta, seeds, cfg.hessian_tol, cfg.hessian_max_iter)
        ]
    if column == T.HESSIAN_TRACE:
        rs = hessian.traces_stacked(f, theta, seeds, n_samples=cfg.trace_samples, tol=cfg.hessian_tol)
        return [r["value"] for r in rs]
    if column == T.ADAPTIVE_SHARPNESS:
        return [r["sharpness"] for r in sharpness.adaptive_sharpness(f, theta, cfg.adaptive_rho, seeds)]
    for eps in cfg.epsilons:
        if column == T.sharpness_column(eps, None):
            return [r["phi"] for r in sharpness.epsilon_sharpness_sign_ascent(f, theta, eps, seeds)]
        if column == T.sharpness_column(eps, cfg.subspace_dim):
            n = theta.shape[1]
            A = torch.stack(
                [sharpness.random_subspace(n, cfg.subspace_dim, s, theta.dtype, theta.device) for s in seeds]
            )
            rs = sharpness.epsilon_sharpness_stacked(f, theta, eps, seeds, max_iter=cfg.lbfgs_iters, A=A)
            return [r["phi"] for r in rs]
    raise ValueError(f"{column}: not a sharpness measure of params' sharpness section (sharpness.epsilons)")


def evaluate_runs(
    run_dirs: list[Path], params: config.Params, blob: dict, device, log=_print, noise: bool = True
) -> list[tuple[dict, dict]]:
    """evaluate_run of every seed of one cell, the seeds measured together: their weights stacked
    (training.stacked.StackedNet), every measure computed for all of them in one pass (Hessian-vector
    products, power iteration and Hutchinson's trace, the ε-sharpness box maximizations, the 1-D curves
    and the gradient noise). Each seed keeps its own random vectors, start points and stopping rules,
    so its numbers are evaluate_run's up to float rounding. Accuracy per split is measured for every
    seed; the measures only for seeds with status ok and a finite training loss, which are stacked
    apart from the others, so a diverged seed cannot touch them. The wall-time columns hold each seed's
    share: the stack's time divided by its number of seeds. An architecture the stack does not hold is
    measured seed by seed (evaluate_run). noise=False leaves out the gradient noise (the equal-accuracy
    protocol's runs: no verdict reads it there, and it is a third of the step's time)."""
    loaded = runs.load_runs(run_dirs, params, blob["meta"], device)
    finals = [m for m, _, _ in loaded]
    net = _stack(finals, blob["meta"], device)
    if net is None:
        return [evaluate_run(d, params, blob, device) for d in run_dirs]
    cell = Path(run_dirs[0]).parent.name
    clock = _Clock(cell, len(run_dirs), log)
    with clock.part("loss and accuracy per split"):
        splits = split_metrics_stacked(net, blob)
    metrics = [
        {T.CELL: runs.run_name(Path(d)), **summary, **sp} for d, (_, _, summary), sp in zip(run_dirs, loaded, splits)
    ]
    curves = [{T.T: [], T.LOSS: [], T.ACC: []} for _ in run_dirs]
    ok = [i for i, m in enumerate(metrics) if m[T.STATUS] == Status.OK and math.isfinite(m[T.TRAIN_LOSS])]
    if not ok:
        return list(zip(metrics, curves))
    from batch_momentum.measures import landscape
    from batch_momentum.measures import noise as noise_

    sh, nz = params.sharpness, params.noise
    seeds = [metrics[i][T.SEED] for i in ok]
    sub = _stack([finals[i] for i in ok], blob["meta"], device)
    clock = _Clock(cell, len(ok), log)
    x, y = blob["x_train"], blob["y_train"]
    xs, ys = x[: sh.subset], y[: sh.subset]
    t0 = time.perf_counter()
    # (a stack holds only layers that act the same in train and eval mode: no mode to set)
    sharp = sharpness_measures_stacked(sub, xs, ys, sh, seeds, clock)
    with clock.part("direction curves"):
        span, k = sh.direction_span, sh.direction_points
        ts = [-span + 2 * span * i / (k - 1) for i in range(k)]
        oks = landscape.direction_curves_stacked(sub, [finals[i] for i in ok], xs, ys, ts, seeds)
    sharp_s = (time.perf_counter() - t0) / len(ok)
    t0 = time.perf_counter()
    xn, yn = x[: nz.subset], y[: nz.subset]
    noise_cols = [{} for _ in ok]
    for which, columns in ((1, T.NOISE_INIT), (0, T.NOISE_FINAL)) if noise else ():
        with clock.part(f"gradient noise at the {'initial' if which else 'final'} weights"):
            ms = [loaded[i][which] for i in ok]
            sizes = sorted({min(metrics[i][T.BATCH_SIZE], len(yn)) for i in ok})
            ns = noise_.gradient_noise_stacked(ms, xn, yn, seeds, batch_sizes=sizes, n_batches=nz.cosine_batches)
            for cols, i, r in zip(noise_cols, ok, ns):
                cols.update(noise_columns(r, metrics[i][T.BATCH_SIZE], len(yn), len(y), columns))
    noise_s = (time.perf_counter() - t0) / len(ok)
    for j, i in enumerate(ok):
        metrics[i].update(sharp[j])
        metrics[i][T.SHARPNESS_WALL_S] = sharp_s
        if noise:
            metrics[i].update({**noise_cols[j], T.NOISE_WALL_S: noise_s})
        metrics[i].update({T.SHARPNESS_SUBSET: sh.subset, **({T.NOISE_SUBSET: nz.subset} if noise else {})})
        curves[i] = oks[j]
    return list(zip(metrics, curves))


def _reached(value) -> bool:
    """A candidate row's reached_target as a boolean (a CSV may give True, numpy.True_ or "True")."""
    return str(value).strip().lower() == "true"


def measure_candidates(
    rows: list[dict],
    finals: list,
    params: config.Params,
    blob: dict,
    device,
    primary: str = T.HESSIAN_TOP,
    known: dict | None = None,
    log=_print,
) -> list:
    """The eta view of an equal-accuracy cell: for every candidate run (rows of T.CELL_CANDIDATES, with
    their final models) its test accuracy (the test split only); where it trained (status ok, finite test
    loss) the top Hessian eigenvalue of its training loss on the sharpness subset; and where it also
    reached the target, the primary sharpness measure (`primary`, a column sharpness_column_stacked
    knows: analysis.compare.primary_measure(params).column) and the adaptive sharpness, NaN short of the
    target. Each measure as the runs' measures take it (each candidate with its seed's start vectors),
    the cell's candidates stacked together: one ascent, one power iteration for all of them. One row of
    T.ETA_MEASURES each, plus the primary's column where it is not one of the schema's. `known`:
    {(η, seed): {column: value}} already measured (the kept runs, by evaluate_runs), taken as they are."""
    known = known or {}
    from batch_momentum.measures import hessian
    from batch_momentum.training import stacked

    columns = list(dict.fromkeys((T.HESSIAN_TOP, primary, T.ADAPTIVE_SHARPNESS)))
    net = _stack(finals, blob["meta"], device)
    cell = f"bs{rows[0][T.BATCH_SIZE]}_lam{rows[0][T.MOMENTUM]} candidates" if rows else "candidates"
    clock = _Clock(cell, len(rows), log)
    with clock.part("test accuracy"):
        if net is None:
            splits = [evaluate_cell(m, blob, ("test",)) for m in finals]
        else:
            splits = split_metrics_stacked(net, blob, ("test",))
    out = [
        {T.LR: r[T.LR], T.SEED: r[T.SEED], T.TEST_ACC: sp[T.TEST_ACC], **{c: float("nan") for c in columns}}
        for r, sp in zip(rows, splits)
    ]
    trained = [
        i for i, (r, sp) in enumerate(zip(rows, splits)) if r[T.STATUS] == Status.OK and math.isfinite(sp[T.TEST_LOSS])
    ]
    # which candidates each column is measured for: the eigenvalue for every trained one, the rest at the target
    wanted = {
        c: trained if c == T.HESSIAN_TOP else [i for i in trained if _reached(rows[i][T.REACHED_TARGET])]
        for c in columns
    }
    todo = {}
    for c, idx in wanted.items():
        todo[c] = []
        for i in idx:
            value = known.get((out[i][T.LR], out[i][T.SEED]), {}).get(c)
            if value is None:
                todo[c].append(i)
            else:
                out[i][c] = value
    need = sorted({i for idx in todo.values() for i in idx})
    if not need:
        return out
    sh = params.sharpness
    xs, ys = blob["x_train"][: sh.subset], blob["y_train"][: sh.subset]
    sub = _stack([finals[i] for i in need], blob["meta"], device)
    clock = _Clock(cell, len(need), log)
    for c, idx in todo.items():
        if not idx:
            continue
        seeds = [int(rows[i][T.SEED]) for i in idx]
        with clock.part(c):
            if sub is not None:  # the candidates this column needs, as rows of the one stack
                theta = stacked.flat_stack(sub)[[need.index(i) for i in idx]]
                values = sharpness_column_stacked(stacked.stacked_loss_function(sub, xs, ys), theta, c, sh, seeds)
            else:  # an architecture the stack does not hold: one model at a time
                values = []
                for i, seed in zip(idx, seeds):
                    with models.eval_mode(finals[i]):
                        fn, theta = hessian.loss_function(finals[i], xs, ys)
                        values += sharpness_column_stacked(_one_row(fn), theta[None], c, sh, [seed])
        for i, v in zip(idx, values):
            out[i][c] = v
    return out
