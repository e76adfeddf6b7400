"""Figures of the critical-point experiments (batch_momentum.critical) and of the noise temperature.

Every function takes the JSON-style dict of critical.run_momentum_step (or a tidy per-cell
DataFrame) and returns a matplotlib Figure; nothing is saved or shown here.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from batch_momentum.analysis import stats  # noqa: E402
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
