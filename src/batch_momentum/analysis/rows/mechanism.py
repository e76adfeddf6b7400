"""Flat minimum → better testing: the lecture's middle step, measured across every candidate run of the
equal-accuracy protocol at the target (both batch sizes, every η, every seed). Per λ, Kendall's τ between the
primary sharpness measure and test accuracy with a seed-bootstrap interval (analysis.rank); the same τ for the
other measures; and Jiang et al. 2019's granulated τ, within one batch size (η varying) and within one η
(batch size varying), which tells a sharpness that follows test accuracy from one that follows η."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batch_momentum.analysis import rank, stats
from batch_momentum.analysis.compare import TOP_EIGENVALUE, Measure, adaptive_measure, primary_measure, summarize
from batch_momentum.analysis.verdicts import INCONCLUSIVE, NOT_MEASURED
from batch_momentum.io import tables as T

ASPECT = "Flat minimum → better testing"
RERUN = "rerun evaluate_equal (then aggregate) so that every candidate at the target is measured"


def measures(params) -> list[Measure]:
    """The primary sharpness measure first (it decides), then the top Hessian eigenvalue and the adaptive
    sharpness where they are not the primary."""
    primary = primary_measure(params)
    return [primary, *(m for m in (TOP_EIGENVALUE, adaptive_measure(params)) if m.column != primary.column)]


def runs_at_target(candidates: pd.DataFrame, column: str) -> pd.DataFrame:
    """The candidates a τ counts: status ok, at the target, a finite value of `column` and of test accuracy
    (none when the column is absent: then an empty frame that has the column)."""
    if column not in candidates:
        candidates = candidates.assign(**{column: np.nan})
    ok = stats.counted(candidates) & np.isfinite(candidates[column].astype(float))
    return candidates[ok & np.isfinite(candidates[T.TEST_ACC].astype(float))]


def _tau(runs: pd.DataFrame, column: str, params) -> dict:
    """τ of `column` against test accuracy with its seed-bootstrap interval (rank.seed_bootstrap); one seed
    gives no interval (a bootstrap of one seed only repeats it)."""
    out = rank.seed_bootstrap(runs[column], runs[T.TEST_ACC], runs[T.SEED], params.verdict.bootstrap)
    if out["n_seeds"] < 2:
        out["lo"] = out["hi"] = float("nan")
    return out


def _lr_key(lr) -> pd.Series:
    """η rounded to 10 significant digits, so that the same η of two batch sizes compares equal."""
    return pd.Series(lr).map(lambda v: float(f"{v:.10g}"))


def _renamed(group: dict, key: str, cast) -> dict:
    """A rank.granulated group with its value under the name of what it holds fixed."""
    return {key: cast(group["value"]), **{k: v for k, v in group.items() if k != "value"}}


def granulated(runs: pd.DataFrame, column: str, sizes: tuple[int, int]) -> dict:
    """Jiang et al.'s granulated τ of `column` against test accuracy: within each batch size (η varying)
    and within each η both batch sizes trained (B varying), each list with its mean; where the sides'
    η do not overlap, `within_lr_none` says so with each side's η range."""
    by_b = rank.granulated(runs, column, T.TEST_ACC, T.BATCH_SIZE)
    keyed = runs.assign(**{T.LR: _lr_key(runs[T.LR]).to_numpy()})
    lrs = [set(keyed[keyed[T.BATCH_SIZE] == b][T.LR]) for b in sizes]
    shared = keyed[keyed[T.LR].isin(lrs[0] & lrs[1])]
    by_lr = rank.granulated(shared, column, T.TEST_ACC, T.LR)
    none = ""
    if not by_lr:
        ranges = [f"B={b} ({min(s):g}–{max(s):g})" if s else f"B={b} (no run)" for b, s in zip(sizes, lrs)]
        none = f"none: the η of {ranges[0]} and {ranges[1]} do not overlap"
    return dict(
        within_batch=[_renamed(g, "batch_size", int) for g in by_b],
        within_batch_mean=rank.mean_tau(by_b),
        within_lr=[_renamed(g, "lr", float) for g in by_lr],
        within_lr_mean=rank.mean_tau(by_lr),
        within_lr_none=none,
    )


def _fmt(t: dict) -> str:
    """τ [lo, hi] (n runs, m seeds)."""
    span = "" if np.isnan(t["lo"]) else f" [{t['lo']:.2f}, {t['hi']:.2f}]"
    return f"τ = {t['tau']:.2f}{span} ({t['n_runs']} runs, {t['n_seeds']} seeds)"


def granulated_text(g: dict) -> str:
    """The granulated τ in words."""
    within_b = ", ".join(f"B={x['batch_size']}: {x['tau']:.2f} ({x['n_runs']} runs)" for x in g["within_batch"])
    within_lr = (
        g["within_lr_none"]
        or ", ".join(f"η={x['lr']:g}: {x['tau']:.2f} ({x['n_runs']} runs)" for x in g["within_lr"])
        + f"; mean {g['within_lr_mean']:.2f}"
    )
    return (
        f"granulated τ (Jiang et al. 2019): within one batch size, η varying, {within_b or 'none'}"
        + (f"; mean {g['within_batch_mean']:.2f}" if g["within_batch"] else "")
        + f"; within one η, batch size varying, {within_lr}"
    )


def lambda_entry(candidates: pd.DataFrame, lam: float, params) -> dict:
    """One λ of the row: the primary measure's τ, interval and verdict; the other measures' τ; the
    granulated τ; the note in words."""
    first, *others = measures(params)
    margin = params.verdict.margin_tau
    runs = runs_at_target(candidates, first.column)
    entry = dict(momentum=float(lam), measure=first.label, margin=margin, reason="", note="")
    entry["cells"] = sorted(runs[T.CELL].unique()) if T.CELL in runs else []
    if first.column not in candidates:
        reason = f"candidates.csv has no {first.column} column: {RERUN}"
        return dict(entry, verdict=NOT_MEASURED, reason=reason, note=f"λ={lam:g}: not measured ({reason})")
    if len(runs) < 2:
        reason = f"{len(runs)} candidate(s) at the target with a finite {first.label} at λ={lam:g}"
        reason += f" ({RERUN})" if not candidates[first.column].notna().any() else ""
        return dict(entry, verdict=NOT_MEASURED, reason=reason, note=f"λ={lam:g}: not measured ({reason})")
    entry |= _tau(runs, first.column, params)
    if entry["n_seeds"] < 2:
        entry |= dict(verdict=INCONCLUSIVE, reason="one seed at the target: a seed bootstrap needs two or more")
    else:
        entry["verdict"] = rank.tau_verdict(entry["lo"], entry["hi"], margin)
    entry["others"] = {
        m.label: _tau(r, m.column, params) if len(r := runs_at_target(candidates, m.column)) >= 2 else None
        for m in others
    }
    others_ = entry["others"]
    entry["granulated"] = granulated(runs, first.column, tuple(params.equal_acc.batch_size))
    entry["note"] = (
        f"λ={lam:g}: {first.label} vs test accuracy {_fmt(entry)}: {entry['verdict']}"
        + (f" ({entry['reason']})" if entry["reason"] else "")
        + "; "
        + "; ".join(f"{label} {_fmt(t) if t else 'not measured on the candidates'}" for label, t in others_.items())
        + "; "
        + granulated_text(entry["granulated"])
    )
    return entry


def mechanism_row(candidates: pd.DataFrame, params) -> dict:
    """Flat minimum → better testing, per λ of the candidates: holds when τ's interval (sharpness against
    test accuracy) lies below −verdict.margin_tau, does not hold above +margin, no difference inside ±margin,
    inconclusive otherwise; "not measured" with the reason when candidates.csv lacks the primary measure."""
    lams = sorted(candidates[T.MOMENTUM].unique())
    per = [lambda_entry(candidates[candidates[T.MOMENTUM] == lam], lam, params) for lam in lams]
    primary, margin = primary_measure(params).label, params.verdict.margin_tau
    shown = "; ".join(
        f"λ={p['momentum']:g}: " + (f"τ = {p['tau']:.2f}" if "tau" in p and not np.isnan(p["tau"]) else "not measured")
        for p in per
    )
    return dict(
        aspect=ASPECT,
        section="mechanism",
        small="Flat minimum → tests better",
        large="Sharp minimum → tests worse",
        measured_small=shown,
        measured_large="the same τ: one ranking of the runs of both batch sizes",
        verdict=summarize(per),
        per_lambda=per,
        primary=primary,
        headline_label=f"Kendall τ, {primary} vs test accuracy",
        evidence=f"Kendall's τ-b between the {primary} (verdict.sharpness_primary) and test accuracy over every "
        f"candidate run of the equal-accuracy protocol at the target (both batch sizes, every η, every seed); a "
        f"negative τ: the flatter run tests better. 95% percentile interval over {params.verdict.bootstrap} seed "
        "bootstrap resamples (the seeds drawn with replacement, each with all its runs; generator seed 0). Per λ: "
        + " ".join(p["note"] + "." for p in per),
        margin_text=f"a τ interval inside ±{margin:g} is no difference (verdict.margin_tau)",
    )
