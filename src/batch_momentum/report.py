"""report: reports/index.html, one self-contained page that answers the lecture's table.

Reads only the aggregated tables (and the optional outputs of the other steps), draws
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

NOT_MEASURED = "not measured yet"
MARGIN = 0.01  # accuracy difference (1 point) below which two cells count as equal


# ---------------------------------------------------------------- figures
def figure_uri(fig, path: Path | None = None) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue())
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
    fig.suptitle("Optimization fails for large batches (same epoch budget); band = range over seeds")
    fig.tight_layout()
    return fig


def plot_heatmap(table: pd.DataFrame, column="test_acc"):
    grid = table.pivot_table(index="momentum", columns="batch_size", values=column, aggfunc="mean")
    fig, ax = plt.subplots(figsize=(1.2 * grid.shape[1] + 2, 0.8 * grid.shape[0] + 1.6))
    sns.heatmap(grid, annot=True, fmt=".3f", cmap="mako", ax=ax, cbar_kws={"label": column})
    ax.set_xlabel("batch size B")
    ax.set_ylabel("momentum λ")
    ax.set_title(f"{column.replace('_', ' ')} over (B, λ), mean over seeds (blank: diverged)")
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


# ---------------------------------------------------------------- the lecture's table
def _pct(v):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def _secs(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v * 1e3:.2f} ms" if v < 1 else f"{v:.2f} s"


def compare_extremes(table: pd.DataFrame, column: str, better="higher", only=None):
    """Mean of `column` for the smallest and the largest batch of the grid, per λ.

    Returns rows (λ, small, large, verdict) with verdict 'holds' when the small batch
    is better by more than MARGIN, 'opposite' when the large one is, 'equal' otherwise.
    """
    small_b, large_b = table.batch_size.min(), table.batch_size.max()
    rows = []
    for lam, sub in table.groupby("momentum"):
        if only is not None:
            sub = sub[only(sub)]
        s = sub[(sub.batch_size == small_b) & (sub.status == "ok")][column].mean()
        lg = sub[(sub.batch_size == large_b) & (sub.status == "ok")][column].mean()
        if math.isnan(s) or math.isnan(lg):
            verdict = "n/a"
        else:
            diff = (s - lg) if better == "higher" else (lg - s)
            verdict = "holds" if diff > MARGIN else ("opposite" if diff < -MARGIN else "equal")
        rows.append(dict(momentum=lam, small=s, large=lg, verdict=verdict))
    return rows


def summarize(per_lam, expected="holds") -> str:
    verdicts = [r["verdict"] for r in per_lam if r["verdict"] != "n/a"]
    if not verdicts:
        return "cannot tell on this run"
    hits = [r["momentum"] for r in per_lam if r["verdict"] == expected]
    if len(hits) == len(verdicts):
        return "holds on this device"
    if not hits:
        return "does not hold on this run"
    return f"holds for λ ∈ {{{', '.join(map(str, hits))}}} only"


def lecture_table(table: pd.DataFrame, params: dict) -> list[dict]:
    small_b, large_b = int(table.batch_size.min()), int(table.batch_size.max())
    ok = table[table.status == "ok"]
    device = ", ".join(sorted(table.device_name.dropna().astype(str).unique())) or "unknown"
    rows = []

    rows.append(dict(aspect="Speed for one update (no parallel computing)", small="Faster", large="Slower",
                     measured_small=NOT_MEASURED, measured_large=NOT_MEASURED, verdict=NOT_MEASURED,
                     evidence="needs the timing step (examples processed one after another)"))

    per_update = ok.assign(t=ok.epoch_wall_s / ok.updates_per_epoch).groupby("batch_size").t.median()
    ts, tl = per_update.get(small_b, np.nan), per_update.get(large_b, np.nan)
    ratio = tl / ts if ts else np.nan
    rows.append(dict(aspect="Speed for one update (with parallel computing)", small="Same", large="Same (not too large)",
                     measured_small=_secs(ts), measured_large=_secs(tl),
                     verdict=("holds on this device" if ratio <= 2 else "does not hold on this device")
                     if not math.isnan(ratio) else "cannot tell on this run",
                     evidence=f"median training time per update, measured during training on {device} with "
                              f"{int(table.threads.max())} thread(s): B={large_b} takes {ratio:.1f}× the time of "
                              f"B={small_b} ('same' means within 2×)"))

    per_epoch = ok.groupby("batch_size").epoch_wall_s.median()
    es, el = per_epoch.get(small_b, np.nan), per_epoch.get(large_b, np.nan)
    rows.append(dict(aspect="Time for one epoch", small="Slower", large="Faster",
                     measured_small=_secs(es), measured_large=_secs(el),
                     verdict="holds on this device" if es > el else "does not hold on this device",
                     evidence=f"median wall time of one training epoch on {device}: B={small_b} takes "
                              f"{es / el:.1f}× as long as B={large_b} ({math.ceil(params['data']['n_train'] / small_b)} "
                              f"vs {math.ceil(params['data']['n_train'] / large_b)} updates)"))

    rows.append(dict(aspect="Gradient", small="Noisy", large="Stable", measured_small=NOT_MEASURED,
                     measured_large=NOT_MEASURED, verdict=NOT_MEASURED,
                     evidence="needs the gradient-noise measures"))

    opt = compare_extremes(table, "train_acc")
    rows.append(dict(aspect="Optimization", small="Better", large="Worse",
                     measured_small=_pct(ok[ok.batch_size == small_b].train_acc.mean()),
                     measured_large=_pct(ok[ok.batch_size == large_b].train_acc.mean()),
                     verdict=summarize(opt),
                     evidence="final training accuracy under the same epoch budget, per λ: " + "; ".join(
                         f"λ={r['momentum']}: {_pct(r['small'])} vs {_pct(r['large'])}" for r in opt)))

    reached = compare_extremes(table, "test_acc", only=lambda s: s.reached_target.fillna(False).astype(bool))
    target = params["train"]["target_train_acc"]
    if target is not None and any(r["verdict"] != "n/a" for r in reached):
        gen, how = reached, f"test accuracy of cells that reached the training-accuracy target {target}"
    else:
        gen = compare_extremes(table, "test_acc")
        how = ("test accuracy after the same epoch budget (the large batch did not reach the "
               f"training-accuracy target {target}, so the two are not compared at equal training accuracy)")
    rows.append(dict(aspect="Generalization", small="Better", large="Worse",
                     measured_small=_pct(np.nanmean([r["small"] for r in gen])),
                     measured_large=_pct(np.nanmean([r["large"] for r in gen])),
                     verdict=summarize(gen),
                     evidence=how + ", per λ: " + "; ".join(
                         f"λ={r['momentum']}: {_pct(r['small'])} vs {_pct(r['large'])}" for r in gen)))
    for r in rows:
        r["css"] = ("ok" if r["verdict"].startswith("holds on") else
                    "todo" if r["verdict"] == NOT_MEASURED else "mixed")
    return rows


# ---------------------------------------------------------------- page
def settings_lines(params: dict, table: pd.DataFrame) -> list[str]:
    d, m, t = params["data"], params["model"], params["train"]
    rule = {"constant": "the same η for every batch size",
            "linear": f"η scaled linearly with B/{t['base_batch_size']}",
            "sqrt": f"η scaled with √(B/{t['base_batch_size']})"}[t["lr_rule"]]
    target = ("no early stop" if t["target_train_acc"] is None
              else f"stopping early once training accuracy ≥ {t['target_train_acc']}")
    return [
        f"Data: {d['dataset']}, {d['n_train']} training, {d['n_val']} validation, {d['n_test']} test examples (seed {d['seed']}).",
        f"Model: {m['name']}" + (f" with hidden widths {m['hidden']}" if m["name"] != "linear" else "") +
        f"; mean cross-entropy; {int(table.n_params.iloc[0]) if 'n_params' in table else '?'} parameters.",
        f"Optimizer: gradient descent with the lecture's momentum, m = λm − ηg, θ = θ + m; η = {t['lr']} "
        f"with the '{t['lr_rule']}' rule ({rule}).",
        f"Budget: an epoch budget of {t['max_epochs']} epochs for every cell, {target}. "
        "Comparisons across batch sizes use this one budget and this one learning-rate rule; η was not tuned "
        "per batch size, so they show what a fixed setting does, not the best each batch size can do.",
        f"Grid: B ∈ {params['grid']['batch_size']}, λ ∈ {params['grid']['momentum']}, seeds {params['grid']['seed']}; "
        f"{len(table)} cells, {(table.status == 'diverged').sum()} diverged.",
        "Device: " + ", ".join(sorted(f"{a} ({b})" for a, b in table[["device", "device_name"]].astype(str)
                                      .drop_duplicates().itertuples(index=False))) +
        f", {int(table.threads.max())} CPU thread(s) per job, torch {table.torch_version.iloc[0]}.",
    ]


def build(params: dict, tables_dir: Path, figures_dir: Path) -> dict:
    table = pd.read_csv(tables_dir / "cells.csv")
    curves = pd.read_csv(tables_dir / "curves.csv")
    figs = {
        "accuracy_vs_batch": figure_uri(plot_accuracy_vs_batch(table), figures_dir / "accuracy_vs_batch.png"),
        "heatmap_test": figure_uri(plot_heatmap(table), figures_dir / "heatmap_test_acc.png"),
        "curves_epoch": figure_uri(plot_curves(curves, "epoch"), figures_dir / "curves_by_epoch.png"),
        "curves_updates": figure_uri(plot_curves(curves, "updates"), figures_dir / "curves_by_updates.png"),
    }
    shown = ["cell", "status", "lr", "epochs", "updates", "train_acc", "val_acc", "test_acc", "temperature",
             "epoch_wall_s"]
    cells_html = (table[[c for c in shown if c in table]]
                  .to_html(index=False, float_format=lambda v: f"{v:.4g}", classes="cells", border=0, na_rep="—"))
    problems = table[table.status != "ok"][["cell", "status", "reason"]].to_dict("records")
    return dict(title=params["report"]["title"], settings=settings_lines(params, table), sections=[],
                lecture=lecture_table(table, params), figures=figs, cells_html=cells_html, problems=problems)


def render(context: dict) -> str:
    env = Environment(loader=PackageLoader("batch_momentum", "templates"), autoescape=select_autoescape())
    return env.get_template("report.html.j2").render(**context)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum report", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--tables", default="reports/tables")
    ap.add_argument("--figures", default="reports/figures")
    ap.add_argument("--out", default="reports/index.html")
    args = ap.parse_args(argv)
    params = config.load(args.params)
    tables = Path(args.tables)
    for name in ("cells.csv", "curves.csv"):
        if not (tables / name).exists():
            raise FileNotFoundError(f"{tables / name}: aggregated table not found; run the aggregate step first")
    html = render(build(params, tables, Path(args.figures)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"report -> {out} ({len(html) / 1e3:.0f} kB, self-contained)")
    return 0
