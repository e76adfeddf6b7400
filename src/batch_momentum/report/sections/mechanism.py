"""The mechanism section: do the flatter of the equal-accuracy candidates test better? The row's τ per λ and
measure (from reports/lecture.json) and the scatter behind it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batch_momentum import config
from batch_momentum.analysis.compare import primary_measure
from batch_momentum.analysis.formats import missing
from batch_momentum.report.plots import mechanism as mechanism_plots
from batch_momentum.report.sections.common import html_table


def tau_text(t: dict | None) -> str:
    """τ [lo, hi] of a lecture.json entry; "not measured" without one."""
    if not t or missing(t.get("tau")):
        return "not measured"
    return f"{t['tau']:.2f}" + ("" if missing(t.get("lo")) else f" [{t['lo']:.2f}, {t['hi']:.2f}]")


def tau_table(row: dict) -> pd.DataFrame:
    """One line per λ and measure: τ [95% interval], the runs and seeds behind it, and for the primary measure
    the granulated τ (means within one batch size and within one η) and the verdict."""
    lines = []
    for p in row.get("per_lambda") or []:
        g = p.get("granulated") or {}
        within_lr = g.get("within_lr_none") or (
            "" if missing(g.get("within_lr_mean")) else f"{g['within_lr_mean']:.2f}"
        )
        within_b = g.get("within_batch_mean")
        measures = [(p["measure"], p), *(p.get("others") or {}).items()]
        for k, (label, t) in enumerate(measures):
            lines.append(
                {
                    "λ": f"{p['momentum']:g}",
                    "measure": label,
                    "Kendall τ [95%]": tau_text(t),
                    "runs": (t or {}).get("n_runs", np.nan),
                    "seeds": (t or {}).get("n_seeds", np.nan),
                    "τ within one B (mean)": "" if k or missing(within_b) else f"{within_b:.2f}",
                    "τ within one η (mean)": "" if k else within_lr,
                    "verdict": "" if k else f"{p['verdict']}" + (f" ({p['reason']})" if p.get("reason") else ""),
                }
            )
    return pd.DataFrame(lines)


def mechanism_section(params: config.Params, candidates: pd.DataFrame, row: dict | None) -> dict:
    """The section: what the row measures, its τ table, and the scatter per λ (none when the candidates
    lack the primary measure: the row then says why)."""
    primary = primary_measure(params)
    frame = mechanism_plots.mechanism_frame(candidates, primary.column)
    figures = []
    if len(frame):
        figures.append(
            dict(
                name="mechanism",
                fig=mechanism_plots.plot_mechanism(frame, primary.label),
                caption=f"Test accuracy against the {primary.label} (log axis), one dot per candidate run at the "
                "target, per λ: colour = batch size, dot size = η, ringed = the run its seed kept (the runs of "
                "the Generalization and Sharp-vs-flat rows). What to see if the lecture's mechanism holds: within "
                "each colour and across the two, the flatter runs (left) sit higher. Kendall's τ counts, over "
                "every pair of runs, whether the flatter one tests better (τ = −1: always; +1: never; 0: no "
                "order); a cloud that falls only between the colours, or only along η, is what the granulated "
                "τ in the table separates.",
            )
        )
    table = tau_table(row or {})
    return dict(
        id="mechanism",
        title="Does a flat minimum test better?",
        text=f"The lecture's middle step, flat minimum → better testing, over every candidate run of the "
        f"equal-accuracy protocol that reached the target (both batch sizes, every η, every seed), not only "
        f"the kept ones. Per λ, Kendall's τ-b between the {primary.label} (verdict.sharpness_primary) and test "
        f"accuracy; its 95% interval from {params.verdict.bootstrap} seed-bootstrap resamples (each drawn seed "
        f"brings all its runs). The claim holds when the interval lies below −{params.verdict.margin_tau:g} "
        f"(verdict.margin_tau), does not hold above +{params.verdict.margin_tau:g}, shows no difference inside "
        "that margin. The same τ for the other measures, and Jiang et al. 2019's granulated τ: within one "
        "batch size (η varying) and within one η both batch sizes trained (B varying), which shows whether "
        "sharpness follows test accuracy or only the learning rate (Andriushchenko et al. 2023).",
        html=html_table(table) if len(table) else "",
        figures=figures,
    )
