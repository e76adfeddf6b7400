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
matplotlib.rcParams["figure.max_open_warning"] = 0  # a section draws its figures before they are embedded
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from . import config  # noqa: E402
from . import files, plots_critical, provenance, results  # noqa: E402
from . import report_sections as sec  # noqa: E402



# ---------------------------------------------------------------- figures
def figure_uri(fig, path: Path | None = None) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    if path is not None:
        files.write_bytes(path, buf.getvalue())
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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
        f"Budget of the grid: {t.max_epochs} epochs for every cell, {target}; one η for the grid, not tuned "
        "per batch size: the timing, gradient-noise and optimization rows show what that one setting does. The "
        f"generalization and sharpness rows use the equal-accuracy runs instead: B = {params.equal_acc.batch_size[0]} "
        f"and {params.equal_acc.batch_size[1]} trained to {params.equal_acc.target_train_acc} training accuracy with "
        "η tuned per batch size and λ.",
        f"Grid: B ∈ {list(g.batch_size)}, λ ∈ {list(g.momentum)}, seeds {list(g.seed)}; {len(table)} runs: "
        + ", ".join(f"{n} {s}" for s, n in table.status.value_counts().items()) + ".",
        "Device: " + ", ".join(sorted(f"{a} ({b})" for a, b in table[["device", "device_name"]].astype(str)
                                      .drop_duplicates().itertuples(index=False))) +
        f", {int(table.threads.max())} CPU thread(s) per job, torch {table.torch_version.iloc[0]}.",
        provenance.describe(table.to_dict("records")),
    ]


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
        dict(name="momentum_1d", fig=plots_critical.plot_surface_1d(result),
             caption="Gradient descent with the lecture's momentum on a 1-D surface with a flat saddle (x = 0), a "
                     "shallow minimum (x = 1), a small hill (x = 1.5) and a deeper minimum (x = 3); one run per λ."),
        dict(name="momentum_2d", fig=plots_critical.plot_surface_2d(result),
             caption="A 2-D saddle between two minima: from a tiny offset off its stable manifold (solid) and from "
                     "the manifold itself with noisy gradients (dashed); one run per λ."),
        dict(name="momentum_escape", fig=plots_critical.plot_escape_fraction(result),
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
    html = ("<p>Which runs escaped:</p>" + sec.html_table(escaped)
            + f"<p>Finite sums: share of {fs['seeds']} seeds that escaped, by case and λ (rows) and batch size:</p>"
            + sec.html_table(fractions.reset_index(), "{:.2f}"))
    return dict(id="momentum", title="Momentum and critical points", text=momentum_summary(result), html=html,
                figures=figs)


VERDICT_CSS = {"holds": "ok", "not measured": "todo"}  # every other verdict: "mixed"


def _embed(sections: list[dict], figures_dir: Path) -> None:
    """Each section's figures become data URIs (and PNGs under figures_dir); its `extra` figures are
    saved as PNGs only: the full set for a reader who wants every variant."""
    for sec in sections:
        for f in sec["figures"]:
            f["uri"] = figure_uri(f.pop("fig"), figures_dir / f"{f['name']}.png")
        for f in sec.pop("extra", []):
            figure_uri(f["fig"], figures_dir / f"{f['name']}.png")


def runs_html(table: pd.DataFrame) -> str:
    shown = pd.DataFrame({"run": table.cell, "status": table.status,
                          "at target": table.reached_target.map({True: "yes", False: "no"}),
                          "η": table.lr, "epochs": table.epochs, "updates": table.updates,
                          "train acc": table.train_acc, "val acc": table.val_acc, "test acc": table.test_acc})
    for col, label in (("hessian_top", "top eigenvalue"), ("cosine_final", "cosine (final)")):
        if col in table:
            shown[label] = table[col]
    shown["time / epoch"] = table.epoch_wall_s.map(sec.fmt_time)
    return sec.html_table(shown)


READS = ("cells", "curves", "equal", "candidates", "equal_directions", "time_to_accuracy")  # reports/tables/


def build(params: config.Params, tables_dir: Path, figures_dir: Path, lecture: dict, timing: pd.DataFrame,
          interpolation: list[dict], momentum: dict) -> dict:
    read = lambda name: files.read_csv(tables_dir / f"{name}.csv", "rerun the aggregate step")  # noqa: E731
    table, equal = read("cells"), read("equal")
    measures = [(c["column"], c["label"]) for c in lecture["keskar"]["columns"][2:]]
    sections = [sec.timing_section(timing)]
    if "cosine_final" in table:  # absent when every run diverged
        sections.append(sec.noise_section(table))
    sections.append(sec.optimization_section(params, table, read("curves"), read("time_to_accuracy")))
    sections.append(sec.generalization_section(params, equal, read("candidates"), lecture["keskar"], measures))
    if "hessian_top" in table:
        sections.append(sec.sharpness_section(params, table, read("equal_directions"), interpolation, measures))
        sections.append(sec.temperature_section(table, lecture["collapse"],
                                                [("test_acc", "test accuracy"), ("train_acc", "training accuracy")]
                                                + measures[:2]))
    sections.append(momentum_section(momentum))
    _embed(sections, figures_dir)
    contents = ([("settings", "Settings"), ("lecture", "The lecture's table, measured")]
                + [(s["id"], s["title"]) for s in sections] + [("runs", "Every run")])
    problems = pd.concat([table, equal])
    problems = problems[problems.status != "ok"][["cell", "status", "reason"]].to_dict("records")
    return dict(title=params.report.title, settings=settings_lines(params, table), sections=sections,
                contents=contents,
                lecture=[{**r, "css": VERDICT_CSS.get(r["verdict"], "mixed")} for r in lecture["rows"]],
                device=lecture["device"], verdicts=", ".join(lecture["verdicts"]), interval=lecture["interval"],
                cells_html=runs_html(table), equal_html=runs_html(equal), problems=problems)


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
    for name in (f"{t}.csv" for t in READS):
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
