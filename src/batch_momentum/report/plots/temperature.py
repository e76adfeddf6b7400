"""The noise-temperature view of the trained runs: each measure against g = ηN/(B(1−λ)), and
against the final training loss (matplotlib, Agg). Each function returns a Figure."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from batch_momentum.analysis import stats  # noqa: E402

_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]


def _colors(lambdas):
    lambdas = sorted(lambdas)
    cmap = plt.get_cmap("viridis")
    n = max(1, len(lambdas) - 1)
    return {lam: cmap(0.85 * i / n) for i, lam in enumerate(lambdas)}


def _lams(runs: dict):
    return sorted(runs, key=float)


def plot_vs_temperature(df, y: str, ylabel: str | None = None, x: str = "temperature", hue: str = "momentum",
                        style: str = "batch_size", stats: dict | None = None):
    """df[y] against the noise temperature g = eta N / (B (1 - lambda)) on a log x axis;
    colour = lambda, marker = batch size; rows with NaN y are left out. With `stats` (a
    stats.collapse_stats result) its verdict goes in the title. Works on the trained grid
    (test_acc, train_acc, a sharpness column) and on the finite-sum cells (escape_fraction)."""
    from matplotlib.lines import Line2D

    ylabel = ylabel or y
    d = df.dropna(subset=[x, y])
    d = d[d[x] > 0]
    lams = sorted(d[hue].unique())
    col = _colors(lams)
    bss = sorted(d[style].unique())
    mk = {b: _MARKERS[i % len(_MARKERS)] for i, b in enumerate(bss)}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for lam in lams:
        for b in bss:
            sel = d[(d[hue] == lam) & (d[style] == b)]
            if len(sel):
                ax.scatter(sel[x], sel[y], color=col[lam], marker=mk[b], s=40, alpha=0.85,
                           edgecolors="k", linewidths=0.4)
    ax.set_xscale("log")
    ax.set_xlabel("noise temperature g = ηN / (B(1 − λ))")
    ax.set_ylabel(ylabel)
    handles = [Line2D([], [], color=col[l], marker="o", ls="", label=f"λ = {l:g}") for l in lams]
    handles += [Line2D([], [], color="0.4", marker=mk[b], ls="", label=f"B = {b}") for b in bss]
    ax.legend(handles=handles, fontsize=7, ncol=2, loc="best")
    title = f"{ylabel} against the noise temperature"
    if stats:
        title += f"\n{stats.get('interpretation', '')}"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_temperature_views(df, measures: list[tuple[str, str]]):
    """Each measure (columns) against the noise temperature g = ηN/(B(1−λ)) (top row) and against the
    final training loss (bottom row), log x axes; colour = λ, marker = B, hollow = short of the
    training-accuracy target. The bottom row shows how much of a trend in g is how far training got."""
    from matplotlib.lines import Line2D

    d = df[(df.status == "ok") & (df.temperature > 0)]
    at = stats.at_target(d)
    lams, bss = sorted(d.momentum.unique()), sorted(d.batch_size.unique())
    col = _colors(lams)
    mk = {b: _MARKERS[i % len(_MARKERS)] for i, b in enumerate(bss)}
    fig, axes = plt.subplots(2, len(measures), figsize=(3.6 * len(measures) + 0.6, 6.4), squeeze=False)
    for j, (y, label) in enumerate(measures):
        for i, x in enumerate(("temperature", "train_loss")):
            ax = axes[i][j]
            for lam in lams:
                for b in bss:
                    sel = (d.momentum == lam) & (d.batch_size == b) & d[y].notna()
                    for filled, part in ((True, d[sel & at]), (False, d[sel & ~at])):
                        if len(part):
                            ax.scatter(part[x], part[y], marker=mk[b], s=34, alpha=0.85, linewidths=0.9,
                                       facecolors=col[lam] if filled else "none", edgecolors=col[lam])
            ax.set_xscale("log")
            ax.set_xlabel("noise temperature g" if x == "temperature" else "final training loss")
            if y not in ("test_acc", "train_acc") and (d[y].dropna() > 0).all():
                ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            if i == 0:
                ax.set_title(label, fontsize=9)
    handles = [Line2D([], [], color=col[l], marker="o", ls="", label=f"λ = {l:g}") for l in lams]
    handles += [Line2D([], [], color="0.4", marker=mk[b], ls="", label=f"B = {b}") for b in bss]
    handles.append(Line2D([], [], color="0.4", marker="o", mfc="none", ls="", label="short of the target"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
