"""The momentum step's findings put into words once, and the lecture's momentum rows made from them.

`findings` says what each critical-point experiment found in one sentence; the lecture rows'
evidence (`momentum_rows`) and the report's momentum section (report.sections.momentum) both use
these sentences, so the table and the page say the same thing in the same words. Everything is
read from the records of batch_momentum.critical.records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from batch_momentum.analysis.verdicts import yes
from batch_momentum.critical.records import CriticalResult, FiniteCell, LambdaSummary, as_result

WEIGHTED_SUM_TOL = 1e-12  # the recursion and the weighted sum count as equal within this (float64 rounding)


@dataclass(frozen=True)
class Findings:
    """What the momentum step found, one sentence per experiment ('' where it measured nothing), in reading order."""

    rolling_1d: str  # 1-D surface: where each λ ends; which reach the deep minimum
    manifold_2d: str  # 2-D saddle from its stable manifold without noise: nothing moves
    offset_2d: str  # 2-D saddle from a tiny offset, and with gradient noise: how soon each λ leaves
    by_batch: str  # finite sums: share of seeds that escape, by batch size
    by_momentum: str  # finite sums: share that escape, by λ (minibatches only)
    temperature: str  # finite sums: does the escape fraction follow the noise temperature alone?
    weighted_sum: str  # m^t by the recursion against the weighted sum of earlier gradients

    def text(self) -> str:
        """Every finding, one paragraph."""
        return " ".join(s for s in dataclasses.astuple(self) if s)


# ----------------------------------------------------------------------------- the numbers behind the words
def _mean_escape(cells: Iterable[FiniteCell], key: Callable[[FiniteCell], float]) -> dict:
    """Mean escape fraction of the cells per value of key(cell), sorted by that value."""
    groups: dict = {}
    for c in cells:
        groups.setdefault(key(c), []).append(c.escape_fraction)
    return {k: float(np.mean(v)) for k, v in sorted(groups.items())}


def escape_by_batch(r: CriticalResult) -> dict[int, float]:
    """Finite sums: share of seeds that escape, mean over cases and λ, per batch size B."""
    return _mean_escape(r.finite_sum.cells, lambda c: c.batch_size)


def escape_by_momentum(r: CriticalResult) -> dict[float, float]:
    """Finite sums: share of seeds that escape, mean over cases and minibatch sizes B < N, per λ."""
    return _mean_escape([c for c in r.finite_sum.cells if c.batch_size < r.finite_sum.n], lambda c: c.momentum)


def largest_weighted_sum_diff(r: CriticalResult) -> float:
    """Largest |recursion − weighted sum| over every λ (NaN without a λ)."""
    return max((w.max_abs_diff for w in r.weighted_sum_check), default=float("nan"))


def end_1d(s: LambdaSummary) -> str:
    """Where λ's ball ends on the 1-D surface, e.g. 'λ = 0.9 ends at x = 3 (nearest the deep minimum)'."""
    back = (
        ", after crossing the hill and rolling back"
        if s.first_escape_step_1d is not None and not s.reached_deep_min_1d
        else ""
    )
    return f"λ = {s.momentum:g} ends at x = {s.final_1d:.3g} (nearest the {s.nearest_1d}{back})"


def _lams(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


# ----------------------------------------------------------------------------- the sentences
def _rolling_1d(r: CriticalResult) -> str:
    c = r.config
    points = [f"a {p.name} at x = {p.point[0]:g}" for p in r.surface_1d.critical_points]
    points = ", ".join(points[:-1]) + " and " + points[-1] if len(points) > 1 else "".join(points)
    deep = [s.momentum for s in r.summary if s.reached_deep_min_1d]
    short = [s.momentum for s in r.summary if not s.reached_deep_min_1d]
    reach = (
        f"With λ = {_lams(deep)} the ball rolls past the flat saddle and over the hill into the deep minimum"
        if deep
        else "No λ of the grid reaches the deep minimum"
    )
    return (
        f"1-D surface with {points}; the same start x = {c.start_1d:g}, η = {c.lr_1d:g} and {c.steps_1d} steps "
        "for every λ: "
        + "; ".join(end_1d(s) for s in r.summary)
        + ". "
        + reach
        + (f"; with λ = {_lams(short)} it ends short of it." if deep and short else ".")
    )


def _manifold_2d(r: CriticalResult) -> str:
    moved = max((s.on_manifold_max_abs_x for s in r.summary), default=float("nan"))
    return (
        f"On the 2-D saddle, started exactly on its stable manifold (x = 0, y = {r.config.start_2d[1]:g}) "
        f"without noise, the largest |x| any λ reaches is {moved:.1g}"
        + (": momentum alone does not leave it; a ball needs speed or noise." if moved == 0 else ".")
    )


def _leaves(s: LambdaSummary, steps: int) -> str:
    left = f"after {s.escape_step_2d} steps" if s.escape_step_2d is not None else f"not within {steps} steps"
    pred = f" (predicted {s.predicted_escape_step_2d:.0f})" if s.predicted_escape_step_2d is not None else ""
    return f"λ = {s.momentum:g} {left}{pred}"


def _offset_2d(r: CriticalResult) -> str:
    c = r.config
    text = (
        f"Started from (x, y) = ({c.start_2d[0]:g}, {c.start_2d[1]:g}), the ball leaves the saddle "
        f"(|x| ≥ {c.escape_radius:g}) with " + ", ".join(_leaves(s, c.steps_2d) for s in r.summary)
    )
    if r.summary and all(s.noisy_escaped_2d is not None for s in r.summary):
        text += (
            f"; with gradient noise of std {c.noise_2d:g} from x = 0, the share of the {c.noise_seeds_2d} runs "
            "that leave is " + ", ".join(f"{s.noisy_escaped_2d:.0%} for λ = {s.momentum:g}" for s in r.summary)
        )
    return text + "."


def _by_batch(r: CriticalResult) -> str:
    fs, by_b = r.finite_sum, escape_by_batch(r)
    if not by_b:
        return ""
    return (
        f"Finite sums of N = {fs.n} losses started at a critical point of their mean (cases: "
        f"{', '.join(fc.case for fc in fs.cases)}): the share of the {fs.seeds} seeds that escape, mean over "
        "cases and λ, by batch size: " + ", ".join(f"B={b}: {v:.0%}" for b, v in by_b.items()) + "."
    )


def _by_momentum(r: CriticalResult) -> str:
    by_lam = escape_by_momentum(r)
    if len(by_lam) < 2:
        return ""
    return (
        "The same finite-sum runs, share that escape over every minibatch size B < N, by λ: "
        + ", ".join(f"λ={k:g}: {v:.0%}" for k, v in by_lam.items())
        + "."
    )


def _temperature(r: CriticalResult) -> str:
    if not r.finite_sum.collapse:
        return ""
    rho = {c.case: "undefined" if c.spearman is None else f"{c.spearman:.2f}" for c in r.finite_sum.collapse}
    return (
        "The escape fraction against the noise temperature g = ηN/(B(1−λ)) of these runs: "
        + "; ".join(
            f"case {c.case} — {c.interpretation} (Spearman ρ with g = {rho[c.case]})" for c in r.finite_sum.collapse
        )
        + "."
    )


def _weighted_sum(r: CriticalResult) -> str:
    w = r.weighted_sum_check[0] if r.weighted_sum_check else None
    on = f" on {w.steps} random {w.dim}-D gradients (η = {w.lr:g})" if w else ""
    return (
        f"The recursion mᵗ = λmᵗ⁻¹ − ηgᵗ⁻¹ and the weighted sum −η Σᵢ λ^(t−1−i) gⁱ of all earlier gradients "
        f"differ by at most {largest_weighted_sum_diff(r):.1e}{on} over every λ of the grid "
        f"(equal = within {WEIGHTED_SUM_TOL:g})."
    )


def findings(result: CriticalResult | dict) -> Findings:
    """Each experiment's outcome in one sentence: the words of both the lecture rows and the report section."""
    r = as_result(result)
    return Findings(
        rolling_1d=_rolling_1d(r),
        manifold_2d=_manifold_2d(r),
        offset_2d=_offset_2d(r),
        by_batch=_by_batch(r),
        by_momentum=_by_momentum(r),
        temperature=_temperature(r),
        weighted_sum=_weighted_sum(r),
    )


# ----------------------------------------------------------------------------- the lecture's rows
def _critical_row(r: CriticalResult, f: Findings) -> dict | None:
    base = next((s for s in r.summary if s.momentum == 0.0), None)
    moving = [s for s in r.summary if s.momentum > 0]
    if base is None or not moving:
        return None
    deep = [s for s in moving if s.reached_deep_min_1d]
    best = deep[0] if deep else max(moving, key=lambda s: s.final_1d)
    return dict(
        aspect="Critical point: gradient descent (λ = 0) vs momentum (λ > 0)",
        small="Stops there",
        large="Rolls on, may reach a better minimum",
        measured_small=f"x = {base.final_1d:.3g} ({base.nearest_1d})",
        measured_large=f"λ = {best.momentum:g}: x = {best.final_1d:.3g} ({best.nearest_1d})",
        verdict=yes(not base.reached_deep_min_1d and bool(deep)),
        evidence=f"{f.rolling_1d} {f.manifold_2d}",
    )


def _batch_row(r: CriticalResult, f: Findings) -> dict | None:
    by_b = escape_by_batch(r)
    if not by_b:
        return None
    small, full = min(r.finite_sum.batch_sizes), max(r.finite_sum.batch_sizes)
    return dict(
        aspect="Escaping a critical point: small batch vs full batch",
        small="Escapes (noisy gradient)",
        large="Stays (zero gradient)",
        measured_small=f"B = {small}: {by_b[small]:.0%} escape",
        measured_large=f"B = {full}: {by_b[full]:.0%} escape",
        verdict=yes(full == r.finite_sum.n and by_b[small] > by_b[full]),
        evidence=f.by_batch,
    )


def _momentum_row(r: CriticalResult, f: Findings) -> dict | None:
    by_lam = escape_by_momentum(r)
    if len(by_lam) < 2:
        return None
    lo, hi = min(by_lam), max(by_lam)
    return dict(
        aspect="Escaping a critical point: no momentum vs momentum",
        small="Stays more often",
        large="Escapes more often",
        measured_small=f"λ = {lo:g}: {by_lam[lo]:.0%} escape",
        measured_large=f"λ = {hi:g}: {by_lam[hi]:.0%} escape",
        verdict=yes(by_lam[hi] > by_lam[lo]),
        evidence=f.by_momentum,
    )


def _weighted_sum_row(r: CriticalResult, f: Findings) -> dict:
    diff = largest_weighted_sum_diff(r)
    return dict(
        aspect="mᵗ is the weighted sum of all earlier gradients",
        small="m = −η Σ λ^(t−1−i) gⁱ",
        large="—",
        measured_small=f"largest difference {diff:.1e}",
        measured_large="—",
        verdict=yes(diff <= WEIGHTED_SUM_TOL),
        evidence=f.weighted_sum,
    )


def momentum_rows(result: CriticalResult | dict) -> list[dict]:
    """The lecture's momentum claims, answered from the momentum step's records (or its parsed JSON).

    Here "small" stands for plain gradient descent (λ = 0) or the smallest batch, "large"
    for momentum (λ > 0) or the full batch; each row's aspect names which. The evidence is
    the sentences of `findings`."""
    r = as_result(result)
    f = findings(r)
    rows = (_critical_row(r, f), _batch_row(r, f), _momentum_row(r, f), _weighted_sum_row(r, f))
    return [row for row in rows if row is not None]
