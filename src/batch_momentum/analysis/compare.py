"""Comparing the small and the large batch per λ over paired seeds (compare), the words and the
table row built from such comparisons, and the measures the rows compare (Measure).

Every row of the lecture's table that training runs answer is built from these; the rows themselves
live one per module in analysis/rows/."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from batch_momentum.analysis import stats
from batch_momentum.analysis.formats import missing as _nan
from batch_momentum.analysis.verdicts import INCONCLUSIVE, NOT_MEASURED, combine, verdict
from batch_momentum.io import tables as T
from batch_momentum.io.status import Status


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
    """Every sharpness measure at the final weights: the Hessian's top eigenvalue and trace,
    ε-sharpness per ε of params, in the full space and in the random subspace, then the adaptive
    sharpness (the one a rescaling that keeps the function leaves unchanged)."""
    sh = params.sharpness
    return [
        TOP_EIGENVALUE,
        TRACE,
        *(eps_measure(e, d) for e in sh.epsilons for d in (None, sh.subspace_dim)),
        adaptive_measure(params),
    ]


def adaptive_measure(params) -> Measure:
    """The adaptive sharpness at params' ρ: the worst loss rise over the box |δᵢ| ≤ ρ|wᵢ|."""
    return Measure(T.ADAPTIVE_SHARPNESS, f"adaptive sharpness ρ={params.sharpness.adaptive_rho:g}")


def primary_measure(params) -> Measure:
    """The sharpness measure that decides the sharp-vs-flat row (verdict.sharpness_primary)."""
    sh = params.sharpness
    return {
        "eps_sharpness": eps_measure(sh.epsilons[0], None),
        "eps_sharpness_subspace": eps_measure(sh.epsilons[0], sh.subspace_dim),
        "top_eigenvalue": TOP_EIGENVALUE,
        "trace": TRACE,
    }[params.verdict.sharpness_primary]
