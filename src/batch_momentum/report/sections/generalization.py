"""The generalization section: the equal-accuracy runs, their candidates and Keskar's table."""

from __future__ import annotations

import pandas as pd

from batch_momentum import config
from batch_momentum.io import tables as T
from batch_momentum.report.plots import sharpness as sharpness_plots
from batch_momentum.report.plots import training as training_plots
from batch_momentum.report.sections.common import html_paragraph, html_table


def generalization_section(
    params: config.Params, equal: pd.DataFrame, candidates: pd.DataFrame, keskar: dict, measures: list[tuple[str, str]]
) -> dict:
    ea = params.equal_acc
    c = (
        candidates.groupby([T.MOMENTUM, T.BATCH_SIZE, T.LR])
        .agg(
            seeds=(T.SEED, "size"),
            at_target=(T.REACHED_TARGET, "sum"),
            val_acc=(T.VAL_ACC, "mean"),
            epochs=(T.EPOCHS, "median"),
            chosen=(T.CHOSEN, "first"),
        )
        .reset_index()
    )
    choices = pd.DataFrame(
        {
            "λ": c[T.MOMENTUM],
            "B": c[T.BATCH_SIZE],
            "η": c[T.LR],
            "seeds at the target": [f"{int(a)} of {n}" for a, n in zip(c.at_target, c.seeds)],
            "epochs (median)": c.epochs,
            "validation accuracy (mean)": c.val_acc,
            "kept": c.chosen.map({True: "✓", False: ""}),
        }
    )
    k = keskar_table_html(keskar)
    return dict(
        id="generalization",
        title="Generalization and sharpness at equal training accuracy",
        text=f"Keskar et al.'s protocol, per λ of the grid: B = {ea.batch_size[0]} and B = {ea.batch_size[1]} "
        f"each train until their training accuracy reaches {ea.target_train_acc} (at most "
        f"{ea.max_epochs} epochs; a run stops as stalled once {ea.patience} epochs add less than half "
        f"a point). η is chosen per batch size and λ from the steps η/(1−λ) ∈ {list(ea.step_small)} "
        f"(small) and {list(ea.step_large)} (large) by validation accuracy among the η whose every "
        "seed reached the target (Shallue et al. 2019). A run short of the target is shown and never "
        "counted as at equal training accuracy. The candidates and the choice:",
        html=html_table(choices) + k["html"],
        after=k["text"],
        figures=[
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
            )
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
