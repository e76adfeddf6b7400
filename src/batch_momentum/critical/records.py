"""The momentum step's results as typed records, and their JSON file.

critical.experiments.run_momentum_step returns a `CriticalResult`; `write` stores it as strict
JSON (dataclasses.asdict: each record an object with its fields, each tuple a list, NaN as null)
and `read` (or `from_json`, for a dict already parsed) gets it back, checking every field against
its declared type: a file that lacks a field, has one the records do not know or a value of the
wrong type is a one-line error naming it. No field name is made at run time: what varies with the
grid (λ, batch size, case, seed) is a field of a row, never a key.

Units: x, y and f are dimensionless; learning rates η in x per unit gradient; steps are updates;
escape fractions are shares of seeds in [0, 1]. A field `X | None` is None where the value does
not exist (never escaped, no noisy runs, a statistic of too few cells); a `float` that overflowed
is NaN (null in the file).

The file, top down (CriticalResult):
    config              params' momentum section (config.Momentum)
    lambdas             [λ] of the grid, in its order
    summary             [LambdaSummary], one per λ: the 1-D and 2-D outcomes
    surface_1d          Surface1D: critical points, barrier, runs [Run] (one per λ)
    surface_2d          Surface2D: critical points, escape radius, runs [SaddleRuns] (one per λ)
    finite_sum          FiniteSum: settings, cases [FiniteCase], cells [FiniteCell] (one per case, λ, B),
                        collapse [Collapse] (one per case)
    weighted_sum_check  [WeightedSumCheck], one per λ
    seconds             wall time of the whole step
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from batch_momentum.config import Momentum
from batch_momentum.critical.surfaces import CriticalPoint
from batch_momentum.io import files

REMEDY = "rerun the momentum step (python -m batch_momentum momentum --params params.yaml --out <this file>)"


# ----------------------------------------------------------------------------- runs on the surfaces
@dataclass(frozen=True)
class Nearest:
    """The critical point nearest to a run's end, and the Euclidean distance to it."""

    critical: CriticalPoint
    distance: float


@dataclass(frozen=True)
class Run:
    """One gradient-descent run with the lecture's momentum λ (critical.experiments.run_gd).

    trajectory (steps + 1, d): θ⁰..θ^steps; final_grad_norm: the noise-free |∇f| at the end;
    nearest: the surface's critical point nearest to the end (None when none was given);
    escaped: the end passed the run's escape test; first_escape_step: the first t with θᵗ past
    it (None: never). A run can cross and roll back: first_escape_step set, escaped False.
    """

    momentum: float
    trajectory: tuple[tuple[float, ...], ...]
    final_grad_norm: float
    nearest: Nearest | None
    escaped: bool
    first_escape_step: int | None

    @property
    def final(self) -> tuple[float, ...]:
        """θ at the end, (d,)."""
        return self.trajectory[-1]


@dataclass(frozen=True)
class Surface1D:
    """The 1-D surface's runs: one per λ from config.start_1d; escaped = ended past the hill (x > barrier).
    start_on_saddle_max_move: largest |x| of GD and of the largest λ started at rest on the flat
    saddle (exactly 0: momentum needs speed)."""

    critical_points: tuple[CriticalPoint, ...]
    barrier: float
    start_on_saddle_max_move: float
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class SaddleRuns:
    """One λ's runs on the 2-D saddle: from config.start_2d (offset); from (0, y0) on the stable
    manifold, without noise (on_manifold) and with gradient noise (noisy[s] has seed s); the
    linearisation's growth factor r per step and its steps to leave (None: start_2d on the manifold)."""

    momentum: float
    offset: Run
    on_manifold: Run
    noisy: tuple[Run, ...]
    growth_rate: float
    predicted_escape_step: float | None


@dataclass(frozen=True)
class Surface2D:
    """The 2-D saddle's runs, one SaddleRuns per λ; escaped = |x| >= escape_radius."""

    critical_points: tuple[CriticalPoint, ...]
    escape_radius: float
    runs: tuple[SaddleRuns, ...]


@dataclass(frozen=True)
class LambdaSummary:
    """One λ's outcomes on the surfaces, read off its runs in surface_1d and surface_2d."""

    momentum: float
    final_1d: float  # x at the end of the 1-D run
    nearest_1d: str  # name of the critical point nearest to it
    reached_deep_min_1d: bool  # that point is the global minimum
    first_escape_step_1d: int | None  # first step past the hill; None: never
    escape_step_2d: int | None  # first step with |x| >= escape_radius from start_2d; None: never
    predicted_escape_step_2d: float | None  # the linearisation's steps; None: start_2d on the manifold
    on_manifold_max_abs_x: float  # largest |x| started on x = 0 without noise (0 by symmetry)
    noisy_escaped_2d: float | None  # share of the noisy runs that left; None: no noisy runs
    noisy_median_escape_step_2d: float | None  # their median first escape step; None: none left


# ----------------------------------------------------------------------------- finite sums
@dataclass(frozen=True)
class FiniteCase:
    """A finite-sum case: its η, steps per run, offset scale c·8 (gradient units), its start θ*
    (d,) and the full-batch gradient there (d,), exactly 0."""

    case: str
    lr: float
    steps: int
    offset_scale: float
    start: tuple[float, ...]
    full_batch_grad_at_start: tuple[float, ...]


@dataclass(frozen=True)
class FiniteCell:
    """The seeds' runs of one (case, λ, batch size B): noise temperature ηN/(B(1−λ)), the share
    of seeds that escaped, the median step of escape among those (None: none did), and each seed's
    first escape step (None: stayed), seeds 0..S-1."""

    case: str
    momentum: float
    batch_size: int
    temperature: float
    escape_fraction: float
    median_escape_step: float | None
    escape_steps: tuple[int | None, ...]


@dataclass(frozen=True)
class MomentumSpearman:
    """Spearman ρ of the escape fraction with log g among one λ's cells (None: < 3 cells or constant)."""

    momentum: float
    spearman: float | None


@dataclass(frozen=True)
class Collapse:
    """Does a case's escape fraction collapse onto one curve of the temperature g? The fields of
    analysis.stats.collapse_stats (None where it gives NaN), the per-group ρ as rows."""

    case: str
    n: int
    n_dropped: int
    degree: int | None
    spearman: float | None
    spearman_by_momentum: tuple[MomentumSpearman, ...]
    collapse_score: float | None
    group_gain: float | None
    residual_std: float | None
    interpretation: str


@dataclass(frozen=True)
class FiniteSum:
    """Minibatch SGD on finite sums of N losses, started at a critical point of their mean:
    seeds runs per cell, batch sizes in the order of params, offsets a_n from offset_seed."""

    n: int
    batch_sizes: tuple[int, ...]
    seeds: int
    offset_seed: int
    cases: tuple[FiniteCase, ...]
    cells: tuple[FiniteCell, ...]
    collapse: tuple[Collapse, ...]


# ----------------------------------------------------------------------------- the whole result
@dataclass(frozen=True)
class WeightedSumCheck:
    """mᵗ by the recursion against the closed-form weighted sum, for one λ, on `steps` random
    gradients of dimension dim with η = lr: the largest absolute difference over t and entries."""

    momentum: float
    steps: int
    dim: int
    lr: float
    max_abs_diff: float


@dataclass(frozen=True)
class CriticalResult:
    """Everything the momentum step found, with the settings it ran with; the fields in the module docstring."""

    config: Momentum
    lambdas: tuple[float, ...]
    summary: tuple[LambdaSummary, ...]
    surface_1d: Surface1D
    surface_2d: Surface2D
    finite_sum: FiniteSum
    weighted_sum_check: tuple[WeightedSumCheck, ...]
    seconds: float


def cells_frame(cells) -> pd.DataFrame:
    """Finite-sum cells as a tidy pandas frame: one row per cell, one column per FiniteCell field."""
    columns = [f.name for f in dataclasses.fields(FiniteCell)]
    return pd.DataFrame([dataclasses.asdict(c) for c in cells], columns=columns)


def defined(v: float) -> float | None:
    """A number as a record's optional field: None for NaN or an infinity."""
    return float(v) if math.isfinite(v) else None


# ----------------------------------------------------------------------------- the file
def write(path: str | Path, result: CriticalResult) -> Path:
    """The result as one line of strict JSON (about 0.4 MB of trajectories at the defaults)."""
    return files.write_json(path, dataclasses.asdict(result), indent=None)


def read(path: str | Path) -> CriticalResult:
    """The momentum step's file back as records; a missing, damaged or wrong file is a one-line ValueError."""
    return from_json(files.read_json(path, remedy=REMEDY), source=str(path))


def from_json(data, source: str = "momentum step results") -> CriticalResult:
    """A parsed JSON dict as a CriticalResult, each field checked against its type (null: NaN for a float)."""
    try:
        return _decode(CriticalResult, data, "")
    except _Wrong as exc:
        raise ValueError(f"{source}: {exc}; {REMEDY}") from None


def as_result(result: CriticalResult | dict) -> CriticalResult:
    """The records themselves, or a parsed JSON dict converted by from_json."""
    return result if isinstance(result, CriticalResult) else from_json(result)


class _Wrong(ValueError):
    """A field that is missing, unknown or of the wrong type; the message names it."""


def _show(value) -> str:
    """A JSON value in a few words for an error message."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _decode(hint, value, where: str):
    """`value` (parsed JSON) as `hint`: a record, a tuple, X | None, float, int, bool or str."""
    if dataclasses.is_dataclass(hint):
        return _record(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # X | None
        return None if value is None else _decode(next(a for a in args if a is not type(None)), value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise _Wrong(f"{where} is {_show(value)}, not a list")
        hints = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        if len(hints) != len(value):
            raise _Wrong(f"{where} has {len(value)} values, not {len(hints)}")
        return tuple(_decode(h, v, f"{where}[{i}]") for i, (h, v) in enumerate(zip(hints, value)))
    if hint is float and (value is None or type(value) in (int, float)):
        return math.nan if value is None else float(value)
    if type(value) is hint:  # int, bool, str: a bool is no int here
        return value
    raise _Wrong(f"{where} is {_show(value)}, not {getattr(hint, '__name__', hint)}")


def _record(cls, value, where: str):
    names = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(value, dict):
        raise _Wrong(f"{where or 'the top level'} is not an object with the fields of {cls.__name__}")
    missing, unknown = [k for k in names if k not in value], [k for k in value if k not in names]
    if missing or unknown:
        what = f"lacks the field {missing[0]!r}" if missing else f"has an unknown field {unknown[0]!r}"
        raise _Wrong(f"{where or 'the top level'} ({cls.__name__}) {what}")
    hints = typing.get_type_hints(cls)
    return cls(**{k: _decode(hints[k], value[k], f"{where}.{k}" if where else k) for k in names})
