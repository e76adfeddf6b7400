"""The lecture's comparison table, filled from measurements, with a verdict per row.

Small batch = the smallest B of the grid, large batch = the largest. Each row says
what the lecture claims, what this run measured, whether the claim holds on this
device, and the evidence. Thresholds are stated in the evidence text.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from batch_momentum import config
from batch_momentum.analysis import eta, stats
from batch_momentum.analysis.formats import missing as _nan
from batch_momentum.analysis.formats import num, pct, secs, timing_device
from batch_momentum.analysis.momentum import momentum_rows
from batch_momentum.analysis.verdicts import INCONCLUSIVE, NOT_MEASURED, VERDICTS, combine, verdict, yes
from batch_momentum.io import tables as T
from batch_momentum.training.status import Status


def _side(runs: pd.DataFrame, column: str, reached_only: bool) -> tuple[pd.Series, dict[str, int]]:
    """The usable values of one side by seed (status ok, a finite value and, with reached_only, at the
    target), and the other runs counted by why they are left out."""
    good = (stats.counted(runs) if reached_only else runs[T.STATUS] == Status.OK) & runs[column].notna()
    failed = {str(k): int(v) for k, v in runs[~good][T.STATUS].value_counts().items()}
    if reached_only:  # ok but short of the target
        failed.pop(Status.OK.value, None)
        short = int(((runs[T.STATUS] == Status.OK) & ~stats.at_target(runs)).sum())
        if short:
            failed["short of the target"] = short
    used = runs[good]
    return pd.Series(used[column].to_numpy(dtype=float), index=used[T.SEED].to_numpy()), failed


def _not_measured(lam: float, sides: dict, failed: dict, sizes: tuple[int, int]) -> str:
    """Why a comparison has no answer: the side(s) with fewer than two usable runs, and what became of them."""
    parts = []
    for side, b in zip(("small", "large"), sizes):
        if len(sides[side]) < 2:
            why = ", ".join(f"{n} {k}" for k, n in failed[side].items()) or "no runs"
            parts.append(f"B={b} at λ={lam:g} has {len(sides[side])} usable run(s) ({why})")
    return "; ".join(parts)


def compare(
    table: pd.DataFrame,
    column: str,
    claim: str,
    sizes: tuple[int, int],
    margin: float,
    ratio: bool = False,
    reached_only: bool = False,
    power: float = stats.POWER,
) -> list[dict]:
    """Per λ, the runs of the small and the large batch size (sizes) compared on `column`.

    Each side: the mean over its seeds with a 95% Student-t interval (stats.mean_interval), from the
    runs with status ok (and, with reached_only, that reached the training-accuracy target); the other
    runs are counted per side (`failed`: diverged, stalled, or short of the target), never averaged in.
    Seed k of both sides starts from the same initial weights (training.loop.init_models seeds each
    model by its seed alone), so the comparison is paired: the difference large − small per seed (with
    ratio=True the difference of logs, carried back as a ratio large/small), its mean and Student-t
    interval over the seeds both sides have (stats.paired_interval), and the verdict that interval gives
    the claim at the margin (verdicts.verdict: "larger" = the lecture says the large batch has the higher
    value; margin in points, or a factor > 1 for ratios). Each λ also gets Welch's unpaired interval (what
    the pairing gains), the correlation of the sides, the smallest difference this run detects with the
    given power, and when inconclusive the seeds a verdict would need. A side with fewer than two usable
    runs gives "not measured" with the reason.
    """
    small_b, large_b = sizes
    if column not in table:  # no run finished with finite weights: the measure was never taken
        table = table.assign(**{column: np.nan})
    log_margin = float(np.log(margin)) if ratio else float(margin)
    out = []
    for lam in sorted(table[T.MOMENTUM].unique()):
        sub = table[table[T.MOMENTUM] == lam]
        sides, failed, cells = {}, {}, []
        for side, b in (("small", small_b), ("large", large_b)):
            runs = sub[sub[T.BATCH_SIZE] == b]
            sides[side], failed[side] = _side(runs, column, reached_only)
            cells += sorted(runs[runs[T.SEED].isin(sides[side].index)][T.CELL])
        a, b = sides["small"], sides["large"]
        row = dict(
            momentum=float(lam),
            b_small=int(small_b),
            b_large=int(large_b),
            small=stats.mean_interval(a.to_numpy()),
            large=stats.mean_interval(b.to_numpy()),
            failed=failed,
            cells=cells,
            margin=float(margin),
            paired=True,
            reason="",
        )
        seeds = sorted(set(a.index) & set(b.index))
        to = (lambda v: np.log(v)) if ratio else (lambda v: v)
        back = (lambda v: float(np.exp(v))) if ratio else float
        pair = stats.paired_interval(to(a[seeds].to_numpy()), to(b[seeds].to_numpy()))
        welch = stats.difference_interval(to(a.to_numpy()), to(b.to_numpy()))
        lo, hi = pair["lo"], pair["hi"]
        key = "ratio" if ratio else "diff"
        row["ratio" if ratio else "difference"] = {
            "n_pairs": pair["n"],
            key: back(pair["diff"]),
            "lo": back(lo),
            "hi": back(hi),
        }
        row["unpaired"] = {key: back(welch["diff"]), "lo": back(welch["lo"]), "hi": back(welch["hi"])}
        row["correlation"] = pair["correlation"]
        # the precision asked of the default run: a half-width no wider than the margin (±1 point, ×/÷1.25)
        half = (hi - lo) / 2 if np.isfinite(lo) and np.isfinite(hi) else float("nan")
        row["half_width"] = back(half)
        row["precise"] = bool(np.isfinite(half) and half <= log_margin)
        n = pair["n"]
        d = stats.detectable(pair["sd"] / np.sqrt(n), n - 1, power=power) if n >= 2 else float("nan")
        row["detectable"] = back(d)
        if small_b == large_b:
            row["verdict"] = NOT_MEASURED
            row["reason"] = f"one batch size only (B={small_b}): nothing to compare"
        elif len(a) < 2 or len(b) < 2:
            row["verdict"] = NOT_MEASURED
            row["reason"] = _not_measured(float(lam), sides, failed, sizes)
        elif n < 2:
            row["verdict"] = INCONCLUSIVE
            row["reason"] = f"fewer than two seeds usable on both sides at λ={lam:g}"
        else:
            row["verdict"] = verdict(lo, hi, claim, margin=log_margin)
        row["seeds_needed"] = (
            stats.seeds_needed(pair["diff"], pair["sd"], log_margin, paired=True, power=power)
            if row["verdict"] == INCONCLUSIVE and n >= 2
            else None
        )
        out.append(row)
    return out


def _interval(m: dict, fmt) -> str:
    if not m["n"]:
        return "none"
    if _nan(m["lo"]):
        return f"{fmt(m['mean'])} (n = {m['n']})"
    return f"{fmt(m['mean'])} [{fmt(m['lo'])}, {fmt(m['hi'])}]"


def _failed(f: dict) -> str:
    return ", ".join(f"{n} {k}" for k, n in f.items())


def describe(per_lam: list[dict], fmt, ratio: bool = False) -> str:
    """Per λ in words: each side's mean [95% interval] over seeds, the runs left out, the paired difference
    or ratio with its interval (and Welch's unpaired one), the correlation of the sides, the margin, the
    smallest difference the run detects, and the verdict with the seeds behind it (and those a verdict
    would need, when inconclusive)."""
    shown = (lambda v: f"{v:.3g}×") if ratio else fmt
    parts = []
    for r in per_lam:
        text = (
            f"λ={r['momentum']:g}: B={r['b_small']} {_interval(r['small'], fmt)}"
            + (f" ({_failed(r['failed']['small'])} left out)" if r["failed"]["small"] else "")
            + f" vs B={r['b_large']} {_interval(r['large'], fmt)}"
            + (f" ({_failed(r['failed']['large'])} left out)" if r["failed"]["large"] else "")
        )
        d, key = (r["ratio"], "ratio") if ratio else (r["difference"], "diff")
        if not _nan(d["lo"]):
            u = r["unpaired"]
            text += (
                f"; paired {'ratio' if ratio else 'difference'} {shown(d[key])} [{shown(d['lo'])}, {shown(d['hi'])}]"
                + (f" (unpaired [{shown(u['lo'])}, {shown(u['hi'])}]" if not _nan(u["lo"]) else " (")
                + (f", correlation {r['correlation']:.2f})" if not _nan(r["correlation"]) else ")")
                + f", margin {shown(r['margin'])}, detectable {shown(r['detectable'])}"
                + ("" if r.get("precise", True) else ", interval wider than the margin")
            )
        text += f": {r['verdict']}"
        text += f" ({r['reason']})" if r["reason"] else f" (n = {r['small']['n']} vs {r['large']['n']} seeds)"
        if r.get("seeds_needed"):
            text += f"; about {r['seeds_needed']} seeds would decide"
        parts.append(text)
    return "; ".join(parts)


def summarize(per_lam: list[dict]) -> tuple[str, str]:
    """One (verdict, scope) over the λ rows (stats.combine); the scope names each λ's verdict
    whenever they differ."""
    verdicts = [r["verdict"] for r in per_lam]
    v = combine(verdicts)
    if len(set(verdicts)) <= 1:
        return v, ""
    return v, "(" + ", ".join(f"λ={r['momentum']:g}: {r['verdict']}" for r in per_lam) + ")"


def measured(per_lam: list[dict], side: str, fmt) -> str:
    return "; ".join(f"λ={r['momentum']:g}: {_interval(r[side], fmt)}" for r in per_lam)


def _timing_rows(timing: pd.DataFrame, small_b: int, large_b: int, same: float) -> list[dict]:
    """The three timing rows from the timing step's medians; `same` (verdict.margin_ratio) is the factor
    within which two times count as the same."""
    dev = timing_device(timing)
    t = timing.set_index(T.BATCH_SIZE).sort_index()
    sb = small_b if small_b in t.index else int(t.index.min())
    lb = large_b if large_b in t.index else int(t.index.max())
    if sb == lb:
        return [
            dict(
                aspect=a,
                small=sm,
                large=lg,
                measured_small="n/a",
                measured_large="n/a",
                verdict=INCONCLUSIVE,
                evidence=f"the timing step measured one batch size only (B={sb})",
            )
            for a, sm, lg in (
                ("Speed for one update (no parallel computing)", "Faster", "Slower"),
                ("Speed for one update (with parallel computing)", "Same", "Same (not too large)"),
                ("Time for one epoch", "Slower", "Faster"),
            )
        ]
    seq_s, seq_l = t.at[sb, T.SEQUENTIAL_MEDIAN_S], t.at[lb, T.SEQUENTIAL_MEDIAN_S]
    par_s, par_l = t.at[sb, T.PARALLEL_MEDIAN_S], t.at[lb, T.PARALLEL_MEDIAN_S]
    base = t[T.PARALLEL_MEDIAN_S].iloc[0]
    same_up_to = int(t.index.min())
    for b, v in t[T.PARALLEL_MEDIAN_S].sort_index().items():  # up to the first batch size beyond the limit
        if v > same * base:
            break
        same_up_to = int(b)
    extrap = " (extrapolated from fewer examples)" if bool(t.at[lb, T.SEQUENTIAL_EXTRAPOLATED]) else ""
    rows = [
        dict(
            aspect="Speed for one update (no parallel computing)",
            small="Faster",
            large="Slower",
            measured_small=secs(seq_s),
            measured_large=secs(seq_l),
            verdict=yes(seq_l > same * seq_s),
            evidence=f"timing step on {dev}: one update with the batch's examples processed one after another "
            f"takes {seq_l / seq_s:.0f}× longer at B={lb}{extrap} than at B={sb}",
        )
    ]
    ratio = par_l / par_s
    rows.append(
        dict(
            aspect="Speed for one update (with parallel computing)",
            small="Same",
            large="Same (not too large)",
            measured_small=secs(par_s),
            measured_large=secs(par_l),
            verdict=yes(ratio <= same),
            evidence=f"timing step on {dev}: one update with the whole batch in one call takes {ratio:.1f}× "
            f"as long at B={lb} as at B={sb} ('same' = within {same:g}×); the time stays within "
            f"{same:g}× of B={int(t.index.min())} up to B={same_up_to}",
        )
    )
    ep = t[T.EPOCH_MEASURED_S].where(t[T.EPOCH_MEASURED_S].notna(), t[T.EPOCH_ESTIMATED_S])
    how = lambda b: "measured" if not _nan(t.at[b, T.EPOCH_MEASURED_S]) else "updates × time per update"  # noqa: E731
    rows.append(
        dict(
            aspect="Time for one epoch",
            small="Slower",
            large="Faster",
            measured_small=secs(ep[sb]),
            measured_large=secs(ep[lb]),
            verdict=yes(ep[sb] > ep[lb]),
            evidence=f"timing step on {dev}: one epoch takes {ep[sb] / ep[lb]:.1f}× as long at B={sb} "
            f"({how(sb)}) as at B={lb} ({how(lb)}): {int(t.at[sb, T.UPDATES_PER_EPOCH])} vs "
            f"{int(t.at[lb, T.UPDATES_PER_EPOCH])} updates",
        )
    )
    return rows


class Measure(NamedTuple):
    """A column of the run tables and how the report names it."""

    column: str
    label: str


TEST_ACCURACY = Measure(T.TEST_ACC, "test accuracy")
TRAIN_ACCURACY = Measure(T.TRAIN_ACC, "training accuracy")
TOP_EIGENVALUE = Measure(T.HESSIAN_TOP, "top Hessian eigenvalue")
TRACE = Measure(T.HESSIAN_TRACE, "Hessian trace")


def eps_measure(eps: float, subspace_dim: int | None) -> Measure:
    """Keskar's ε-sharpness at ε, in the full space (None) or a random subspace of that dimension."""
    where = "" if subspace_dim is None else f", {subspace_dim}-dim subspace"
    return Measure(T.sharpness_column(eps, subspace_dim), f"ε-sharpness ε={eps:g}{where}")


def sharpness_measures(params) -> list[Measure]:
    """Every sharpness measure at the final weights: the Hessian's top eigenvalue and trace, then
    ε-sharpness per ε of params, in the full space and in the random subspace."""
    sh = params.sharpness
    return [TOP_EIGENVALUE, TRACE, *(eps_measure(e, d) for e in sh.epsilons for d in (None, sh.subspace_dim))]


def _choices(candidates: pd.DataFrame) -> str:
    """Per cell, the η its seeds kept, with how many seeds kept each, and the η tried."""
    parts = []
    for cell, c in candidates.groupby(T.CELL, sort=False):
        kept = c[c[T.CHOSEN]][T.LR].value_counts().sort_index()
        tried = [float(v) for v in sorted(c[T.LR].unique())]
        parts.append(f"{cell}: η kept " + ", ".join(f"{lr:g} by {n}" for lr, n in kept.items()) + f" of {tried}")
    return "; ".join(parts)


def time_to_level(tta: pd.DataFrame, sizes: tuple[int, int]) -> str:
    """In words, per λ: the median updates and wall-clock seconds over seeds that the small and the large
    batch took to first reach the highest training-accuracy level of the table; "never" when no seed did."""
    train = tta[tta[T.MEASURE] == T.TRAIN_ACC]
    if not len(train):
        return ""
    level = train[T.LEVEL].max()
    parts = []
    for lam, at in train[train[T.LEVEL] == level].groupby(T.MOMENTUM):
        sides = []
        for b in sizes:
            runs = at[at[T.BATCH_SIZE] == b]
            hit = runs.dropna(subset=[T.UPDATES])
            if not len(runs):
                continue
            sides.append(
                f"B={b} "
                + (
                    "never"
                    if not len(hit)
                    else f"{hit[T.UPDATES].median():.0f} updates, {secs(hit[T.WALL_S].median())}"
                    + (f" ({len(hit)} of {len(runs)} seeds)" if len(hit) < len(runs) else "")
                )
            )
        parts.append(f"λ={lam:g}: " + " vs ".join(sides))
    return (
        f"Time to {100 * level:.0f}% training accuracy (median over seeds; wall-clock of the training job, which "
        f"trains a cell's seeds together): " + "; ".join(parts) + "."
    )


def comparison_row(
    aspect: str,
    section: str,
    sides: tuple[str, str],
    per_lam: list[dict],
    fmt,
    evidence: str,
    label: str = "",
    margin_text: str = "",
) -> dict:
    """A row of the table from per-λ comparisons (compare): what each side measured, the verdict
    over the λ (summarize), and the evidence."""
    return dict(
        aspect=aspect,
        section=section,
        small=sides[0],
        large=sides[1],
        measured_small=label + measured(per_lam, "small", fmt),
        measured_large=label + measured(per_lam, "large", fmt),
        verdict=summarize(per_lam),
        per_lambda=per_lam,
        evidence=evidence,
        margin_text=margin_text,
    )


def eta_text(tr) -> str:
    """The grid's η in words: one η, or η per λ under lr_momentum "step"."""
    if tr.lr_momentum == "step":
        return f"η = {tr.lr:g}·(1 − λ) (the same step η/(1 − λ) = {tr.lr:g} at every λ)"
    return f"η = {tr.lr:g} at every λ"


def gradient_row(table: pd.DataFrame, sizes: tuple[int, int], params) -> dict:
    """Gradient: noisy for small batches, stable for large ones (the grid's smallest vs largest B)."""
    v = params.verdict
    cos = compare(table, T.NOISE_FINAL.cosine_expected, "larger", sizes, v.margin_cosine, power=v.power)
    g = "{:.3f}".format
    return comparison_row(
        "Gradient",
        "noise",
        ("Noisy", "Stable"),
        cos,
        g,
        "expected cosine between a batch gradient of B examples drawn from the training set and "
        "the full gradient (1 = the exact direction; lower = noisier), from the gradient noise "
        "scale at each run's final weights, the grid's smallest vs largest B, per λ: " + describe(cos, g),
        margin_text=f"a cosine difference within ±{v.margin_cosine:g} is no difference",
    )


def optimization_row(table: pd.DataFrame, sizes: tuple[int, int], params, tta: pd.DataFrame | None) -> dict:
    """Optimization: the small batch trains better under one epoch budget."""
    tr = params.train
    v = params.verdict
    opt = compare(table, T.TRAIN_ACC, "smaller", sizes, v.margin_accuracy, power=v.power)
    return comparison_row(
        "Optimization",
        "optimization",
        ("Better", "Worse"),
        opt,
        pct,
        f"final training accuracy after the same budget of {tr.max_epochs} epochs at "
        f"{eta_text(tr)} (the lecture's MNIST and CIFAR-10 curves; a run stops early "
        f"at {tr.target_train_acc}), per λ; runs that diverged or did not train are "
        f"counted, not averaged: " + describe(opt, pct) + ". " + (time_to_level(tta, sizes) if tta is not None else ""),
        margin_text=f"a difference within ±{100 * v.margin_accuracy:g} points is no difference",
    )


def generalization_row(equal: pd.DataFrame, candidates: pd.DataFrame, params) -> dict:
    """Generalization: test accuracy of the equal-accuracy runs, small against large batch, each seed at
    the η it kept; per λ the η view (analysis.eta): each side's kept η, whether it sits at the edge of the
    sweep, and whether the verdict stays the same at the neighbouring η (robust) or not (depends on η)."""
    ea = params.equal_acc
    protocol = (
        f"Keskar et al.'s protocol: B={ea.batch_size[0]} and B={ea.batch_size[1]} each trained until "
        f"the training accuracy reaches {ea.target_train_acc} (at most {ea.max_epochs} epochs) at every step "
        f"η/(1−λ) of the sweep ({list(ea.step_small)} small, {list(ea.step_large)} large); each seed keeps the η "
        f"with its best validation accuracy among its runs at the target, so the choice is inside the interval "
        f"({_choices(candidates)})"
    )
    v = params.verdict
    sizes = tuple(ea.batch_size)
    gen = compare(equal, T.TEST_ACC, "smaller", sizes, v.margin_accuracy, reached_only=True, power=v.power)
    for p in gen:
        view = eta.neighbour_gaps(candidates, p["momentum"], sizes, "smaller", v.margin_accuracy)
        edges = [f"B={b}" for b, side in zip(sizes, ("small", "large")) if view[side]["edge"]]
        p["eta"] = view
        p["eta_robust"] = view["robust"]
        p["note"] = (
            f"λ={p['momentum']:g}, η view: "
            + eta.describe(view, sizes, pct)
            + "."
            + (f" {eta.EDGE_TEXT} for {' and '.join(edges)}: see docs/measures.md to widen it." if edges else "")
        )
    edges = [p["momentum"] for p in gen if p["eta"]["small"]["edge"] or p["eta"]["large"]["edge"]]
    depends = [p["momentum"] for p in gen if p["eta_robust"] == eta.DEPENDS]
    flags = ([f"{eta.EDGE_TEXT} at λ = {', '.join(f'{m:g}' for m in edges)}"] if edges else []) + (
        [f"the verdict {eta.DEPENDS} at λ = {', '.join(f'{m:g}' for m in depends)}"] if depends else []
    )
    row = comparison_row(
        "Generalization",
        "generalization",
        ("Better", "Worse"),
        gen,
        pct,
        f"test accuracy at equal training accuracy. {protocol}. Per λ: "
        + describe(gen, pct)
        + ". "
        + " ".join(p["note"] for p in gen),
        margin_text=f"a difference within ±{100 * v.margin_accuracy:g} points is no difference",
    )
    return dict(row, flags=flags)


EDGE = 0.8  # a run "sits at its edge of stability" when its top eigenvalue is at least this share of 2(1+λ)/η


def edge_of_stability(equal: pd.DataFrame, sizes: tuple[int, int]) -> list[dict]:
    """Per λ and side, over the runs at the target: η, the threshold 2(1 + λ)/η, the median top Hessian
    eigenvalue and the median of eigenvalue / threshold (T.EDGE_RATIO), and whether the side sits at its
    edge of stability (median ratio >= EDGE): then its sharpness is set by its η (Cohen et al. 2021, "Gradient
    descent on neural networks typically occurs at the edge of stability"), not by its batch size alone."""
    out = []
    if T.HESSIAN_TOP not in equal:
        return out
    for lam in sorted(equal[T.MOMENTUM].unique()):
        row = {"momentum": float(lam)}
        for side, b in zip(("small", "large"), sizes):
            runs = equal[(equal[T.MOMENTUM] == lam) & (equal[T.BATCH_SIZE] == b)]
            runs = runs[stats.counted(runs) & runs[T.HESSIAN_TOP].notna()]
            if not len(runs):
                row[side] = None
                continue
            lr = float(runs[T.LR].median())
            ratio = float((runs[T.HESSIAN_TOP] / config.stability_threshold(runs[T.LR], lam)).median())
            row[side] = dict(
                batch_size=int(b),
                lr=lr,
                threshold=float(config.stability_threshold(lr, lam)),
                top=float(runs[T.HESSIAN_TOP].median()),
                edge_ratio=ratio,
                at_edge=bool(ratio >= EDGE),
            )
        out.append(row)
    return out


def edge_text(edges: list[dict]) -> str:
    """The edge of stability in words, per λ and side."""
    parts = []
    for e in edges:
        sides = [
            f"B={s['batch_size']} at η = {s['lr']:g}: top eigenvalue {s['top']:.3g} vs 2(1+λ)/η = {s['threshold']:.3g} "
            f"({s['edge_ratio']:.0%}{', at the edge' if s['at_edge'] else ''})"
            for s in (e["small"], e["large"])
            if s
        ]
        if sides:
            parts.append(f"λ={e['momentum']:g}: " + ", ".join(sides))
    if not parts:
        return ""
    pinned = [e["momentum"] for e in edges if e["large"] and e["large"]["at_edge"]]
    return (
        "Edge of stability (gradient descent with momentum is stable only where the top eigenvalue is below "
        "2(1+λ)/η; Cohen et al. 2021 find full-batch training sits at that edge): "
        + "; ".join(parts)
        + ". "
        + (
            f"The large batch sits at its edge at λ = {', '.join(f'{m:g}' for m in pinned)}: its sharpness is "
            f"set by its tuned η, so tuning η per batch size can close the sharpness gap by itself."
            if pinned
            else f"No large-batch run reaches {EDGE:.0%} of its threshold: its η does not pin its sharpness."
        )
    )


def primary_measure(params) -> Measure:
    """The sharpness measure that decides the sharp-vs-flat row (verdict.sharpness_primary)."""
    sh = params.sharpness
    return {
        "eps_sharpness": eps_measure(sh.epsilons[0], None),
        "eps_sharpness_subspace": eps_measure(sh.epsilons[0], sh.subspace_dim),
        "top_eigenvalue": TOP_EIGENVALUE,
        "trace": TRACE,
    }[params.verdict.sharpness_primary]


def _direction(r: dict) -> int:
    """+1 when a ratio's interval lies above 1 (large sharper), −1 below 1, 0 when it holds 1 or is missing."""
    lo, hi = r["ratio"]["lo"], r["ratio"]["hi"]
    if _nan(lo) or _nan(hi):
        return 0
    return 1 if lo > 1 else -1 if hi < 1 else 0


def agreement(primary: str, per_measure: dict[str, dict]) -> dict:
    """At one λ, the other measures against the primary one: each "agrees" (the same verdict) or "disagrees"
    (with its verdict), and `disagree` True when two measures point in opposite directions with intervals
    that both exclude 1."""
    others = {
        label: "agrees" if r["verdict"] == per_measure[primary]["verdict"] else f"disagrees ({r['verdict']})"
        for label, r in per_measure.items()
        if label != primary
    }
    directions = {_direction(r) for r in per_measure.values()}
    return dict(others=others, disagree={1, -1} <= directions)


def sharpness_row(equal: pd.DataFrame, params) -> dict:
    """Sharp vs flat minima: every sharpness measure of the equal-accuracy runs, large over small. The
    primary measure, named in params before any run (verdict.sharpness_primary), gives the verdict per λ;
    the others are listed as agreeing or not, and "measures disagree" where two of them point in opposite
    directions with intervals that exclude 1."""
    sizes = params.equal_acc.batch_size
    primary = primary_measure(params)
    per_measure = {
        m.label: compare(
            equal,
            m.column,
            "larger",
            sizes,
            params.verdict.margin_ratio,
            ratio=True,
            reached_only=True,
            power=params.verdict.power,
        )
        for m in sharpness_measures(params)
    }  # compare: a missing column is all NaN
    sharp = []
    for k, first in enumerate(per_measure[primary.label]):
        agree = agreement(primary.label, {label: rows[k] for label, rows in per_measure.items()})
        note = (
            f"λ={first['momentum']:g}: the {primary.label} decides ({first['verdict']}); "
            + "; ".join(f"{label} {a}" for label, a in agree["others"].items())
            + ("; measures disagree" if agree["disagree"] else "")
        )
        sharp.append(
            dict(
                first,
                measures={label: rows[k]["verdict"] for label, rows in per_measure.items()},
                agreement=agree["others"],
                measures_disagree=agree["disagree"],
                note=note,
            )
        )
    edges = edge_of_stability(equal, sizes)
    for entry, edge in zip(sharp, edges):
        entry["edge"] = edge
    disagree = [p["momentum"] for p in sharp if p["measures_disagree"]]
    row = comparison_row(
        "Sharp vs flat minima",
        "sharpness",
        ("Flat minimum", "Sharp minimum"),
        sharp,
        num,
        f"every sharpness measure of the training loss at the final weights, at equal training accuracy (the "
        f"runs of the Generalization row); ratio large/small of geometric means over seeds. The verdict is the "
        f"{primary.label}'s (verdict.sharpness_primary, set before any run); the other measures agree or not. "
        + " ".join(f"{label}: {describe(r, num, ratio=True)}." for label, r in per_measure.items())
        + (" " + edge_text(edges) if edges else ""),
        label=f"{primary.label} ",
        margin_text=f"a ratio within ×/÷{params.verdict.margin_ratio:g} is no difference",
    )
    flags = [f"measures disagree at λ = {', '.join(f'{m:g}' for m in disagree)}"] if disagree else []
    return dict(row, edge_of_stability=edges, primary=primary.label, headline_label=primary.label, flags=flags)


def batch_rows(
    table: pd.DataFrame, equal: pd.DataFrame, candidates: pd.DataFrame, params, tta: pd.DataFrame | None = None
) -> list[dict]:
    """The rows about batch size that the training runs answer: gradient noise and optimization from the
    grid (the same epoch budget), generalization and sharpness from the equal-accuracy protocol."""
    sizes = (int(table[T.BATCH_SIZE].min()), int(table[T.BATCH_SIZE].max()))
    return [
        gradient_row(table, sizes, params),
        optimization_row(table, sizes, params, tta),
        generalization_row(equal, candidates, params),
        sharpness_row(equal, params),
    ]


KESKAR_F1 = dict(
    network="F1",
    source="Keskar et al. 2017, Tables 2 and 3, network F1 (MLP on MNIST; SB = 256, LB = "
    "10% of the training set, Adam, trained until the loss stops improving, 5 runs)",
    setting="MNIST, 784-512×5-10 with batch norm",
    small=dict(train_acc=0.9966, test_acc=0.9803, eps_sharpness=1.23),
    large=dict(train_acc=0.9992, test_acc=0.9781, eps_sharpness=205.14),
    epsilon=1e-3,
)
KESKAR_C1 = dict(
    network="C1",
    source="Keskar et al. 2017, Tables 2 and 3, network C1 (shallow convolutional network on "
    "CIFAR-10; SB = 256, LB = 10% of the training set, Adam, trained until the loss stops improving, 5 runs)",
    setting="CIFAR-10, conv 64 5×5 and max-pool twice, dense 384 and 192, with batch norm",
    small=dict(train_acc=0.9989, test_acc=0.8004, eps_sharpness=28.58),
    large=dict(train_acc=0.9966, test_acc=0.7726, eps_sharpness=707.23),
    epsilon=1e-3,
)


def keskar_table(equal: pd.DataFrame, params) -> dict:
    """Keskar's table side by side: per λ and side, training and test accuracy and each sharpness
    measure (mean and standard deviation over the seeds that reached the target), with the published
    F1 row (C1 on CIFAR-10) and what differs."""
    ea = params.equal_acc
    cols = [TRAIN_ACCURACY, TEST_ACCURACY, *sharpness_measures(params)]
    rows = []
    for lam in sorted(equal[T.MOMENTUM].unique()):
        for side, b in zip(("small", "large"), ea.batch_size):
            runs = equal[(equal[T.MOMENTUM] == lam) & (equal[T.BATCH_SIZE] == b)]
            done = runs[stats.counted(runs)]
            values = {col: stats.mean_interval(done[col]) for col, _ in cols if col in done}
            rows.append(
                dict(
                    momentum=float(lam),
                    side=side,
                    batch_size=int(b),
                    seeds=int(len(done)),
                    of=int(len(runs)),
                    lr=float(runs[T.LR].mode().iloc[0]) if len(runs) else float("nan"),  # most seeds' η
                    values={c: {"mean": v["mean"], "std": v["std"]} for c, v in values.items()},
                )
            )
    published = KESKAR_C1 if params.data.dataset == "cifar10" else KESKAR_F1  # the network nearest to ours
    return dict(
        columns=[{"column": c, "label": label} for c, label in cols],
        rows=rows,
        published=published,
        differs=(
            f"here: {params.data.dataset} ({params.data.n_train} training examples), "
            f"{params.model.name} {list(params.model.hidden)}, SGD with the lecture's momentum at the "
            f"grid's λ, B = {ea.batch_size[0]} vs {ea.batch_size[1]}, trained to {ea.target_train_acc} "
            f"training accuracy, {len(params.equal_acc.seed)} seeds; Keskar: {published['setting']}, Adam, "
            f"SB = 256 vs LB = 10%"
        ),
    )


def lecture_table(
    table: pd.DataFrame,
    equal: pd.DataFrame,
    candidates: pd.DataFrame,
    params,
    timing: pd.DataFrame,
    momentum: dict,
    tta: pd.DataFrame | None = None,
) -> list[dict]:
    """Every row of the lecture's table: from the grid's runs (`table`), the equal-accuracy runs
    (`equal`, `candidates`), the timing step's rows and the momentum step's result; params is the
    config.Params of the run."""
    small_b, large_b = int(table[T.BATCH_SIZE].min()), int(table[T.BATCH_SIZE].max())
    same = params.verdict.margin_ratio
    rows = [
        dict(r, section="timing", margin_text=f"times within {same:g}× are the same")
        for r in _timing_rows(timing, small_b, large_b, same)
    ]
    rows += batch_rows(table, equal, candidates, params, tta)
    rows += [dict(r, section="momentum") for r in momentum_rows(momentum)]
    for r in rows:  # (verdict, scope) from summarize, a bare verdict elsewhere
        r["verdict"], r["scope"] = r["verdict"] if isinstance(r["verdict"], tuple) else (r["verdict"], "")
        if r["verdict"] not in VERDICTS:
            raise ValueError(f"lecture row {r['aspect']!r}: verdict {r['verdict']!r} is not one of {VERDICTS}")
        r["cells"] = sorted({c for p in r.get("per_lambda", []) for c in p.get("cells", [])})
    return rows
