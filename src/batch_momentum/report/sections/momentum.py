"""The momentum section: the critical-point experiments on surfaces with known answers."""
from __future__ import annotations

import math

import pandas as pd

from batch_momentum.report.plots import momentum as momentum_plots
from batch_momentum.report.sections.common import html_table


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _or_nan(v) -> float:
    """A JSON number that may be null (NaN written as null) back as a float."""
    return float("nan") if v is None else float(v)


def momentum_summary(result: dict) -> str:
    """The section's text: what each experiment of the momentum step found, in numbers."""
    rows = result["summary"]
    stall = [r for r in rows if not r["reached_deep_min_1d"]]
    deep = [r["momentum"] for r in rows if r["reached_deep_min_1d"]]
    c = result["config"]
    stalled = ", ".join(f"{r['momentum']:g}" for r in stall)
    text = [f"1-D surface (start x = {c['start_1d']}, η = {c['lr_1d']}, {c['steps_1d']} steps): "
            + "; ".join(f"λ = {r['momentum']:g} ends at x = {r['final_1d']:.3g} (nearest the {r['nearest_1d']})"
                        for r in rows) + ". "
            + (f"With λ = {', '.join(f'{v:g}' for v in deep)} the ball rolls past the flat saddle and over the hill "
               "into the deeper minimum; " if deep else "No λ of the grid reaches the deeper minimum with these settings; ")
            + (f"with λ = {stalled} it stays near the first critical point it reaches." if stall
               else "every λ passes the first critical point.")]
    text.append("2-D saddle: started exactly on its stable manifold (x = 0), the largest |x| any run reaches is "
                f"{max(r['on_manifold_max_abs_x'] for r in rows):.1g}, with or without momentum; "
                f"from (x, y) = ({c['start_2d'][0]:g}, {c['start_2d'][1]:g}) "
                + ", ".join(f"λ = {r['momentum']:g} " + (f"leaves after {r['escape_step_2d']} steps"
                                                          if r["escape_step_2d"] is not None else
                                                          f"does not leave within {c['steps_2d']} steps")
                            + (f" (predicted {r['predicted_escape_step_2d']:.0f})"
                               if _finite_number(r["predicted_escape_step_2d"]) else "") for r in rows)
                + (("; with gradient noise (started on x = 0) the share of runs that leave is "
                    + ", ".join(f"{r['noisy_escaped_2d']:.0%} for λ = {r['momentum']:g}" for r in rows))
                   if all(r["noisy_escaped_2d"] is not None for r in rows) else "") + ".")
    fs = result["finite_sum"]
    full = [x["escape_fraction"] for x in fs["cells"] if x["batch_size"] == fs["n"]]
    text.append(f"Finite sums of N = {fs['n']} losses started at a critical point of their mean: "
                + (f"the full batch (B = N) escapes in {max(full):.0%} of the runs at most; " if full else "")
                + f"the share of the {fs['seeds']} seeds that escape, by batch size and λ, is in the "
                "table below. Noise temperature of these runs, g = ηN/(B(1−λ)): " + " ".join(
                    f"{case}: {v.get('interpretation', '')} (Spearman ρ with g = {_or_nan(v.get('spearman')):.2f})."
                    for case, v in fs.get("collapse", {}).items()))
    ws = result["weighted_sum_check"]
    text.append(f"The recursion mᵗ = λmᵗ⁻¹ − ηgᵗ⁻¹ equals the weighted sum −η Σᵢ λ^(t−1−i) gⁱ of all earlier "
                f"gradients over {ws['steps']} random gradients to within "
                f"{max(v for v in ws['max_abs_diff'].values()):.1e} (largest difference over λ).")
    return " ".join(text)


def momentum_section(result: dict) -> dict:
    figs = [
        dict(name="momentum_1d", fig=momentum_plots.plot_surface_1d(result),
             caption="Gradient descent with the lecture's momentum on a 1-D surface with a flat saddle (x = 0), a "
                     "shallow minimum (x = 1), a small hill (x = 1.5) and a deeper minimum (x = 3); one run per λ."),
        dict(name="momentum_2d", fig=momentum_plots.plot_surface_2d(result),
             caption="A 2-D saddle between two minima: from a tiny offset off its stable manifold (solid) and from "
                     "the manifold itself with noisy gradients (dashed); one run per λ."),
        dict(name="momentum_escape", fig=momentum_plots.plot_escape_fraction(result),
             caption="Minibatch SGD started at a critical point of a finite-sum loss: the fraction of seeds that "
                     "escape, and how fast, against batch size; the largest B is the full batch."),
    ]
    escaped = pd.DataFrame([{"λ": r["momentum"], "1-D: ends nearest": r["nearest_1d"],
                             "1-D: reached deep minimum": r["reached_deep_min_1d"],
                             "2-D offset: escape step": r["escape_step_2d"],
                             "2-D on manifold: max |x|": r["on_manifold_max_abs_x"],
                             "2-D noisy: share escaped": r["noisy_escaped_2d"]} for r in result["summary"]])
    fs = result["finite_sum"]
    fractions = pd.DataFrame(fs["cells"]).pivot_table(index=["case", "momentum"], columns="batch_size",
                                                      values="escape_fraction")
    fractions.columns = [f"B={c}" for c in fractions.columns]
    html = ("<p>Which runs escaped:</p>" + html_table(escaped)
            + f"<p>Finite sums: share of {fs['seeds']} seeds that escaped, by case and λ (rows) and batch size:</p>"
            + html_table(fractions.reset_index(), "{:.2f}"))
    return dict(id="momentum", title="Momentum and critical points", text=momentum_summary(result), html=html,
                figures=figs)
