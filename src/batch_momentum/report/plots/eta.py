"""The η view of the equal-accuracy protocol (Shallue et al. 2019; Cohen et al. 2021): per λ, validation and
test accuracy against η for both batch sizes, and the top Hessian eigenvalue against η beside the stability
threshold 2(1 + λ)/η. Built from analysis.eta.eta_frame: one row per (λ, B, η) with the mean and the 95%
interval over seeds, `short` (drawn hollow: not every seed reached the target) and `kept` (seeds that kept
that η; the η most seeds kept is ringed), `extension` (a step the bracket rule added: a square); and each side's
bracket (analysis.eta.brackets_of) drawn on the validation accuracy: its best η and the neighbours that bound it,
a solid bar to a step that trains (interior), a red dashed bar and × to a step that fails (bounded by failure),
a grey arrow where no step was tried (not bracketed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from batch_momentum.io import tables as T
from batch_momentum.report.plots.style import batch_color

PANELS = ((T.VAL_ACC, "validation accuracy", "--"), (T.TEST_ACC, "test accuracy", "-"))


def kept_rows(view: pd.DataFrame) -> pd.DataFrame:
    """Per (λ, B) the row of the η most seeds kept (ties: the better mean validation accuracy)."""
    kept = view[view["kept"] > 0].sort_values(["kept", T.VAL_ACC], ascending=False)
    return kept.groupby([T.MOMENTUM, T.BATCH_SIZE], as_index=False).head(1)


def bracket_marks(view: pd.DataFrame, brackets: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame of the bracket drawing: per side and direction (lower, upper) the best η, its mean
    validation accuracy (the y of the bar), the bound's η (NaN: open) and how it closes (T.BOUND_*)."""
    rows = []
    for b in brackets.to_dict("records"):
        best = view[
            np.isclose(view[T.MOMENTUM], b[T.MOMENTUM])
            & (view[T.BATCH_SIZE] == b[T.BATCH_SIZE])
            & np.isclose(view[T.LR], b[T.BEST_LR])
        ]
        if b[T.BRACKET] == T.NO_ETA_TRAINS or not len(best):
            continue
        for direction, lr, bound in (("lower", T.LOWER_LR, T.LOWER_BOUND), ("upper", T.UPPER_LR, T.UPPER_BOUND)):
            rows.append(
                {
                    T.MOMENTUM: float(b[T.MOMENTUM]),
                    T.BATCH_SIZE: int(b[T.BATCH_SIZE]),
                    T.BEST_LR: float(b[T.BEST_LR]),
                    T.VAL_ACC: float(best[T.VAL_ACC].iloc[0]),
                    "direction": direction,
                    "bound_lr": float(b[lr]),
                    "bound": b[bound],
                    T.BRACKET: b[T.BRACKET],
                }
            )
    return pd.DataFrame(
        rows, columns=[T.MOMENTUM, T.BATCH_SIZE, T.BEST_LR, T.VAL_ACC, "direction", "bound_lr", "bound", T.BRACKET]
    )


def _bracket(ax, marks: pd.DataFrame, color) -> None:
    """Each bound of a side's best η as a bar at the best's validation accuracy (see the module's text)."""
    for m in marks.to_dict("records"):
        best, y = m[T.BEST_LR], m[T.VAL_ACC]
        if m["bound"] == T.BOUND_OPEN:
            ax.scatter([best], [y], marker="<" if m["direction"] == "lower" else ">", color="0.5", s=40, zorder=5)
            continue
        failed = m["bound"] == T.BOUND_FAILED
        ax.plot([best, m["bound_lr"]], [y, y], "--" if failed else "-", color="red" if failed else color, lw=2.2)
        ax.scatter(
            [m["bound_lr"]], [y], marker="x" if failed else "|", color="red" if failed else color, s=70, zorder=5
        )


def _series(ax, rows: pd.DataFrame, column: str, color, style: str, label: str) -> None:
    rows = rows.sort_values(T.LR)
    x, y = rows[T.LR].to_numpy(float), rows[column].to_numpy(float)
    err = np.vstack([y - rows[f"{column}_lo"].to_numpy(float), rows[f"{column}_hi"].to_numpy(float) - y])
    ax.plot(x, y, style, color=color, lw=1.2, label=label)
    ax.errorbar(x, y, yerr=np.nan_to_num(err), fmt="none", ecolor=color, elinewidth=0.8, capsize=2)
    short = rows["short"].to_numpy(bool)
    added = rows["extension"].to_numpy(bool) if "extension" in rows else np.zeros(len(rows), bool)
    for marker, which in (("o", ~added), ("s", added)):  # a square: a step the extension added
        ax.scatter(x[~short & which], y[~short & which], color=color, marker=marker, s=22, zorder=3)
        ax.scatter(x[short & which], y[short & which], facecolors="white", edgecolors=[color], marker=marker, s=22)


def plot_eta_view(view: pd.DataFrame, brackets: pd.DataFrame | None = None) -> Figure:
    """Two rows of panels, one column per λ: accuracy against η (validation dashed, test solid, each B its
    colour) with each side's bracket (`brackets`, T.BRACKETS) on its validation accuracy, and the top Hessian
    eigenvalue against η with 2(1 + λ)/η (grey); log η axes; the η most seeds of a side kept is ringed; the
    steps the extension added are squares."""
    lams = sorted(view[T.MOMENTUM].unique())
    fig = Figure(figsize=(4.2 * max(len(lams), 1), 6.4), layout="constrained")
    axes = fig.subplots(2, max(len(lams), 1), squeeze=False, sharey="row")
    kept = kept_rows(view)
    marks = bracket_marks(view, brackets) if brackets is not None else bracket_marks(view, view.iloc[:0])
    for j, lam in enumerate(lams):
        at = view[view[T.MOMENTUM] == lam]
        top, bottom = axes[0, j], axes[1, j]
        for b, rows in at.groupby(T.BATCH_SIZE):
            color = batch_color(b)
            for column, name, style in PANELS:
                _series(top, rows, column, color, style, f"B={b} {name}")
            _series(bottom, rows, T.HESSIAN_TOP, color, "-", f"B={b}")
            _bracket(top, marks[(marks[T.MOMENTUM] == lam) & (marks[T.BATCH_SIZE] == b)], color)
            k = kept[(kept[T.MOMENTUM] == lam) & (kept[T.BATCH_SIZE] == b)]
            for ax, column in ((top, T.TEST_ACC), (bottom, T.HESSIAN_TOP)):
                ax.scatter(k[T.LR], k[column], s=110, facecolors="none", edgecolors=[color], linewidths=1.5, zorder=4)
        lrs = np.geomspace(at[T.LR].min(), at[T.LR].max(), 50) if len(at) else np.array([])
        bottom.plot(lrs, 2 * (1 + lam) / lrs, color="0.55", lw=1, label="2(1+λ)/η")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_xlabel("η")
        bottom.set_yscale("log")
        top.set_title(f"λ = {lam:g}")
    axes[0, 0].set_ylabel("accuracy (mean, 95% interval)")
    axes[1, 0].set_ylabel("top Hessian eigenvalue")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    axes[1, -1].legend(fontsize=7, loc="upper right")
    return fig
