"""The sharpness section: sharp and flat minima at equal training accuracy."""

from __future__ import annotations

import pandas as pd

from batch_momentum import config
from batch_momentum.io import tables as T
from batch_momentum.report.plots import sharpness as sharpness_plots


def sharpness_section(
    params: config.Params,
    table: pd.DataFrame,
    equal_directions: pd.DataFrame,
    interpolation: list[dict],
    measures: list[tuple[str, str]],
) -> dict:
    ea, sh = params.equal_acc, params.sharpness
    seed = min(params.equal_acc.seed)  # the figures of single runs show the equal-accuracy protocol's first seed
    figs = [
        dict(
            name="interpolation",
            fig=sharpness_plots.plot_interpolations([c for c in interpolation if c.get(T.SEED) == seed]),
            caption=f"Loss (log axis) and accuracy along θ(α) = α·θ_LB + (1−α)·θ_SB between the "
            f"equal-accuracy runs of seed {seed} (Keskar et al. 2017, Figure 3); drawn only where both "
            "runs reached the target. What to see: the loss rises more steeply beyond α = 1 (the large "
            "batch's side) than before α = 0.",
        ),
        dict(
            name="directions",
            fig=sharpness_plots.plot_directions_by_lambda(equal_directions, tuple(ea.batch_size), seed),
            caption=f"Training loss along a filter-normalized random direction (Li et al. 2018) through the "
            f"equal-accuracy runs of seed {seed}, small vs large batch, one panel per λ. What to see: a "
            "narrower valley for the sharper minimum.",
        ),
        dict(
            name="sharpness_vs_batch",
            fig=sharpness_plots.plot_sharpness_grid(table, measures),
            caption="Every sharpness measure of the grid's runs (one epoch budget) against B, one line per λ; "
            "hollow: short of the training-accuracy target. Read with care: a run that stopped far "
            "from a minimum sits where the budget left it, so the right half of these curves is not "
            "about minima.",
        ),
    ]
    extra = [
        dict(name=f"{col}_vs_batch", fig=sharpness_plots.plot_sharpness_vs_batch(table, col, label))
        for col, label in measures
        if col in table and table[col].notna().any()
    ]
    extra += [
        dict(
            name=f"interpolation_lam{c[T.MOMENTUM]}_seed{c[T.SEED]}",
            fig=sharpness_plots.plot_interpolation(c, f"{c[T.SMALL]} (α=0) → {c[T.LARGE]} (α=1)"),
        )
        for c in interpolation
        if c.get(T.ALPHA)
    ]
    return dict(
        id="sharpness",
        title="Sharp and flat minima",
        text=f"All measures use the training loss on the first {sh.subset} training examples at each run's "
        f"final weights: the top Hessian eigenvalue by power iteration (tolerance {sh.hessian_tol}, at "
        f"most {sh.hessian_max_iter} Hessian-vector products), the trace by Hutchinson's estimator (at "
        f"most {sh.trace_samples} Rademacher vectors), and Keskar's ε-sharpness (Metric 2.1) in the full space "
        f"(projected sign-gradient ascent, 20 steps, at least the L-BFGS-B value on saved runs) and in a random "
        f"{sh.subspace_dim}-dimensional subspace (L-BFGS-B, {sh.lbfgs_iters} iterations). The verdict uses "
        "the equal-accuracy runs (previous section); the figures below show the same runs along lines "
        "through their weights, then the grid for comparison.",
        html="",
        figures=figs,
        extra=extra,
    )
