"""The verdicts' numbers as a flat metrics file, reports/verdicts.json, for DVC.

reports/lecture.json holds the lecture's table with its evidence in words; DVC's `dvc metrics
diff` and `dvc exp show` compare scalars, so this module flattens the table to the numbers a
verdict rests on: per row its verdict, and per λ (rows that compare the small and the large
batch per λ) the difference large − small or the ratio large/small with its 95% interval, the
seeds behind each side, the smallest difference the run detects, the correlation of the paired
sides and the seeds an inconclusive verdict would need, and the verdict that interval gives.

Keys are `<row>/<field>` and `<row>/lam<λ>/<field>`, e.g. `generalization/lam0.9/diff`,
`sharpness/lam0/ratio_lo`, `optimization/verdict`, `generalization/lam0.9/bracket_large` (interior, bounded
by failure, not bracketed, no η trains); the mechanism row gives per λ Kendall's τ (tau, tau_lo, tau_hi,
n_runs, n_seeds) and the granulated τ (tau_within_batch, tau_within_lr). A verdict is a string (one of
analysis.verdicts.Verdict) and, for sorting and plotting, a number: `verdict_score` = +1 holds,
+0.5 partly holds, 0 no difference, −1 does not hold, null inconclusive or not measured.
An interval end that could not be computed (too few seeds) is null, as in lecture.json.
"""

from __future__ import annotations

import re

from batch_momentum.analysis.verdicts import Verdict

# Short, stable names of the lecture's rows (the keys of the metrics); a row not named here gets
# a name made from its aspect (slug), so a new row still appears in the metrics.
ROW_NAMES = {
    "Speed for one update (no parallel computing)": "update_time_sequential",
    "Speed for one update (with parallel computing)": "update_time_parallel",
    "Time for one epoch": "epoch_time",
    "Gradient": "gradient",
    "Optimization": "optimization",
    "Generalization": "generalization",
    "Sharp vs flat minima": "sharpness",
    "Flat minimum → better testing": "mechanism",
    "Critical point: gradient descent (λ = 0) vs momentum (λ > 0)": "critical_point",
    "Escaping a critical point: small batch vs full batch": "escape_by_batch",
    "Escaping a critical point: no momentum vs momentum": "escape_by_momentum",
    "mᵗ is the weighted sum of all earlier gradients": "weighted_sum",
}

SCORES = {
    Verdict.HOLDS.value: 1.0,
    Verdict.PARTLY.value: 0.5,
    Verdict.NO_DIFFERENCE.value: 0.0,
    Verdict.DOES_NOT_HOLD.value: -1.0,
}  # inconclusive and not measured: no score (null)


BRACKET_KEYS = ("bracket_small", "bracket_large")  # each side's best-η bracket status (analysis.eta.gate)


def row_name(aspect: str) -> str:
    """The metrics name of a lecture row: its short name, or its aspect as lower-case words joined by _."""
    if aspect in ROW_NAMES:
        return ROW_NAMES[aspect]
    slug = re.sub(r"[^a-z0-9]+", "_", aspect.lower()).strip("_")
    if not slug:
        raise ValueError(f"lecture row {aspect!r}: no letters or digits to name its metrics by")
    return slug


def lam_name(momentum: float) -> str:
    """lam0, lam0.9: λ as the pipeline names its cells (bs64_lam0.9)."""
    return f"lam{float(momentum):g}"


def _verdict(prefix: str, verdict: str) -> dict:
    return {f"{prefix}/verdict": str(verdict), f"{prefix}/verdict_score": SCORES.get(str(verdict))}


def _comparison(prefix: str, per: dict) -> dict:
    """One λ of a row: the difference (diff, diff_lo, diff_hi) or the ratio (ratio, ratio_lo, ratio_hi),
    the seeds on each side and the verdict."""
    out = {}
    for kind, key in (("difference", "diff"), ("ratio", "ratio")):
        if kind in per:
            d = per[kind]
            out |= {f"{prefix}/{key}": d.get(key), f"{prefix}/{key}_lo": d.get("lo"), f"{prefix}/{key}_hi": d.get("hi")}
    if "tau" in per:  # the mechanism row: Kendall's τ with its seed-bootstrap interval, and the granulated τ
        g = per.get("granulated") or {}
        out |= {f"{prefix}/tau": per["tau"], f"{prefix}/tau_lo": per["lo"], f"{prefix}/tau_hi": per["hi"]}
        out |= {f"{prefix}/{key}": per[key] for key in ("n_runs", "n_seeds")}
        out |= {f"{prefix}/tau_{key}": g.get(f"{key}_mean") for key in ("within_batch", "within_lr")}
    for side in ("small", "large"):
        if isinstance(per.get(side), dict) and "n" in per[side]:
            out[f"{prefix}/n_{side}"] = per[side]["n"]
    for key in ("detectable", "correlation", "seeds_needed", "eta_robust", "measures_disagree", *BRACKET_KEYS):
        if key in per:
            out[f"{prefix}/{key}"] = per[key]
    return out | _verdict(prefix, per["verdict"])


def flatten(lecture: dict) -> dict:
    """reports/lecture.json (a dict, as the analyze step writes it) -> {name: number, string or None}:
    every row's verdict and, per λ, its difference or ratio with the interval, seeds and verdict."""
    out: dict = {}
    for row in lecture["rows"]:
        name = row_name(row["aspect"])
        if f"{name}/verdict" in out:
            raise ValueError(f"two lecture rows are both named {name!r} in the metrics; add one to ROW_NAMES")
        out |= _verdict(name, row["verdict"])
        for per in row.get("per_lambda", []):
            out |= _comparison(f"{name}/{lam_name(per['momentum'])}", per)
    return out
