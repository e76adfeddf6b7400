"""The generalization section: the equal-accuracy runs, their candidates and Keskar's table."""

from __future__ import annotations

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis import eta
from batch_momentum.io import tables as T
from batch_momentum.report.plots import eta as eta_plots
from batch_momentum.report.plots import sharpness as sharpness_plots
from batch_momentum.report.plots import training as training_plots
from batch_momentum.report.sections.common import html_paragraph, html_table


def generalization_section(
    params: config.Params,
    equal: pd.DataFrame,
    candidates: pd.DataFrame,
    keskar: dict,
    measures: list[tuple[str, str]],
    brackets: pd.DataFrame | None = None,
) -> dict:
    """The generalization section: the candidates' table, Keskar's table and the η view with each side's
    bracket as train_equal certified it (`brackets`, reports/tables/brackets.csv; without it, worked out from
    the candidates by the same rule)."""
    ea = params.equal_acc
    view = eta.eta_frame(candidates)
    choices = pd.DataFrame(
        {
            "λ": view[T.MOMENTUM],
            "B": view[T.BATCH_SIZE],
            "η": view[T.LR],
            "η/(1−λ)": view["step"].map("{:.3g}".format),
            "seeds at the target": [f"{int(a)} of {n}" for a, n in zip(view["at_target"], view["seeds"])],
            "validation accuracy": view[T.VAL_ACC],
            "test accuracy": view[T.TEST_ACC],
            "top eigenvalue": view[T.HESSIAN_TOP],
            "kept by seeds": view["kept"].map(lambda n: str(n) if n else ""),
        }
    )
    k = keskar_table_html(keskar)
    return dict(
        id="generalization",
        title="Generalization and sharpness at equal training accuracy",
        text=f"Keskar et al.'s protocol, per λ of the grid: B = {ea.batch_size[0]} and B = {ea.batch_size[1]} "
        f"each train until their training accuracy reaches {ea.target_train_acc} (at most "
        f"{ea.max_epochs} epochs; a run stops as stalled once {ea.patience} epochs add less than half "
        f"a point). Every step η/(1−λ) of the start of the sweep, {list(ea.step_small)} (small) and "
        f"{list(ea.step_large)} (large), trains every seed, then the next step of the ladder (×{ea.extend_factor:g}) "
        f"beyond a side's best η wherever no step bounds it, up to {ea.extend_cap} steps a side; each seed keeps "
        "the η with its best validation accuracy among its runs at "
        "the target (the η tuned per batch size, Shallue et al. 2019), so the choice varies over seeds inside the "
        "intervals. A run short of the target is shown and never counted as at equal training accuracy. Every "
        "candidate, with its means over the seeds at the target:",
        html=html_table(choices) + k["html"],
        after=k["text"],
        figures=[
            dict(
                name="eta_view",
                fig=eta_plots.plot_eta_view(view, eta.brackets_of(candidates) if brackets is None else brackets),
                caption="The η view, per λ (columns): above, validation (dashed) and test (solid) accuracy against "
                "η for each batch size (mean and 95% interval over the seeds at the target; hollow: not every seed "
                "reached the target); below, the top Hessian eigenvalue against η, and the stability threshold "
                "2(1+λ)/η (grey). The η most seeds kept is ringed; squares are steps the extension added. Each side's "
                "bracket is drawn on its validation accuracy: from its best η (the best mean validation accuracy "
                "among the steps where at least half the seeds reach the target) a solid bar to a neighbour that "
                "trains (interior), a red dashed bar ending in × to a neighbour that fails (bounded by failure), a "
                "grey arrow where no step was tried (not bracketed). What to see: how far the accuracy moves with η "
                "beside the gap between the batch sizes (Shallue et al. 2019), and where the eigenvalue follows "
                "the threshold, set by η rather than by the batch size (Cohen et al. 2021).",
            ),
            dict(
                name="equal_accuracy",
                fig=training_plots.plot_equal_runs(
                    equal, [(T.TEST_ACC, "test accuracy")] + measures, tuple(ea.batch_size)
                ),
                caption="The small (left, darker) and the large (right, lighter) batch at equal training "
                "accuracy, per λ, each B in its colour as in every figure: test accuracy and every "
                "sharpness measure (log axes where every value is positive), each seed a dot, the mean a "
                "bar (hollow: short of the target, left out). What to see: lower test accuracy and "
                "higher sharpness on the right of each pair, if the lecture's claim holds.",
            ),
        ]
        + ([stability_figure(equal, tuple(ea.batch_size))] if T.HESSIAN_TOP in equal else []),
    )


def stability_figure(equal: pd.DataFrame, sizes: tuple[int, int]) -> dict:
    """Sharpness against the stability threshold (issue 21): the figure, and a caption that says what a
    dot at the line means and where this run's runs sit (median eigenvalue / threshold per side and λ)."""
    where = sharpness_plots.edge_text(sharpness_plots.stability_frame(equal, sizes))
    return dict(
        name="sharpness_vs_threshold",
        fig=sharpness_plots.plot_stability(equal, sizes),
        caption="Sharpness against the stability threshold: each equal-accuracy run's top Hessian eigenvalue "
        "against 2(1+λ)/η, the largest curvature at which gradient descent with heavy-ball momentum λ and "
        "learning rate η is stable; colour λ, marker the batch size, hollow: short of the target (left out "
        "of the medians). A run whose eigenvalue sits at the line y = x is at its learning rate's edge of "
        'stability (Cohen et al. 2021, "Gradient descent on neural networks typically occurs at the edge of '
        'stability"): its sharpness is set by its η, so tuning η per batch size can set the sharpness gap by '
        "itself. Median eigenvalue / threshold, " + (where or "no run at the target") + ".",
    )


def keskar_table_html(k: dict) -> dict:
    """Keskar et al.'s Table 2/3 row beside this run's equal-accuracy runs (mean ± std over seeds)."""

    def cell(v):
        if v is None or v.get("mean") is None:
            return "n/a"
        return f"{v['mean']:.4g}" + ("" if v.get("std") is None else f" ± {v['std']:.2g}")

    rows = [
        {
            "λ": r["momentum"],
            "side": r["side"],
            "B": r["batch_size"],
            "η": r["lr"],
            "seeds at target": f"{r['seeds']} of {r['of']}",
            **{c["label"]: cell(r["values"].get(c["column"])) for c in k["columns"]},
        }
        for r in k["rows"]
    ]
    pub = k["published"]
    for side, label in (("small", "SB = 256"), ("large", "LB = 10%")):
        v = pub[side]
        rows.append(
            {
                "λ": f"Keskar {pub['network']}",
                "side": side,
                "B": label,
                "η": "Adam",
                "seeds at target": "5 runs",
                "training accuracy": f"{v['train_acc']:.4g}",
                "test accuracy": f"{v['test_acc']:.4g}",
                f"ε-sharpness ε={pub['epsilon']:g}": f"{v['eps_sharpness']:g}",
            }
        )
    frame = pd.DataFrame(rows).fillna("")
    return dict(
        html=html_paragraph(
            "Keskar et al.'s table, side by side (mean ± standard deviation over the seeds at the target):",
            id="keskar",
        )
        + html_table(frame),
        text=f"Published row: {pub['source']}. What differs: {k['differs']}.",
    )
