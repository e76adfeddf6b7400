"""The momentum section: the critical-point experiments on surfaces with known answers.

Its text is the findings of analysis.momentum, the same sentences the lecture rows give as evidence.
"""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis.momentum import findings
from batch_momentum.critical.records import CriticalResult, as_result
from batch_momentum.report.plots import momentum as momentum_plots
from batch_momentum.report.sections.common import html_paragraph, html_table


def outcomes_table(r: CriticalResult) -> pd.DataFrame:
    """One row per λ: which of the 1-D and 2-D runs escaped, and how."""
    return pd.DataFrame(
        [
            {
                "λ": s.momentum,
                "1-D: ends nearest": s.nearest_1d,
                "1-D: reached deep minimum": s.reached_deep_min_1d,
                "2-D offset: escape step": s.escape_step_2d,
                "2-D on manifold: max |x|": s.on_manifold_max_abs_x,
                "2-D noisy: share escaped": s.noisy_escaped_2d,
            }
            for s in r.summary
        ]
    )


def fractions_table(r: CriticalResult) -> pd.DataFrame:
    """Finite sums: one row per (case, λ), one column per batch size B: the share of seeds that escaped."""
    fs = r.finite_sum
    rows = []
    for fc in fs.cases:
        for lam in sorted(r.lambdas):
            cells = {c.batch_size: c.escape_fraction for c in fs.cells if c.case == fc.case and c.momentum == lam}
            rows.append({"case": fc.case, "λ": lam, **{f"B={b}": cells.get(b) for b in sorted(fs.batch_sizes)}})
    return pd.DataFrame(rows)


def momentum_section(result: CriticalResult | dict) -> dict:
    """The section (id, title, text, html, figures) from the momentum step's records (or its parsed JSON)."""
    r = as_result(result)
    figs = [
        dict(
            name="momentum_1d",
            fig=momentum_plots.plot_surface_1d(r),
            caption="Gradient descent with the lecture's momentum on a 1-D surface with a flat saddle (x = 0), a "
            "shallow minimum (x = 1), a small hill (x = 1.5) and a deeper minimum (x = 3); one run per λ.",
        ),
        dict(
            name="momentum_2d",
            fig=momentum_plots.plot_surface_2d(r),
            caption="A 2-D saddle between two minima: from a tiny offset off its stable manifold (solid) and from "
            "the manifold itself with noisy gradients (dashed); one run per λ.",
        ),
        dict(
            name="momentum_escape",
            fig=momentum_plots.plot_escape_fraction(r),
            caption="Minibatch SGD started at a critical point of a finite-sum loss: the fraction of seeds that "
            "escape, and how fast, against batch size; the largest B is the full batch.",
        ),
    ]
    html = (
        html_paragraph("Which runs escaped:")
        + html_table(outcomes_table(r))
        + html_paragraph(
            f"Finite sums: share of {r.finite_sum.seeds} seeds that escaped, by case and λ (rows) and batch size:"
        )
        + html_table(fractions_table(r), "{:.2f}")
    )
    return dict(id="momentum", title="Momentum and critical points", text=findings(r).text(), html=html, figures=figs)
