"""The report's sections, one function each: a dict with id, title, text, html (a table) and
figures ({uri, caption}); `extra` figures are saved under reports/figures only. The figures are
drawn here from the aggregated tables; every number that makes a verdict comes from the analyze
step (reports/lecture.json), never from here."""
from __future__ import annotations

import math

import pandas as pd

from batch_momentum import config
from batch_momentum.analysis.formats import secs
from batch_momentum.training import status
from batch_momentum.report.plots import critical as critical_plots
from batch_momentum.report.plots import sharpness as sharpness_plots
from batch_momentum.report.plots import timing as timing_plots
from batch_momentum.report.plots import training as training_plots


def html_table(df: pd.DataFrame, fmt="{:.3g}") -> str:
    return df.to_html(index=False, float_format=lambda v: fmt.format(v), border=0, na_rep="—", classes="cells",
                      escape=True)


def timing_section(timing: pd.DataFrame) -> dict:
    t = timing.sort_values("batch_size")
    ext = t.sequential_extrapolated.astype(str).str.lower().eq("true")
    frame = pd.DataFrame({
        "B": t.batch_size, "updates / epoch": t.updates_per_epoch,
        "one update, parallel": t.parallel_median_s.map(secs),
        "one update, sequential": [secs(v) + (" *" if e else "") for v, e in zip(t.sequential_median_s, ext)],
        "epoch, measured": t.epoch_measured_s.map(secs),
        "epoch, updates × update time": t.epoch_estimated_s.map(secs)})
    dev = f"{t.device_name.iloc[0]} ({t.device.iloc[0]}, {int(t.threads.iloc[0])} thread(s), " \
          f"torch {t.torch_version.iloc[0]})"
    return dict(id="timing", title="Parallel computing: time per update and per epoch",
                text=f"Measured by the timing step on {dev}, with no other job running; medians of "
                     f"{int(t.repeats.iloc[0])} timed updates. * = extrapolated from fewer examples one after "
                     "another (the sequential time grows linearly with B). A measured epoch is the real loop: it "
                     "agrees with updates × time per update when the step has its cores to itself; with more "
                     "threads than free cores (timing.threads: null while other jobs run) the threads wait on "
                     "each other and the epoch can take many times the estimate.",
                html=html_table(frame),
                figures=[dict(name="timing", fig=timing_plots.plot_timing(timing),
                              caption="Left: one update with the whole batch in one call (parallel) and with the "
                                      "examples one after another; band: min–max over repeats. Right: one epoch. "
                                      "What to see: the parallel line stays flat while the hardware has room, then "
                                      "grows with B; the epoch gets faster as B grows.")],
                extra=[dict(name="time_per_update", fig=timing_plots.plot_time_per_update(timing)),
                       dict(name="time_per_epoch", fig=timing_plots.plot_time_per_epoch(timing))])


def noise_section(table: pd.DataFrame) -> dict:
    return dict(id="noise", title="Gradient noise: noisy small batches, stable large ones",
                text="Per-example gradients on a fixed subset of the training set give the gradient noise scale "
                     "B_simple = tr(Σ)/|G|² (McCandlish et al. 2018), at the initial and the final weights. From it, "
                     "the expected cosine between the gradient of a batch of B examples drawn from the whole training "
                     "set and the full gradient is 1/√(1 + B_simple(1/B − 1/N)); batches sampled from the subset "
                     "check it where B is smaller than the subset. The noise-to-signal ratio of a batch gradient is "
                     "B_simple/B.", html="",
                figures=[dict(name="gradient_noise", fig=timing_plots.plot_noise_vs_batch(table),
                              caption="Gradient noise against batch size, one line per λ. What to see: the cosine "
                                      "rises towards 1 and the noise-to-signal ratio falls as B grows.")])


def optimization_section(params: config.Params, table: pd.DataFrame, curves: pd.DataFrame,
                         tta: pd.DataFrame) -> dict:
    t = params.train
    summary = (tta.groupby(["measure", "level", "momentum", "batch_size"])
               .agg(seeds=("seed", "size"), reached=("updates", "count"), updates=("updates", "median"),
                    wall_s=("wall_s", "median")).reset_index())
    frame = pd.DataFrame({
        "accuracy": [f"{100 * lv:.0f}% {'training' if m == 'train_acc' else 'validation'}"
                     for m, lv in zip(summary.measure, summary.level)],
        "λ": summary.momentum, "B": summary.batch_size,
        "seeds that reached it": [f"{r} of {n}" for r, n in zip(summary.reached, summary.seeds)],
        "updates (median)": summary.updates.map(lambda v: "never" if pd.isna(v) else f"{v:.0f}"),
        "wall-clock (median)": summary.wall_s.map(lambda v: "never" if pd.isna(v) else secs(v))})
    return dict(id="optimization", title="Optimization: the same epoch budget for every batch size",
                text=f"Every cell of the grid trains for at most {t.max_epochs} epochs at η = {t.lr:g} "
                     f"('{t.lr_rule}' rule) and stops early at {t.target_train_acc} training accuracy. A run "
                     f"'did not train' when its training accuracy ended within {status.NO_GAIN * 100:g} points of "
                     "where it started, or "
                     "when the second half of its epochs did not lower the training loss below the first half's "
                     "lowest (it got stuck or fell back); such runs are drawn dashed or as crosses and left out of "
                     "every verdict, like diverged runs. Time to accuracy is the wall-clock time of the training "
                     "job, which trains a cell's seeds together as one stacked network.",
                html=html_table(frame),
                figures=[dict(name="accuracy_vs_batch", fig=training_plots.plot_final_accuracy(table),
                              caption="Accuracy after the epoch budget against B, one line per λ (mean of the runs "
                                      "that trained; dots: runs). What to see: training accuracy falls as B grows "
                                      "under one epoch budget."),
                         dict(name="curves_by_epoch", fig=training_plots.plot_curves(curves, table),
                              caption="Training accuracy per epoch, one panel per λ, one line per run (dashed: did "
                                      "not train or diverged)."),
                         dict(name="time_to_accuracy", fig=training_plots.plot_time_to_accuracy(tta),
                              caption="Wall-clock time until a run first reached each accuracy level, against B "
                                      "(median over seeds; triangle on the top edge: never within the budget). "
                                      "What to see: the batch size that gets there first.")])


def generalization_section(params: config.Params, equal: pd.DataFrame, candidates: pd.DataFrame,
                           keskar: dict, measures: list[tuple[str, str]]) -> dict:
    ea = params.equal_acc
    c = candidates.groupby(["momentum", "batch_size", "lr"]).agg(
        seeds=("seed", "size"), at_target=("reached_target", "sum"), val_acc=("val_acc", "mean"),
        epochs=("epochs", "median"), chosen=("chosen", "first")).reset_index()
    choices = pd.DataFrame({"λ": c.momentum, "B": c.batch_size, "η": c.lr,
                            "seeds at the target": [f"{int(a)} of {n}" for a, n in zip(c.at_target, c.seeds)],
                            "epochs (median)": c.epochs, "validation accuracy (mean)": c.val_acc,
                            "kept": c.chosen.map({True: "✓", False: ""})})
    k = keskar_table_html(keskar)
    return dict(id="generalization", title="Generalization and sharpness at equal training accuracy",
                text=f"Keskar et al.'s protocol, per λ of the grid: B = {ea.batch_size[0]} and B = {ea.batch_size[1]} "
                     f"each train until their training accuracy reaches {ea.target_train_acc} (at most "
                     f"{ea.max_epochs} epochs; a run stops as stalled once {ea.patience} epochs add less than half "
                     f"a point). η is chosen per batch size and λ from the steps η/(1−λ) ∈ {list(ea.step_small)} "
                     f"(small) and {list(ea.step_large)} (large) by validation accuracy among the η whose every "
                     "seed reached the target (Shallue et al. 2019). A run short of the target is shown and never "
                     "counted as at equal training accuracy. The candidates and the choice:",
                html=html_table(choices) + k["html"], after=k["text"],
                figures=[dict(name="equal_accuracy", fig=training_plots.plot_equal_runs(
                    equal, [("test_acc", "test accuracy")] + measures, tuple(ea.batch_size)),
                    caption="The small (blue) and the large (red) batch at equal training accuracy, per λ: test "
                            "accuracy and every sharpness measure (log axes), each seed a dot, the mean a bar "
                            "(hollow: short of the target, left out). What to see: lower test accuracy and higher "
                            "sharpness on the right of each pair, if the lecture's claim holds.")])


def keskar_table_html(k: dict) -> dict:
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
        rows.append({"λ": f"Keskar {pub['network']}", "side": side, "B": label, "η": "Adam", "seeds at target": "5 runs",
                     "training accuracy": f"{v['train_acc']:.4g}", "test accuracy": f"{v['test_acc']:.4g}",
                     f"ε-sharpness ε={pub['epsilon']:g}": f"{v['eps_sharpness']:g}"})
    frame = pd.DataFrame(rows).fillna("")
    return dict(html="<p id=\"keskar\">Keskar et al.'s table, side by side (mean ± standard deviation over the "
                     "seeds at the target):</p>" + html_table(frame),
                text=f"Published row: {pub['source']}. What differs: {k['differs']}.")


def sharpness_section(params: config.Params, table: pd.DataFrame, equal_directions: pd.DataFrame,
                      interpolation: list[dict], measures: list[tuple[str, str]]) -> dict:
    ea, sh = params.equal_acc, params.sharpness
    seed = min(params.grid.seed)
    figs = [dict(name="interpolation", fig=sharpness_plots.plot_interpolations(
                     [c for c in interpolation if c.get("seed") == seed]),
                 caption=f"Loss (log axis) and accuracy along θ(α) = α·θ_LB + (1−α)·θ_SB between the "
                         f"equal-accuracy runs of seed {seed} (Keskar et al. 2017, Figure 3); drawn only where both "
                         "runs reached the target. What to see: the loss rises more steeply beyond α = 1 (the large "
                         "batch's side) than before α = 0."),
            dict(name="directions", fig=sharpness_plots.plot_directions_by_lambda(
                     equal_directions, tuple(ea.batch_size), seed),
                 caption=f"Training loss along a filter-normalized random direction (Li et al. 2018) through the "
                         f"equal-accuracy runs of seed {seed}, small vs large batch, one panel per λ. What to see: a "
                         "narrower valley for the sharper minimum."),
            dict(name="sharpness_vs_batch", fig=sharpness_plots.plot_sharpness_grid(table, measures),
                 caption="Every sharpness measure of the grid's runs (one epoch budget) against B, one line per λ; "
                         "hollow: short of the training-accuracy target. Read with care: a run that stopped far "
                         "from a minimum sits where the budget left it, so the right half of these curves is not "
                         "about minima.")]
    extra = [dict(name=f"{col}_vs_batch", fig=sharpness_plots.plot_sharpness_vs_batch(table, col, label))
             for col, label in measures if col in table and table[col].notna().any()]
    extra += [dict(name=f"interpolation_lam{c['momentum']}_seed{c['seed']}",
                   fig=sharpness_plots.plot_interpolation(c, f"{c['small']} (α=0) → {c['large']} (α=1)"))
              for c in interpolation if c.get("alpha")]
    return dict(id="sharpness", title="Sharp and flat minima",
                text=f"All measures use the training loss on the first {sh.subset} training examples at each run's "
                     f"final weights: the top Hessian eigenvalue by power iteration (tolerance {sh.hessian_tol}, at "
                     f"most {sh.hessian_max_iter} Hessian-vector products), the trace by Hutchinson's estimator (at "
                     f"most {sh.trace_samples} Rademacher vectors), and Keskar's ε-sharpness (Metric 2.1; L-BFGS-B, "
                     f"{sh.lbfgs_iters} iterations) in the full space and in a random {sh.subspace_dim}-dimensional "
                     "subspace. The verdict uses the equal-accuracy runs (previous section); the figures below "
                     "show the same runs along lines through their weights, then the grid for comparison.",
                html="", figures=figs, extra=extra)


def temperature_section(table: pd.DataFrame, collapse: list[dict], measures: list[tuple[str, str]]) -> dict:
    rows = [{"runs": st.get("runs", ""), "measure": st["measure"], "n": st["n"], "Spearman ρ": st["spearman"],
             **{f"ρ within λ={k}": v for k, v in st["spearman_by_group"].items()},
             "R² of one curve of g": st["collapse_score"], "R² added by λ": st["group_gain"],
             "reading": st["interpretation"]} for st in collapse]
    return dict(id="temperature", title="Noise temperature: does ηN/(B(1−λ)) say it all?",
                text="The noise temperature g = ηN/(B(1−λ)) is the step length per example seen; if batch size "
                     "and momentum acted only through the gradient noise they set, the runs would fall on one "
                     "curve of g. What this view cannot say: under one epoch budget, g × epochs is also the total "
                     "distance η/(1−λ) × updates a run could travel, so a trend in g mixes noise with how far "
                     "training got. The bottom row shows the same measures against the final training loss; the "
                     "statistics are given for the grid's trained runs, for those at the training-accuracy target "
                     "and for the equal-accuracy runs, where how far training got is matched.",
                html=html_table(pd.DataFrame(rows), "{:.2f}"),
                figures=[dict(name="temperature", fig=critical_plots.plot_temperature_views(table, measures),
                              caption="Each measure against g (top) and against the final training loss (bottom); "
                                      "colour = λ, marker = B, hollow = short of the target.")])
