"""Every table the pipeline writes, its columns named once: the writers and the readers use these.

A column is a module constant (TEST_ACC = "test_acc"); a table is a Schema, its columns in
the order the file holds them. The run tables (cells.csv, equal.csv) hold one row per run:
the run's key, its training summary (train.json), its accuracy per split and its measures,
whose ε-sharpness columns depend on params (sharpness_column). The readers ask for the
columns they use (Schema.read checks the file whole and names what is missing, in one line).

    from batch_momentum.io import tables as T
    cells = T.CELLS.read(path)
    cells[T.TEST_ACC]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batch_momentum.io import files

# ----------------------------------------------------------------------------- a run's key
CELL = "cell"  # bs<B>_lam<λ>/seed<s>: the run's name (config.Run.name)
BATCH_SIZE = "batch_size"  # B, examples per update
MOMENTUM = "momentum"  # λ of m = λm − ηg
SEED = "seed"
RUN_KEY = (CELL, BATCH_SIZE, MOMENTUM, SEED)

# ----------------------------------------------------------------------------- a run's training summary
LR = "lr"  # η
LR_RULE = "lr_rule"
STATUS = "status"  # io.status.Status values
REASON = "reason"  # why the run stopped, in words
EPOCHS = "epochs"
UPDATES = "updates"
UPDATES_PER_EPOCH = "updates_per_epoch"
TRAIN_WALL_S = "train_wall_s"  # training time of the stacked network (s)
EPOCH_WALL_S = "epoch_wall_s"
STACKED_MODELS = "stacked_models"  # the models of the stack the run trained in
PROCESSES = "processes"  # how many processes, each a stack of its own, trained the cell's models at once
UPDATE_PATH = "update_path"  # eager | cuda graph
REACHED_TARGET = "reached_target"
EPOCHS_TO_TARGET = "epochs_to_target"
DEVICE = "device"  # cpu | cuda[:i]
DEVICE_NAME = "device_name"  # CPU or GPU model
THREADS = "threads"
TORCH_VERSION = "torch_version"
PACKAGE_VERSION = "package_version"
GIT_COMMIT = "git_commit"
GIT_DIRTY = "git_dirty"
PYTHON = "python"
N_PARAMS = "n_params"
PROTOCOL = "protocol"  # EQUAL_EPOCHS | EQUAL_ACC
EQUAL_EPOCHS, EQUAL_ACC = "equal_epochs", "equal_acc"  # the grid under one epoch budget; Keskar's protocol
CHOSEN_LR = "chosen_lr"  # equal_acc only
LR_CANDIDATES = "lr_candidates"  # equal_acc only
PROVENANCE = (PACKAGE_VERSION, GIT_COMMIT, GIT_DIRTY, PYTHON)  # io.provenance.code_version()
WHERE = (DEVICE, DEVICE_NAME, THREADS, TORCH_VERSION, *PROVENANCE)  # training.loop.run_metadata()
SUMMARY = (
    LR,
    LR_RULE,
    STATUS,
    REASON,
    EPOCHS,
    UPDATES,
    UPDATES_PER_EPOCH,
    TRAIN_WALL_S,
    EPOCH_WALL_S,
    STACKED_MODELS,
    PROCESSES,
    UPDATE_PATH,
    REACHED_TARGET,
    EPOCHS_TO_TARGET,
    *WHERE,
    N_PARAMS,
    PROTOCOL,
)

# ----------------------------------------------------------------------------- accuracy per split
SPLITS = ("train", "val", "test")
TRAIN_LOSS, TRAIN_ACC = "train_loss", "train_acc"
VAL_LOSS, VAL_ACC = "val_loss", "val_acc"
TEST_LOSS, TEST_ACC = "test_loss", "test_acc"
SPLIT_METRICS = (TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TEST_LOSS, TEST_ACC)


def loss_column(split: str) -> str:
    return f"{split}_loss"


def acc_column(split: str) -> str:
    return f"{split}_acc"


# ----------------------------------------------------------------------------- measures at the final weights
HESSIAN_TOP = "hessian_top"  # top Hessian eigenvalue
HESSIAN_TOP_ITERS = "hessian_top_iters"
HESSIAN_TOP_CONVERGED = "hessian_top_converged"
HESSIAN_TRACE = "hessian_trace"
HESSIAN_TRACE_SE = "hessian_trace_se"
HESSIAN_TRACE_SAMPLES = "hessian_trace_samples"
HESSIAN_TRACE_CONVERGED = "hessian_trace_converged"
SHARPNESS_WALL_S = "sharpness_wall_s"
SHARPNESS_SUBSET = "sharpness_subset"
HESSIAN = (
    HESSIAN_TOP,
    HESSIAN_TOP_ITERS,
    HESSIAN_TOP_CONVERGED,
    HESSIAN_TRACE,
    HESSIAN_TRACE_SE,
    HESSIAN_TRACE_SAMPLES,
    HESSIAN_TRACE_CONVERGED,
)


def sharpness_column(eps: float, subspace_dim: int | None) -> str:
    """One ε-sharpness measure, e.g. sharpness_full_eps0.001 or sharpness_random100_eps0.001."""
    return f"sharpness_{'full' if subspace_dim is None else f'random{subspace_dim}'}_eps{eps:g}"


def sharpness_columns(epsilons, subspace_dim: int) -> tuple[str, ...]:
    """The ε-sharpness columns of params' sharpness section: full space and subspace, per ε."""
    return tuple(sharpness_column(e, d) for e in epsilons for d in (None, subspace_dim))


# gradient noise, at the initial weights (tag INIT) and at the final ones (tag FINAL)
INIT, FINAL = "init", "final"
NOISE_WALL_S = "noise_wall_s"
NOISE_SUBSET = "noise_subset"


@dataclass(frozen=True)
class NoiseColumns:
    """The gradient-noise columns of one set of weights (measures.evaluation.noise_measures)."""

    tag: str

    @property
    def b_simple(self) -> str:  # B_simple = tr(Σ)/|G|²
        return f"b_simple_{self.tag}"

    @property
    def b_simple_unbiased(self) -> str:
        return f"b_simple_unbiased_{self.tag}"

    @property
    def nsr(self) -> str:  # noise-to-signal ratio B_simple/B
        return f"nsr_{self.tag}"

    @property
    def cosine(self) -> str:  # sampled cosine of a batch gradient with the full gradient
        return f"cosine_{self.tag}"

    @property
    def cosine_std(self) -> str:
        return f"cosine_std_{self.tag}"

    @property
    def cosine_expected(self) -> str:  # the cosine expected from B_simple
        return f"cosine_expected_{self.tag}"

    @property
    def all(self) -> tuple[str, ...]:
        return (self.b_simple, self.b_simple_unbiased, self.nsr, self.cosine, self.cosine_std, self.cosine_expected)


NOISE_INIT, NOISE_FINAL = NoiseColumns(INIT), NoiseColumns(FINAL)
TEMPERATURE = "temperature"  # g = ηN/(B(1−λ)), added by aggregate
STABILITY_THRESHOLD = "stability_threshold"  # 2(1+λ)/η, the edge of stability of the run's η, added by aggregate
EDGE_RATIO = "edge_ratio"  # top Hessian eigenvalue / stability threshold (1 = at the edge), added by aggregate

# ----------------------------------------------------------------------------- curves and 1-D curves
EPOCH = "epoch"
WALL_S = "wall_s"
CURVE_ROW = (EPOCH, UPDATES, WALL_S, TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC)  # one row per epoch of a run
T, LOSS, ACC = "t", "loss", "acc"  # a 1-D curve along a filter-normalized direction
DIRECTION_ROW = (T, LOSS, ACC)

# ----------------------------------------------------------------------------- equal-accuracy candidates
MEASURE = "measure"  # time to accuracy: the curve column (train_acc or val_acc); rescaling: the measure's label
CHOSEN = "chosen"
CHOICE_REASON = "choice_reason"
SWEEP_ROUND = "sweep_round"  # 0: a step of the start (equal_acc.step_small/large); k: added by the k-th extension
CANDIDATE_ROW = (
    BATCH_SIZE,
    MOMENTUM,
    LR,
    SEED,
    SWEEP_ROUND,
    STATUS,
    REACHED_TARGET,
    EPOCHS,
    UPDATES,
    TRAIN_ACC,
    VAL_ACC,
    TRAIN_WALL_S,
)  # one per (η, seed) of a cell: equal/<cell>/candidates.csv
ADAPTIVE_SHARPNESS = "adaptive_sharpness"  # max over |δᵢ| ≤ ρ|wᵢ| of L(w + δ) − L(w), ρ = sharpness.adaptive_rho

# ----------------------------------------------------------------------------- the bracket of each side's best η
# one row per side (λ, B) of the protocol (train_equal decides it, choice.json holds it, aggregate collects it)
BEST_LR = (
    "best_lr"  # among the η that train, the one with the best mean validation accuracy over its seeds at the target
)
BRACKET = "bracket"  # one of BRACKETS_VOCABULARY
INTERIOR = "interior"  # a trained step on each side of the best, each with a lower mean validation accuracy
BOUNDED_BY_FAILURE = "bounded by failure"  # a side closed by the next step, which trains in too few seeds
NOT_BRACKETED = "not bracketed"  # a side still open when the sweep reached its cap
NO_ETA_TRAINS = "no η trains"  # no step trained in enough seeds: there is no best η to bracket
BRACKETS_VOCABULARY = (INTERIOR, BOUNDED_BY_FAILURE, NOT_BRACKETED, NO_ETA_TRAINS)
LOWER_LR, UPPER_LR = "lower_lr", "upper_lr"  # the trained neighbours of the best η (NaN: none)
LOWER_BOUND, UPPER_BOUND = "lower_bound", "upper_bound"  # how each side is closed: BOUND_*
BOUND_TRAINED, BOUND_FAILED, BOUND_OPEN = "trained", "failed", "open"
STEPS_TRAINED = "steps_trained"  # the steps this side trained, start and extensions
STEPS_ADDED = "steps_added"  # of which added by the extension rule
BRACKET_ROW = (
    BATCH_SIZE,
    MOMENTUM,
    BEST_LR,
    BRACKET,
    LOWER_LR,
    LOWER_BOUND,
    UPPER_LR,
    UPPER_BOUND,
    STEPS_TRAINED,
    STEPS_ADDED,
)

# ----------------------------------------------------------------------------- the rescaling check (Dinh et al. 2017)
# one trained run, each layer l's weights and biases × α and layer l+1's weights × 1/α: the same function
ALPHA_SCALE = "alpha_scale"
BEFORE, AFTER, RATIO = (
    "before",
    "after",
    "ratio",
)  # the measure at the trained weights, after the rescaling, after/before
RESCALING_ROW = (CELL, ALPHA_SCALE, MEASURE, BEFORE, AFTER, RATIO)

# ----------------------------------------------------------------------------- time to accuracy
LEVEL = "level"

# ----------------------------------------------------------------------------- timing (one row per batch size)
N_TRAIN = "n_train"
PARALLEL_MEDIAN_S, PARALLEL_MIN_S, PARALLEL_MAX_S = "parallel_median_s", "parallel_min_s", "parallel_max_s"
SEQUENTIAL_MEDIAN_S, SEQUENTIAL_MIN_S, SEQUENTIAL_MAX_S = (
    "sequential_median_s",
    "sequential_min_s",
    "sequential_max_s",
)
SEQUENTIAL_EXTRAPOLATED = "sequential_extrapolated"  # True when only sequential_cap of the B passes were timed
EPOCH_MEASURED_S = "epoch_measured_s"  # one real epoch; NaN when the estimate exceeds epoch_budget_s
EPOCH_ESTIMATED_S = "epoch_estimated_s"  # updates_per_epoch × parallel_median_s
REPEATS = "repeats"


@dataclass(frozen=True)
class Schema:
    """A table: its columns in file order, and how to remake it when it is missing or damaged."""

    name: str
    columns: tuple[str, ...]
    remedy: str

    def read(self, path: str | Path, columns=None):
        """The file as a DataFrame, checked whole; `columns` (default: all of the schema's) must be there,
        and the file must agree with the manifest written beside it (row count, sha256: files.read_csv)."""
        return files.read_csv(path, self.remedy, columns=self.columns if columns is None else columns)

    def frame(self, rows):
        """Rows (dicts) as a DataFrame with exactly this schema's columns, in order."""
        import pandas as pd

        return pd.DataFrame(list(rows), columns=list(self.columns))

    def write(self, path: str | Path, frame) -> Path:
        """Write `frame` with the schema's columns first, in order, then any others it holds (the run
        tables' measure columns); a frame that lacks one of the schema's columns is refused. The file is
        written atomically, then its manifest (files.write_csv), which the readers check it against."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: the {self.name} table lacks columns {', '.join(missing)}")
        order = list(self.columns) + [c for c in frame.columns if c not in self.columns]
        return files.write_csv(path, frame[order])


AGGREGATE = "rerun the aggregate step"
# reports/tables/<name>.csv
CELLS = Schema("cells", (*RUN_KEY, *SUMMARY, *SPLIT_METRICS, TEMPERATURE, STABILITY_THRESHOLD), AGGREGATE)
EQUAL = Schema(
    "equal",
    (*RUN_KEY, *SUMMARY, CHOSEN_LR, LR_CANDIDATES, *SPLIT_METRICS, TEMPERATURE, STABILITY_THRESHOLD),
    AGGREGATE,
)
CURVES = Schema("curves", (*RUN_KEY, *CURVE_ROW), AGGREGATE)
EQUAL_CURVES = Schema("equal_curves", CURVES.columns, AGGREGATE)
DIRECTIONS = Schema("directions", (*RUN_KEY, *DIRECTION_ROW), AGGREGATE)
EQUAL_DIRECTIONS = Schema("equal_directions", DIRECTIONS.columns, AGGREGATE)
# candidates: then the primary sharpness measure's column (verdict.sharpness_primary), where it is not one of these
CANDIDATES = Schema(
    "candidates", (*CANDIDATE_ROW, TEST_ACC, HESSIAN_TOP, ADAPTIVE_SHARPNESS, CELL, CHOSEN, CHOICE_REASON), AGGREGATE
)
BRACKETS = Schema("brackets", (*BRACKET_ROW, CELL), AGGREGATE)
RESCALING = Schema("rescaling", RESCALING_ROW, AGGREGATE)
TIME_TO_ACCURACY = Schema("time_to_accuracy", (*RUN_KEY, MEASURE, LEVEL, EPOCHS, UPDATES, WALL_S), AGGREGATE)
REPORT_TABLES = (
    CELLS,
    CURVES,
    DIRECTIONS,
    EQUAL,
    EQUAL_CURVES,
    EQUAL_DIRECTIONS,
    CANDIDATES,
    BRACKETS,
    RESCALING,
    TIME_TO_ACCURACY,
)

# the files of one run and of one equal-accuracy cell
CURVE = Schema("curve", CURVE_ROW, "rerun train for this cell")
CELL_CANDIDATES = Schema("cell candidates", CANDIDATE_ROW, "rerun train_equal for this cell")
# the eta view of one equal-accuracy cell (evaluate --eta-out): every candidate's test accuracy, top eigenvalue and
# adaptive sharpness (then the primary sharpness measure's column where it is not one of these); NaN where a
# candidate did not reach the target
ETA_MEASURES = Schema(
    "eta measures", (LR, SEED, TEST_ACC, HESSIAN_TOP, ADAPTIVE_SHARPNESS), "rerun evaluate_equal for this cell"
)
# the rescaling check of one equal-accuracy cell (evaluate --rescaling-out): one row per measure
CELL_RESCALING = Schema("cell rescaling", RESCALING_ROW, "rerun evaluate_equal for this cell")

# results/timing/timing.csv: one row per batch size; times in seconds, median/min/max over `repeats` updates
TIMING = Schema(
    "timing",
    (
        DEVICE,
        DEVICE_NAME,
        THREADS,
        TORCH_VERSION,
        N_TRAIN,
        BATCH_SIZE,
        UPDATES_PER_EPOCH,
        PARALLEL_MEDIAN_S,
        PARALLEL_MIN_S,
        PARALLEL_MAX_S,  # the whole batch in one call
        SEQUENTIAL_MEDIAN_S,
        SEQUENTIAL_MIN_S,
        SEQUENTIAL_MAX_S,  # the examples one after another
        SEQUENTIAL_EXTRAPOLATED,
        EPOCH_MEASURED_S,
        EPOCH_ESTIMATED_S,
        REPEATS,
    ),
    "rerun the timing step (python -m batch_momentum timing ...)",
)


def write_timing(rows: list[dict], path) -> Path:
    """Timing rows as CSV with exactly TIMING's columns, in that order (atomic replace)."""
    missing = sorted({c for r in rows for c in TIMING.columns if c not in r})
    if missing:
        raise ValueError(
            f"{path}: timing rows lack columns {', '.join(missing)}; make them with measures.timing.run_timing()"
        )
    return TIMING.write(path, TIMING.frame(rows))


def read_timing(path):
    """A timing CSV, sorted by batch size, with sequential_extrapolated as booleans.

    A missing file is a FileNotFoundError, an unreadable one or one lacking TIMING's columns a
    ValueError; both one line naming the file (and the missing columns) and saying to rerun
    the timing step.
    """
    df = TIMING.read(path)
    if df.empty:
        raise ValueError(f"{path}: timing CSV has no rows; {TIMING.remedy}")
    df[SEQUENTIAL_EXTRAPOLATED] = df[SEQUENTIAL_EXTRAPOLATED].astype(str).str.lower().eq("true")
    return df.sort_values(BATCH_SIZE).reset_index(drop=True)


# ----------------------------------------------------------------------------- interpolation
# results/interpolation/lam<λ>/seed<s>.json, one pair of equal-accuracy runs (measures.interpolation): the pair's
# names, statuses and batch sizes, MOMENTUM, SEED, and along ALPHA the lists loss_column(s), acc_column(s) of the
# train and test splits; or ALPHA empty and SKIPPED saying why
SMALL, LARGE = "small", "large"  # the runs' names, <cell>/seed<s>: small batch at α = 0, large batch at α = 1
SMALL_STATUS, LARGE_STATUS = "small_status", "large_status"
BATCH_SMALL, BATCH_LARGE = "batch_small", "batch_large"
ALPHA = "alpha"  # θ(α) = α·θ_large + (1−α)·θ_small
SKIPPED = "skipped"

# ----------------------------------------------------------------------------- bench (one row per batch size)
# training.bench: the epoch time of each loop (s; stacked and graph per model), their ratios, and the lower bound
STACKED_S, ALONE_S, EXAMPLES_S, GRAPH_S = "stacked_s", "alone_s", "examples_s", "graph_s"  # graph: NaN off CUDA
EXAMPLES_SCALED = "examples_scaled"  # True: examples_s timed on the first updates of each epoch, scaled
EXAMPLES_OVER_STACKED, EXAMPLES_OVER_ALONE, STACKED_OVER_GRAPH = (
    "examples_over_stacked",
    "examples_over_alone",
    "stacked_over_graph",
)
BOUND_S = "bound_s"  # 6 * MACs * N / peak: no loop can be faster
STACKED_OVER_BOUND, ALONE_OVER_BOUND, EXAMPLES_OVER_BOUND, GRAPH_OVER_BOUND = (
    "stacked_over_bound",
    "alone_over_bound",
    "examples_over_bound",
    "graph_over_bound",
)
MACS_PER_EXAMPLE, PEAK_GFLOPS = "macs_per_example", "peak_gflops"
BENCH = Schema(
    "bench",
    (
        BATCH_SIZE,
        UPDATES_PER_EPOCH,
        STACKED_S,
        ALONE_S,
        EXAMPLES_S,
        GRAPH_S,
        EXAMPLES_SCALED,
        EXAMPLES_OVER_STACKED,
        EXAMPLES_OVER_ALONE,
        STACKED_OVER_GRAPH,
        BOUND_S,
        STACKED_OVER_BOUND,
        ALONE_OVER_BOUND,
        EXAMPLES_OVER_BOUND,
        GRAPH_OVER_BOUND,
        STACKED_MODELS,
        EPOCHS,
        N_TRAIN,
        MACS_PER_EXAMPLE,
        PEAK_GFLOPS,
        LR,
        MOMENTUM,
        DEVICE,
        DEVICE_NAME,
        THREADS,
        TORCH_VERSION,
    ),
    "rerun the bench (python -m batch_momentum bench ...)",
)
