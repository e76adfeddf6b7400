"""report: reports/index.html, one self-contained page that answers the lecture's table.

Reads only the aggregated tables, the analyze step's lecture table and the outputs of the
timing, interpolate and momentum steps; draws
the figures (also saved as PNG under reports/figures/) and embeds them as data URIs, so
the page opens offline without any other file.
"""
from __future__ import annotations

import argparse
import base64
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from . import config  # noqa: E402
from . import files, provenance, results  # noqa: E402



# ---------------------------------------------------------------- figures
def figure_uri(fig, path: Path | None = None) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    if path is not None:
        files.write_bytes(path, buf.getvalue())
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _lam_palette(values):
    return dict(zip(sorted(values), sns.color_palette("viridis", len(values))))


def plot_accuracy_vs_batch(table: pd.DataFrame):
    ok = table[table.status == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    pal = _lam_palette(table.momentum.unique())
    for ax, split in zip(axes, ["train", "test"]):
        sns.lineplot(data=ok, x="batch_size", y=f"{split}_acc", hue="momentum", palette=pal, marker="o",
                     errorbar=("pi", 100), ax=ax)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{split} accuracy after training")
        ax.set_xlabel("batch size B (log scale)")
        ax.set_ylabel("accuracy")
        ax.legend(title="λ")
    fig.suptitle("Accuracy after training against batch size (one epoch budget, early stop at the target); "
                 "band = range over seeds", fontsize=10)
    fig.tight_layout()
    return fig


def plot_heatmap(table: pd.DataFrame, column="test_acc"):
    ok = table[table.status == "ok"]  # a diverged cell's accuracy is that of NaN logits: leave it blank
    grid = ok.pivot_table(index="momentum", columns="batch_size", values=column, aggfunc="mean")
    grid = grid.reindex(index=sorted(table.momentum.unique()), columns=sorted(table.batch_size.unique()))
    fig, ax = plt.subplots(figsize=(1.2 * grid.shape[1] + 2, 0.8 * grid.shape[0] + 1.6))
    sns.heatmap(grid, annot=True, fmt=".3f", cmap="mako", ax=ax, cbar_kws={"label": column})
    ax.set_xlabel("batch size B")
    ax.set_ylabel("momentum λ")
    ax.set_title(f"{column.replace('_', ' ')} over (B, λ), mean over finished seeds (blank: all diverged)")
    fig.tight_layout()
    return fig


def plot_curves(curves: pd.DataFrame, x="epoch"):
    lams = sorted(curves.momentum.unique())
    fig, axes = plt.subplots(1, len(lams), figsize=(4.2 * len(lams), 3.6), sharey=True, squeeze=False)
    pal = dict(zip(sorted(curves.batch_size.unique()), sns.color_palette("rocket_r", curves.batch_size.nunique())))
    for ax, lam in zip(axes[0], lams):
        sub = curves[(curves.momentum == lam) & ((curves.updates > 0) if x == "updates" else True)]
        sns.lineplot(data=sub, x=x, y="train_acc", hue="batch_size", palette=pal, errorbar=None,
                     units="seed", estimator=None, ax=ax, legend=ax is axes[0][0])
        ax.set_title(f"λ = {lam}")
        ax.set_ylabel("training accuracy")
        if x == "updates":
            ax.set_xscale("log")
            ax.set_xlabel("updates (log scale)")
    axes[0][0].legend(title="B", fontsize=8)
    fig.suptitle(f"Training curves by {x} (one line per seed)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- page
def settings_lines(params: config.Params, table: pd.DataFrame) -> list[str]:
    d, m, t, g = params.data, params.model, params.train, params.grid
    rule = {"constant": "the same η for every batch size",
            "linear": f"η scaled linearly with B/{t.base_batch_size}",
            "sqrt": f"η scaled with √(B/{t.base_batch_size})"}[t.lr_rule]
    target = ("no early stop" if t.target_train_acc is None
              else f"stopping early once training accuracy ≥ {t.target_train_acc}")
    return [
        f"Data: {d.dataset}, {d.n_train} training, {d.n_val} validation, {d.n_test} test examples (seed {d.seed}).",
        f"Model: {m.name}" + (f" with hidden widths {list(m.hidden)}" if m.name != "linear" else "") +
        f"; mean cross-entropy; {int(table.n_params.iloc[0])} parameters.",
        f"Optimizer: gradient descent with the lecture's momentum, m = λm − ηg, θ = θ + m; η = {t.lr} "
        f"with the '{t.lr_rule}' rule ({rule}).",
        f"Budget: an epoch budget of {t.max_epochs} epochs for every cell, {target}. "
        "Comparisons across batch sizes use this one budget and this one learning-rate rule; η was not tuned "
        "per batch size, so they show what a fixed setting does, not the best each batch size can do.",
        f"Grid: B ∈ {list(g.batch_size)}, λ ∈ {list(g.momentum)}, seeds {list(g.seed)}; "
        f"{len(table)} cells, {(table.status == 'diverged').sum()} diverged.",
        "Device: " + ", ".join(sorted(f"{a} ({b})" for a, b in table[["device", "device_name"]].astype(str)
                                      .drop_duplicates().itertuples(index=False))) +
        f", {int(table.threads.max())} CPU thread(s) per job, torch {table.torch_version.iloc[0]}.",
        provenance.describe(table.to_dict("records")),
    ]


def _html_table(df: pd.DataFrame, fmt="{:.4g}") -> str:
    return df.to_html(index=False, float_format=lambda v: fmt.format(v), border=0, na_rep="—", classes="cells")


# Keskar et al. 2017, Tables 2 and 3, network F1 (MLP on MNIST): SB = 256, LB = 10% of the
# training set, Adam; accuracies in %, sharpness at epsilon = 1e-3 in the full space.

def timing_section(timing: pd.DataFrame, figures_dir: Path) -> dict:
    from . import plots_timing

    figs = [dict(uri=figure_uri(plots_timing.plot_time_per_update(timing), figures_dir / "time_per_update.png"),
                 caption="Time for one update against batch size: the whole batch in one call (parallel) and the "
                         "examples one after another (no parallel computing); band: min–max over repeats."),
            dict(uri=figure_uri(plots_timing.plot_time_per_epoch(timing), figures_dir / "time_per_epoch.png"),
                 caption="Time for one epoch: measured where affordable, and updates per epoch × time per update.")]
    dev = f"{timing.device_name.iloc[0]} ({timing.device.iloc[0]}, {int(timing.threads.iloc[0])} thread(s), " \
          f"torch {timing.torch_version.iloc[0]})"
    return dict(id="timing", title="Parallel computing: time per update and per epoch",
                text=f"Measured by the timing step on {dev}, with no other job running. Medians of the repeats.",
                html=_html_table(timing.drop(columns=["device", "device_name", "threads", "torch_version"]), "{:.4g}"),
                figures=figs)


def noise_section(table: pd.DataFrame, figures_dir: Path) -> dict:
    from . import plots_timing

    return dict(id="noise", title="Gradient noise: noisy small batches, stable large ones",
                text="Per-example gradients on a fixed subset of the training set give the gradient noise scale "
                     "B_simple = tr(Σ)/|G|² (McCandlish et al. 2018), at the initial and the final weights. From it, "
                     "the expected cosine between the gradient of a batch of B examples drawn from the whole training "
                     "set and the full gradient is 1/√(1 + B_simple(1/B − 1/N)); batches sampled from the subset "
                     "check it where B is smaller than the subset. The noise-to-signal ratio of a batch gradient is "
                     "B_simple/B.",
                html="", figures=[dict(uri=figure_uri(plots_timing.plot_noise_vs_batch(table),
                                                      figures_dir / "gradient_noise.png"),
                                       caption="Gradient noise against batch size, one line per λ.")])


def sharpness_section(params: config.Params, table: pd.DataFrame, directions: pd.DataFrame, interpolation: list[dict],
                      figures_dir: Path) -> dict:
    from . import plots_sharpness

    measures = [("hessian_top", "top Hessian eigenvalue"), ("hessian_trace", "Hessian trace (Hutchinson)")]
    measures += [(c, c.replace("sharpness_", "ε-sharpness φ, ").replace("_eps", ", ε=")) for c in table.columns
                 if c.startswith("sharpness_") and c not in ("sharpness_wall_s", "sharpness_subset")]
    figs = [dict(uri=figure_uri(plots_sharpness.plot_sharpness_vs_batch(table, col, label),
                                figures_dir / f"{col}_vs_batch.png"),
                 caption=f"{label} at the final weights against batch size, one line per λ (band: range over seeds).")
            for col, label in measures if col in table and table[col].notna().any()]
    for curve in interpolation:
        if curve.get("alpha"):
            name = f"interpolation_lam{curve['momentum']}_seed{curve['seed']}"
            figs.append(dict(uri=figure_uri(plots_sharpness.plot_interpolation(
                curve, f"{curve['small']} (α=0) → {curve['large']} (α=1)"), figures_dir / f"{name}.png"),
                caption=f"Loss and accuracy along θ(α) = α·θ_LB + (1−α)·θ_SB, λ={curve['momentum']}, seed "
                        f"{curve['seed']} (Keskar et al. 2017, Figure 3)."))
    small_b, large_b = table.batch_size.min(), table.batch_size.max()
    first_seed = min(params.grid.seed)
    for lam in params.grid.momentum:
        curves = {}
        for b in (small_b, large_b):
            d = directions[(directions.batch_size == b) & (directions.momentum == lam) & (directions.seed == first_seed)]
            if len(d):
                curves[f"B={b}"] = {"t": d.t.tolist(), "loss": d.loss.tolist(), "acc": d.acc.tolist()}
        if curves:
            figs.append(dict(uri=figure_uri(plots_sharpness.plot_direction_curves(curves),
                                            figures_dir / f"direction_lam{lam}.png"),
                             caption=f"Training loss along a filter-normalized random direction (Li et al. 2018), "
                                     f"smallest vs largest batch, λ={lam}, seed {first_seed}: flat vs sharp."))
    sh = params.sharpness
    return dict(id="sharpness", title="Sharp and flat minima",
                text=f"All measures use the training loss on the first {sh.subset} training examples at each "
                     f"cell's final weights: the top Hessian eigenvalue by power iteration (tolerance "
                     f"{sh.hessian_tol}, at most {sh.hessian_max_iter} Hessian-vector products), the trace by "
                     f"Hutchinson's estimator (at most {sh.trace_samples} Rademacher vectors), and Keskar's "
                     f"ε-sharpness (Metric 2.1; L-BFGS-B, {sh.lbfgs_iters} iterations) in the full space and in a "
                     f"random {sh.subspace_dim}-dimensional subspace. The figures against batch size show the grid's "
                     "cells under the same epoch budget. Sharpness describes a minimum: a cell that stopped far from "
                     "one (low training accuracy, e.g. the full batch under the epoch budget) sits in a region that is "
                     "flat for another reason, so the lecture table and Keskar's table above compare the runs of the "
                     "equal-accuracy protocol, and the interpolations run between those runs.",
                html="", figures=figs)


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


def momentum_section(table: pd.DataFrame, result: dict, collapse: list[dict], figures_dir: Path) -> dict:
    from . import plots_critical

    figs = [
        dict(uri=figure_uri(plots_critical.plot_surface_1d(result), figures_dir / "momentum_1d.png"),
             caption="Gradient descent with the lecture's momentum on a 1-D surface with a flat saddle (x = 0), a "
                     "shallow minimum (x = 1), a small hill (x = 1.5) and a deeper minimum (x = 3); one run per λ."),
        dict(uri=figure_uri(plots_critical.plot_surface_2d(result), figures_dir / "momentum_2d.png"),
             caption="A 2-D saddle between two minima: from a tiny offset off its stable manifold (solid) and from "
                     "the manifold itself with noisy gradients (dashed); one run per λ."),
        dict(uri=figure_uri(plots_critical.plot_escape_fraction(result), figures_dir / "momentum_escape.png"),
             caption="Minibatch SGD started at a critical point of a finite-sum loss: the fraction of seeds that "
                     "escape, and how fast, against batch size; the largest B is the full batch."),
    ]
    ok = table[table.status == "ok"]
    stats = []
    for st in collapse:  # from the analyze step
        col, label = st["column"], st["measure"]
        if col in ok:
            stats.append({"measure": label, "cells": st["n"], "Spearman ρ (all)": st["spearman"],
                          **{f"ρ within λ={k}": v for k, v in st["spearman_by_group"].items()},
                          "R² of one curve of g": st["collapse_score"], "R² added by λ": st["group_gain"],
                          "verdict": st["interpretation"]})
            figs.append(dict(uri=figure_uri(plots_critical.plot_vs_temperature(ok, col, label, stats=st),
                                            figures_dir / f"temperature_{col}.png"),
                             caption=f"{label} against the noise temperature g = ηN/(B(1−λ)), colour = λ, marker = B."))
    escaped = pd.DataFrame([{"λ": r["momentum"], "1-D: ends nearest": r["nearest_1d"],
                             "1-D: reached deep minimum": r["reached_deep_min_1d"],
                             "2-D offset: escape step": r["escape_step_2d"],
                             "2-D on manifold: max |x|": r["on_manifold_max_abs_x"],
                             "2-D noisy: share escaped": r["noisy_escaped_2d"]} for r in result["summary"]])
    fs = result["finite_sum"]
    fractions = pd.DataFrame(fs["cells"]).pivot_table(index=["case", "momentum"], columns="batch_size",
                                                      values="escape_fraction")
    fractions.columns = [f"B={c}" for c in fractions.columns]
    html = ("<p>Which runs escaped:</p>" + _html_table(escaped)
            + f"<p>Finite sums: share of {fs['seeds']} seeds that escaped, by case and λ (rows) and batch size:</p>"
            + _html_table(fractions.reset_index(), "{:.2f}")
            + "<p>Do the trained cells collapse onto one curve of the noise temperature g?</p>"
            + _html_table(pd.DataFrame(stats), "{:.2f}"))
    return dict(id="momentum", title="Momentum and critical points", text=momentum_summary(result), html=html,
                figures=figs)


VERDICT_CSS = {"holds": "ok", "not measured": "todo"}  # every other verdict: "mixed"


def keskar_section(k: dict) -> dict:
    """Keskar et al.'s Table 2/3 row beside this run's equal-accuracy runs (mean ± std over seeds)."""
    def cell(v):
        if v is None or v.get("mean") is None:
            return "n/a"
        return f"{v['mean']:.4g}" + ("" if v.get("std") is None else f" ± {v['std']:.2g}")

    rows = [{"λ": r["momentum"], "side": r["side"], "B": r["batch_size"], "η": r["lr"],
             "seeds at target": f"{r['seeds']} of {r['of']}",
             **{c["label"]: cell(r["values"].get(c["column"])) for c in k["columns"]}} for r in k["rows"]]
    pub = k["published"]
    for side, label in (("small", "SB = 256"), ("large", "LB = 10%")):
        v = pub[side]
        rows.append({"λ": "Keskar F1", "side": side, "B": label, "η": "Adam", "seeds at target": "5 runs",
                     "training accuracy": f"{v['train_acc']:.4g}", "test accuracy": f"{v['test_acc']:.4g}",
                     f"ε-sharpness ε={pub['epsilon']:g}": f"{v['eps_sharpness']:g}"})
    frame = pd.DataFrame(rows).fillna("")
    return dict(id="keskar", title="Keskar et al.'s table, side by side", html=_html_table(frame), figures=[],
                text=f"The small and the large batch at equal training accuracy, per λ, beside the published F1 row "
                     f"({pub['source']}). What differs: {k['differs']}.")


def build(params: config.Params, tables_dir: Path, figures_dir: Path, lecture: dict, timing: pd.DataFrame,
          interpolation: list[dict], momentum: dict) -> dict:
    table = files.read_csv(tables_dir / "cells.csv", "rerun the aggregate step")
    curves = files.read_csv(tables_dir / "curves.csv", "rerun the aggregate step")
    directions = files.read_csv(tables_dir / "directions.csv", "rerun the aggregate step")
    figs = {
        "accuracy_vs_batch": figure_uri(plot_accuracy_vs_batch(table), figures_dir / "accuracy_vs_batch.png"),
        "heatmap_test": figure_uri(plot_heatmap(table), figures_dir / "heatmap_test_acc.png"),
        "curves_epoch": figure_uri(plot_curves(curves, "epoch"), figures_dir / "curves_by_epoch.png"),
        "curves_updates": figure_uri(plot_curves(curves, "updates"), figures_dir / "curves_by_updates.png"),
    }
    sections = [keskar_section(lecture["keskar"]), timing_section(timing, figures_dir)]
    if "cosine_final" in table:  # absent when every run diverged
        sections.append(noise_section(table, figures_dir))
    if "hessian_top" in table:
        sections.append(sharpness_section(params, table, directions, interpolation, figures_dir))
    sections.append(momentum_section(table, momentum, lecture["collapse"], figures_dir))
    shown = ["cell", "status", "lr", "epochs", "updates", "train_acc", "val_acc", "test_acc", "temperature",
             "hessian_top", "cosine_final", "epoch_wall_s"]
    cells_html = _html_table(table[[c for c in shown if c in table]])
    problems = table[table.status != "ok"][["cell", "status", "reason"]].to_dict("records")
    return dict(title=params.report.title, settings=settings_lines(params, table), sections=sections,
                lecture=[{**r, "css": VERDICT_CSS.get(r["verdict"], "mixed")} for r in lecture["rows"]],
                device=lecture["device"], verdicts=", ".join(lecture["verdicts"]), interval=lecture["interval"], figures=figs, cells_html=cells_html,
                problems=problems)


def read_json(path: Path) -> dict:
    return files.read_json(path, remedy="run the step that makes it (snakemake --cores all, or dvc repro)")


def render(context: dict) -> str:
    env = Environment(loader=PackageLoader("batch_momentum", "templates"), autoescape=select_autoescape())
    return env.get_template("report.html.j2").render(**context)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum report", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--tables", default="reports/tables")
    ap.add_argument("--figures", default="reports/figures")
    ap.add_argument("--timing", required=True, help="timing CSV of the timing step")
    ap.add_argument("--interpolation-dir", required=True, help="folder of the interpolate step's files")
    ap.add_argument("--momentum", required=True, help="JSON of the momentum step")
    ap.add_argument("--lecture", default="reports/lecture.json", help="the analyze step's lecture table")
    ap.add_argument("--out", default="reports/index.html")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    tables = Path(args.tables)
    for name in ("cells.csv", "curves.csv", "directions.csv"):
        if not (tables / name).exists():
            raise FileNotFoundError(f"{tables / name}: aggregated table not found; run the aggregate step first")
    timing = results.read_timing(args.timing)
    interpolation = [read_json(Path(args.interpolation_dir) / f"{pair}.json") for pair in config.interpolation_pairs(params)]
    momentum = read_json(Path(args.momentum))
    lecture = read_json(Path(args.lecture))
    html = render(build(params, tables, Path(args.figures), lecture, timing, interpolation, momentum))
    out = files.write_text(args.out, html)
    print(f"report -> {out} ({len(html) / 1e3:.0f} kB, self-contained)")
    return 0
