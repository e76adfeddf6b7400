"""Figures and tables of the momentum section, drawn from the momentum step's JSON."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .surfaces import f1, f2  # noqa: E402


def _colors(lambdas):
    return dict(zip(lambdas, sns.color_palette("viridis", len(lambdas))))


def plot_1d(result: dict):
    col = _colors(result["lambdas"])
    xs = np.linspace(-1.2, 3.4, 400)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(xs, f1(xs), color="0.3", lw=1.5, label="f(x)")
    for run in result["one_d"]:
        tr = np.array(run["trajectory"])
        ax.plot(tr, f1(tr), "o", ms=3, alpha=0.5, color=col[run["momentum"]], label=f"λ={run['momentum']}: ends {run['ends_near']}")
    for c, kind in result["critical_1d"]:
        ax.annotate(kind, (c, f1(c)), textcoords="offset points", xytext=(0, 12), ha="center", fontsize=8)
    ax.set_ylim(-2, 8)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize=8)
    ax.set_title("1-D surface: the iterates of each run (dots) over f")
    fig.tight_layout()
    return fig


def plot_2d(result: dict):
    col = _colors(result["lambdas"])
    g = np.linspace(-1.6, 1.6, 200)
    X, Y = np.meshgrid(g, np.linspace(-1.2, 1.2, 160))
    Z = f2(np.stack([X, Y], -1))
    starts = ["tiny offset", "on the manifold, noisy gradient"]
    fig, axes = plt.subplots(1, len(starts), figsize=(11, 4.2), sharey=True)
    for ax, start in zip(axes, starts):
        ax.contour(X, Y, Z, levels=25, cmap="Greys", linewidths=0.6)
        for run in result["two_d"]:
            if run["start"] == start:
                tr = np.array(run["trajectory"])
                ax.plot(tr[:, 0], tr[:, 1], "-", lw=1.2, color=col[run["momentum"]],
                        label=f"λ={run['momentum']}: left at step {run['escape_step']}")
        for c, kind in result["critical_2d"]:
            ax.plot(*c, "kx")
        ax.set_title(f"2-D saddle, start {start}")
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("y")
    fig.tight_layout()
    return fig


def plot_escape(result: dict):
    df = pd.DataFrame(result["finite_sum"])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sns.lineplot(data=df, x="batch_size", y="escape_fraction", hue="momentum", marker="o", palette="viridis", ax=ax)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (N = full batch)")
    ax.set_ylabel("fraction of runs that left")
    ax.set_title("Finite-sum loss started at its critical point")
    ax.legend(title="λ")
    fig.tight_layout()
    return fig


def plot_vs_temperature(df: pd.DataFrame, y: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.scatterplot(data=df, x="temperature", y=y, hue="momentum", style="batch_size", palette="viridis", s=60, ax=ax)
    ax.set_xscale("log")
    ax.set_xlabel("noise temperature g = ηN / (B(1−λ))  (log scale)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def figures(result: dict):
    """(name, figure, caption) for each figure of the section."""
    return [
        ("1d", plot_1d(result), "Gradient descent with the lecture's momentum on a 1-D surface with a flat saddle, a "
                                "shallow and a deeper minimum; one run per λ of the grid from the same start."),
        ("2d", plot_2d(result), "A 2-D saddle: from a tiny offset off its stable manifold (left) and from the manifold "
                                "itself with noisy gradients (right); one run per λ."),
        ("escape", plot_escape(result), "Minibatch SGD from a critical point of the mean loss: the fraction of seeds "
                                        "that leave it, against batch size; the full batch never moves."),
    ]


def tables_html(result: dict) -> str:
    rows = [dict(surface="1-D", momentum=r["momentum"], start="x0 left of the saddle", ends=r["ends_near"],
                 left=r["passed_saddle"], step=None) for r in result["one_d"]]
    rows += [dict(surface="2-D", momentum=r["momentum"], start=r["start"], ends=r["ends_near"], left=r["escaped"],
                  step=r["escape_step"]) for r in result["two_d"]]
    df = pd.DataFrame(rows).rename(columns={"left": "escaped", "step": "escape step"})
    esc = pd.DataFrame(result["finite_sum"]).pivot(index="momentum", columns="batch_size", values="escape_fraction")
    esc.columns = [f"B={c}" for c in esc.columns]
    return (df.to_html(index=False, border=0, na_rep="—", classes="cells")
            + "<p>Fraction of finite-sum runs that left the critical point, by λ (rows) and batch size:</p>"
            + esc.reset_index().to_html(index=False, border=0, classes="cells", float_format=lambda v: f"{v:.2f}"))
