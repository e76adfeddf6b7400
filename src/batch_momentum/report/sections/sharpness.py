"""The sharpness section: sharp and flat minima at equal training accuracy."""

from __future__ import annotations

import pandas as pd

from batch_momentum import config
from batch_momentum.io import tables as T
from batch_momentum.report.plots import sharpness as sharpness_plots
from batch_momentum.report.sections.common import html_paragraph, html_table


def rescaling_html(rescaling: pd.DataFrame | None):
    """The rescaling check of one run (the first cell of reports/tables/rescaling.csv that was checked) as a
    short table, each measure before and after and their ratio, with a sentence saying what it shows; a
    paragraph saying why there is none where no run was checked (a CNN, a linear model, no run trained)."""
    if rescaling is None or rescaling.empty:
        return html_paragraph("Rescaling check: not run (reports/tables/rescaling.csv is empty).")
    done = rescaling[rescaling[T.BEFORE].notna()]
    if done.empty:
        return html_paragraph(f"Rescaling check: {rescaling[T.MEASURE].iloc[0]} ({rescaling[T.CELL].iloc[0]}).")
    run = done[T.CELL].iloc[0]
    rows = done[done[T.CELL] == run]
    alpha = rows[T.ALPHA_SCALE].iloc[0]
    text = (
        f"Rescaling check (Dinh et al. 2017) on {run}: layer 1's weights and biases × {alpha:g}, layer 2's weights "
        f"× 1/{alpha:g}, which leaves every output of the ReLU network the same. A measure of the function "
        "keeps ratio 1; the adaptive sharpness should, the Hessian and Keskar's ε-sharpness need not "
        "(tests/test_rescaling.py checks all three in closed form)."
    )
    table = pd.DataFrame(
        {"measure": rows[T.MEASURE], "before": rows[T.BEFORE], "after": rows[T.AFTER], "after / before": rows[T.RATIO]}
    )
    return html_paragraph(text) + html_table(table)


def sharpness_section(
    params: config.Params,
    table: pd.DataFrame,
    equal_directions: pd.DataFrame,
    interpolation: list[dict],
    measures: list[tuple[str, str]],
    rescaling: pd.DataFrame | None = None,
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
        f"{sh.subspace_dim}-dimensional subspace (L-BFGS-B, {sh.lbfgs_iters} iterations), and the adaptive "
        f"sharpness (Kwon et al. 2021; Andriushchenko et al. 2023): the largest rise of the loss over the box "
        f"|δᵢ| ≤ {sh.adaptive_rho:g}·|wᵢ|, by the same sign ascent, not normalized. The verdict uses "
        "the equal-accuracy runs (previous section); the figures below show the same runs along lines "
        "through their weights, then the grid for comparison.",
        html=rescaling_html(rescaling),
        figures=figs,
        extra=extra,
    )
