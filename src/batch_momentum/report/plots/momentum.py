"""Figures of the critical-point experiments (batch_momentum.critical).

Every function takes the JSON-style dict of critical.run_momentum_step (or a tidy per-cell
DataFrame) and returns a matplotlib Figure; nothing is saved or shown here.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from batch_momentum.critical.surfaces import f1, f2  # noqa: E402

_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]


def _colors(lambdas):
    lambdas = sorted(lambdas)
    cmap = plt.get_cmap("viridis")
    n = max(1, len(lambdas) - 1)
    return {lam: cmap(0.85 * i / n) for i, lam in enumerate(lambdas)}


def _lams(runs: dict):
    return sorted(runs, key=float)


def plot_surface_1d(result: dict):
    """f(x) with one trajectory per lambda drawn on it (top) and x^t against t (bottom)."""
    s1 = result["surface_1d"]
    lams = _lams(s1["runs"])
    col = _colors([float(l) for l in lams])
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 7), gridspec_kw={"height_ratios": [3, 2]})
    xs = np.linspace(-1.2, 3.5, 500)
    ax.plot(xs, f1(xs), color="0.25", lw=1.5, zorder=1)
    for k, lam in enumerate(lams):
        run = s1["runs"][lam]
        tr = np.asarray(run["trajectory"])[:, 0]
        c = col[float(lam)]
        end = run["nearest_critical"]["name"] if run["nearest_critical"] else "?"
        if run["first_escape_step"] is not None and not run["escaped"]:
            end += ", after crossing the hill and rolling back"
        # small vertical offset per lambda so the balls do not hide each other
        ax.plot(tr, f1(tr) + 0.12 * k, "o-", ms=2.5, lw=0.6, alpha=0.6, color=c,
                label=f"λ = {float(lam):g}: ends nearest the {end} (x = {tr[-1]:.3g})")
        ax2.plot(np.arange(len(tr)), tr, color=c, lw=1.2)
    for p in s1["critical_points"]:
        x = p["point"][0]
        ax.plot([x], [f1(x)], "k*", ms=9, zorder=3)
        dy = 10 if p["kind"] == "local max" else -16
        ax.annotate(p["name"], (x, f1(x)), textcoords="offset points", xytext=(0, dy), ha="center", fontsize=8)
        ax2.axhline(x, color="0.7", lw=0.6, ls=":")
    ax.set_ylim(-4.6, 2.5)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)  (curves offset by 0.12 per λ)")
    ax.set_title("1-D surface: GD stalls at the flat saddle, momentum rolls on")
    ax.legend(fontsize=7, loc="lower left")
    ax2.set_xscale("symlog", linthresh=10)
    ax2.set_xlim(0, len(tr))
    ax2.set_xlabel("step t")
    ax2.set_ylabel("x^t")
    fig.tight_layout()
    return fig


def plot_surface_2d(result: dict, show_noisy: bool = True):
    """Contours of f(x, y) = (x^2-1)^2/4 + y^2/2 with the offset run per lambda (solid), the
    first noisy run from the stable manifold x = 0 (dashed), and the escape lines |x| = escape_radius."""
    s2 = result["surface_2d"]
    lams = _lams(s2["runs"])
    col = _colors([float(l) for l in lams])
    fig, ax = plt.subplots(figsize=(7, 5.5))
    gx, gy = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-1.2, 1.2, 240))
    z = f2(np.stack([gx, gy], axis=-1))
    cs = ax.contour(gx, gy, z, levels=np.linspace(0.0, 1.2, 16), cmap="Greys", linewidths=0.7)
    ax.clabel(cs, cs.levels[::3], fontsize=6)
    ex = s2["escape_radius"]
    for xv in (-ex, ex):
        ax.axvline(xv, color="tab:red", lw=0.7, ls=":")
    for k, lam in enumerate(lams):
        r = s2["runs"][lam]
        c = col[float(lam)]
        tr = np.asarray(r["offset"]["trajectory"])
        lw = 1.0 + 1.5 * (len(lams) - 1 - k) / max(1, len(lams) - 1)  # thicker below: paths overlap
        step = r["offset"]["first_escape_step"]
        ax.plot(tr[:, 0], tr[:, 1], "-", lw=lw, color=c,
                label=f"λ = {float(lam):g}: escapes at step {step if step is not None else '—'}")
        if show_noisy and r["noisy"]:
            trn = np.asarray(r["noisy"][0]["trajectory"])
            ax.plot(trn[:, 0], trn[:, 1], "--", lw=0.9, color=c, alpha=0.8)
    for p in s2["critical_points"]:
        ax.plot(*p["point"], "k*", ms=10)
        ax.annotate(p["name"], p["point"], textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    ax.set_xlabel("x (unstable direction at the saddle)")
    ax.set_ylabel("y")
    ax.set_title("2-D saddle: solid = tiny offset off x = 0\ndashed = gradient noise started on x = 0", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_escape_fraction(result: dict):
    """Finite-sum cases started at a critical point of the mean loss: top, the fraction of seeds
    that escape against batch size; bottom, the median step of escape among those that did.
    One column per case, one line per lambda."""
    fs = result["finite_sum"]
    cases = list(fs["cases"])
    fig, axes = plt.subplots(2, len(cases), figsize=(5.2 * len(cases), 6.5), squeeze=False, sharex=True)
    titles = {"saddle": "started on the 2-D saddle", "minimum": "started in the shallow 1-D minimum"}
    for j, case in enumerate(cases):
        fc = fs["cases"][case]
        lams = _lams(fc["escape_fraction"])
        col = _colors([float(l) for l in lams])
        ax, ax2 = axes[0, j], axes[1, j]
        for k, lam in enumerate(lams):
            kw = dict(marker=_MARKERS[k % len(_MARKERS)], color=col[float(lam)], label=f"λ = {float(lam):g}")
            ax.plot(fs["batch_sizes"], fc["escape_fraction"][lam], **kw)
            med = [np.median([s for s in per_seed if s is not None]) if any(s is not None for s in per_seed)
                   else np.nan for per_seed in fc["escape_steps"][lam]]
            ax2.plot(fs["batch_sizes"], med, **kw)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(f"fraction of {fs['seeds']} seeds that escape\nwithin {fc['steps']} steps (η = {fc['lr']:g})")
        ax.set_title(titles.get(case, case), fontsize=10)
        ax2.set_yscale("log")
        ax2.set_ylabel("median escape step (escaped seeds)")
        ax2.set_xscale("log", base=2)
        ax2.set_xticks(fs["batch_sizes"])
        ax2.set_xticklabels([str(b) for b in fs["batch_sizes"]])
        ax2.set_xlabel(f"batch size B (N = {fs['n']}: full batch, never escapes)")
        ax.legend(fontsize=7)
    fig.suptitle("Critical point of L = mean of l_n, but not of each l_n: only minibatches move", fontsize=11)
    fig.tight_layout()
    return fig
