"""params.yaml: loading, the one validation, the typed config, and the cell grid.

params.yaml spells out every setting; the schema (params.schema.yaml) requires every key
of every section, and `validate` adds what a schema cannot say (no NaN or infinity; the
rules between keys). What it returns is a frozen `Params` of one dataclass per section:
the steps read `params.train.lr`, never a default of their own and never a second check.
The Snakefile and every CLI step call `validate`, so a bad value stops the run with the
same one-line message whichever tool started it.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from . import params_messages as msg

SCHEMA_FILE = "params.schema.yaml"


@dataclass(frozen=True)
class Data:
    """data: the dataset and its three disjoint splits (sizes in examples)."""
    dataset: str   # mnist1d (generated offline) | mnist | fashion_mnist | cifar10 (fetched by download)
    n_train: int   # examples trained on: the full batch
    n_val: int     # held out; the training curves report it
    n_test: int    # held out; reported once per run after training
    seed: int      # seed of the generator and of the split


REAL = ("mnist", "fashion_mnist", "cifar10")  # fetched by the download step; sources in params' download section
_IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz")
FILES = {"mnist": _IDX, "fashion_mnist": _IDX, "cifar10": ("cifar-10-python.tar.gz",)}  # download.md5 lists these
# examples in the official training and test sets: train and validation are drawn from the first, test from the second
OFFICIAL = {"mnist": (60_000, 10_000), "fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000)}


@dataclass(frozen=True)
class Download:
    """download: where the real datasets' files come from (per dataset), and their checksums."""
    url: dict[str, str]                # base URL (mirror) ending in /: a file is fetched from url + name
    local_dir: dict[str, str | None]   # a folder holding the files (copied, not fetched); None: fetch
    md5: dict[str, dict[str, str]]     # file name -> md5 of every file of the dataset (mnist1d: none)


@dataclass(frozen=True)
class Model:
    """model: the architecture of every cell."""
    name: str                 # linear | mlp | cnn
    hidden: tuple[int, ...]   # widths of the hidden layers (mlp), or channels (cnn)
    head: tuple[int, ...]     # widths of the dense layers after the convolutions (cnn only)


@dataclass(frozen=True)
class Train:
    """train: the optimizer and the budget of every cell."""
    lr: float                        # eta at base_batch_size (parameter units per gradient unit)
    lr_rule: str                     # constant | linear (eta*B/B0) | sqrt (eta*sqrt(B/B0))
    base_batch_size: int             # B0 of the linear and sqrt rules (examples)
    max_epochs: int                  # epoch budget, the same for every cell
    target_train_acc: float | None   # stop a seed once its training accuracy reaches this; None: never
    device: str                      # auto | cpu | cuda
    threads: int                     # torch CPU threads per job
    cuda_graph: str                  # auto (replay a captured CUDA graph of the update on CUDA) | never


@dataclass(frozen=True)
class Grid:
    """grid: one training job per (batch size, momentum) cell, its seeds trained together."""
    batch_size: tuple[int, ...]   # B (examples per update); B = data.n_train is full-batch GD
    momentum: tuple[float, ...]   # lambda of m_t = lambda*m_{t-1} - eta*g_{t-1}, as written (0 stays 0)
    seed: tuple[int, ...]         # model init and shuffling


@dataclass(frozen=True)
class EqualAcc:
    """equal_acc: Keskar et al.'s protocol. Per lambda of the grid, a small and a large batch each
    trained until its training accuracy reaches the target; eta per batch size chosen from a short
    list by validation accuracy among the candidates whose every seed reached the target."""
    batch_size: tuple[int, int]     # (small, large)
    target_train_acc: float         # a run trains until its training accuracy reaches this ...
    max_epochs: int                 # ... within this many epochs ...
    patience: int                   # ... or stops as "stalled" once this many epochs add < 0.005 to it
    step_small: tuple[float, ...]   # candidate steps eta/(1-lambda) of the small batch: eta = step*(1-lambda)
    step_large: tuple[float, ...]   # and of the large batch

    def lrs(self, batch_size: int, momentum: float) -> list[float]:
        """The candidate eta of a batch size at a momentum (rounded to 12 significant digits)."""
        steps = self.step_small if batch_size == self.batch_size[0] else self.step_large
        return [float(f"{s * (1 - momentum):.12g}") for s in steps]


@dataclass(frozen=True)
class Sharpness:
    """sharpness: the measures at every run's final weights, on the first `subset` training examples."""
    subset: int                    # examples of the training loss f of every measure
    epsilons: tuple[float, ...]    # box sizes of Keskar's epsilon-sharpness (relative)
    lbfgs_iters: int               # L-BFGS-B iterations for the box maximum
    subspace_dim: int              # p, columns of the random subspace A
    hessian_tol: float             # relative change of the eigenvalue (and trace) that stops
    hessian_max_iter: int          # Hessian-vector products of the power iteration at most
    trace_samples: int             # Rademacher vectors of Hutchinson's trace at most
    direction_points: int          # points of the 1-D curve along a filter-normalized direction
    direction_span: float          # the curve runs over t in [-span, span] (units of the direction)
    interpolation_points: int      # points of theta(alpha), alpha in [-1, 2]


@dataclass(frozen=True)
class Noise:
    """noise: gradient noise at the start of training and at the final weights."""
    subset: int           # examples whose per-example gradients are taken
    cosine_batches: int   # random batches sampled for the cosine with the full gradient


@dataclass(frozen=True)
class Timing:
    """timing: time per update and per epoch against batch size (one exclusive job; times in seconds)."""
    batch_sizes: tuple[int, ...]   # B timed, each 1..data.n_train
    warmup: int                    # untimed updates first
    repeats: int                   # timed updates per batch size
    epoch_budget_s: float          # measure a real epoch only where it should take less than this (s)
    sequential_cap: int            # one-by-one passes timed at most; beyond, scaled to B
    threads: int | None            # torch CPU threads; None: torch's default (all cores)


@dataclass(frozen=True)
class Momentum:
    """momentum: the critical-point experiments on surfaces with known answers (x, y dimensionless;
    learning rates in x per unit gradient; steps are updates)."""
    start_1d: float                    # x0 on the 1-D surface
    lr_1d: float                       # eta of the 1-D runs
    steps_1d: int                      # updates of the 1-D runs
    start_2d: tuple[float, float]      # (x0, y0) on the 2-D surface
    lr_2d: float                       # eta of the 2-D runs
    steps_2d: int                      # updates of the 2-D runs
    noise_2d: float                    # std of the Gaussian gradient noise of the noisy 2-D runs
    noise_seeds_2d: int                # noisy runs per lambda, seeds 0..n-1
    escape_radius: float               # off the 2-D saddle once |x| >= this
    finite_n: int                      # N examples of the finite sums (even)
    finite_batch_sizes: tuple[int, ...]  # minibatch sizes B, each 1..finite_n
    finite_seeds: int                  # runs per (case, lambda, B)
    finite_offset_seed: int            # seed of the offsets a_n
    saddle_lr: float                   # eta of the 'saddle' case
    saddle_steps: int                  # updates per run of the 'saddle' case
    saddle_offset_scale: float         # |c a_n| at most (gradient units), 'saddle' case
    minimum_lr: float                  # eta of the 'minimum' case
    minimum_steps: int                 # updates per run of the 'minimum' case
    minimum_offset_scale: float        # |c a_n| at most (gradient units), 'minimum' case
    weighted_sum_steps: int            # length of the random gradient sequence of the weighted-sum check
    weighted_sum_seed: int             # its seed


@dataclass(frozen=True)
class Report:
    """report: the page's title, and the training and validation accuracies of time to accuracy."""
    title: str
    train_acc_levels: tuple[float, ...]
    val_acc_levels: tuple[float, ...]


@dataclass(frozen=True)
class Params:
    """Every setting of the pipeline, validated: one frozen dataclass per section of params.yaml."""
    data: Data
    download: Download
    model: Model
    train: Train
    grid: Grid
    equal_acc: EqualAcc
    sharpness: Sharpness
    noise: Noise
    timing: Timing
    momentum: Momentum
    report: Report

    def as_dict(self) -> dict:
        """The plain dict params.yaml holds (lists, not tuples): for YAML, torch.save, dotted keys."""
        return _thaw(dataclasses.asdict(self))


SECTIONS: dict[str, type] = typing.get_type_hints(Params)  # section name -> its dataclass


def _typed(hint, v):
    """A validated YAML value as its field's declared type: lists as tuples, and a whole
    number written 30.0 (JSON schema's "integer" admits it) as an int where an int is declared."""
    if isinstance(v, list):
        item = int if hint in (tuple[int, ...], tuple[int, int]) else None
        return tuple(_typed(item, x) for x in v)
    return int(v) if hint in (int, int | None) and isinstance(v, float) else v


def _thaw(v):
    if isinstance(v, dict):
        return {k: _thaw(x) for k, x in v.items()}
    return [_thaw(x) for x in v] if isinstance(v, (list, tuple)) else v


def _build(params: dict) -> Params:
    sections = {}
    for name, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        sections[name] = cls(**{k: _typed(hints[k], v) for k, v in params[name].items()})
    return Params(**sections)


def overlay(base: dict, override: dict) -> dict:
    """`override` laid over `base` key by key (a copy): what snakemake --configfile base override does."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = overlay(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


# ----------------------------------------------------------------------------- validation
class ParamsError(ValueError):
    """A bad value in params: the message is one line naming key, value and what is allowed."""


def schema() -> dict:
    text = resources.files("batch_momentum").joinpath(SCHEMA_FILE).read_text()
    return yaml.safe_load(text)


# MNIST-1D is generated, so any size is possible: at about 0.6 ms per example, this many
# (train + validation + test) take about 2 minutes and 32 MB; beyond it is refused.
MNIST1D_MAX_EXAMPLES = 200_000


def _cross_field(p: dict, source: str) -> None:
    """The rules between keys, which the schema cannot state; one line each."""
    n_train, grid_b, sh = p["data"]["n_train"], p["grid"]["batch_size"], p["sharpness"]
    total = n_train + p["data"]["n_val"] + p["data"]["n_test"]
    if p["data"]["dataset"] == "mnist1d" and total > MNIST1D_MAX_EXAMPLES:
        raise ParamsError(f"{source}: data.n_train + n_val + n_test = {total} is more than MNIST-1D's stated maximum of "
                          f"{MNIST1D_MAX_EXAMPLES} examples (about 2 minutes to generate); allowed: a total up to "
                          f"{MNIST1D_MAX_EXAMPLES}")
    if p["data"]["dataset"] in OFFICIAL:
        name, (n_official, n_test) = p["data"]["dataset"], OFFICIAL[p["data"]["dataset"]]
        asked = n_train + p["data"]["n_val"]
        if asked > n_official or p["data"]["n_test"] > n_test:
            raise ParamsError(f"{source}: data.n_train + n_val = {asked} and data.n_test = {p['data']['n_test']}, but "
                              f"{name} has {n_official} training and {n_test} test examples; allowed: n_train + n_val "
                              f"<= {n_official} (both drawn from the training set) and n_test <= {n_test}")
    for key, values in (("grid.batch_size", grid_b), ("timing.batch_sizes", p["timing"]["batch_sizes"])):
        for i, b in enumerate(values):
            if b > n_train:
                raise ParamsError(
                    f"{source}: {key}[{i}] = {b} is larger than data.n_train = {n_train}; "
                    f"allowed: 1 <= B <= {n_train} (the full batch is B = {n_train})")
    fin = p["momentum"]
    for i, b in enumerate(fin["finite_batch_sizes"]):
        if b > fin["finite_n"]:
            raise ParamsError(f"{source}: momentum.finite_batch_sizes[{i}] = {b} is larger than momentum.finite_n = "
                              f"{fin['finite_n']}; allowed: 1 <= B <= {fin['finite_n']} (the full batch is B = finite_n)")
    small, large = p["equal_acc"]["batch_size"]
    if not small < large <= n_train:
        raise ParamsError(f"{source}: equal_acc.batch_size = {[small, large]} is invalid; allowed: [small, large] "
                          f"with small < large <= data.n_train = {n_train}")
    for key, value in (("sharpness.subset", sh["subset"]), ("noise.subset", p["noise"]["subset"])):
        if value > n_train:
            raise ParamsError(f"{source}: {key} = {value} is larger than data.n_train = {n_train}; "
                              f"allowed: 2 <= N <= {n_train}")
    for dataset, md5s in p["download"]["md5"].items():
        if dataset in FILES and sorted(md5s or {}) != sorted(FILES[dataset]):
            raise ParamsError(f"{source}: download.md5.{dataset} lists {sorted(md5s or {})}; allowed: exactly the "
                              f"files {list(FILES[dataset])}, each with its md5")


def validate(params: dict, source: str = "params") -> Params:
    """Check a whole params dict (params.yaml, or an override laid over it with `overlay`)
    against the schema and the rules between keys; return it as a frozen Params.

    Raises ParamsError with a one-line message on the first problem found.
    """
    import jsonschema

    if not isinstance(params, dict):
        raise ParamsError(f"{source}: expected a mapping of sections ({', '.join(SECTIONS)}), "
                          f"got {type(params).__name__}")
    root = schema()
    bad = msg.non_finite(params)
    if bad is not None:  # JSON schema's "number" admits YAML's .nan and .inf
        path, value = bad
        described = msg.subschema(root, path).get("description") or msg.subschema(root, path[:-1]).get("description")
        raise ParamsError(f"{source}: {msg.key_path(path)} = {value!r} is not a finite number"
                          + (f"; allowed: {described}" if described else ""))
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(validator.iter_errors(params), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ParamsError(msg.one_line(errors[0], root, source))
    _cross_field(params, source)
    return _build(params)


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; a missing or unparsable file is a ParamsError too."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: params file not found; run from the repository root or pass --params FILE")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{at}; fix the syntax") from None
    return validate(params, source=str(path))


# Names render a grid value as DVC renders `${item.x}` in a path: str() of the YAML value (0 stays 0).
@dataclass(frozen=True)
class Cell:
    """One (batch size, momentum) cell of the grid: one train job, its seeds trained together."""
    batch_size: int
    momentum: float

    @property
    def name(self) -> str:
        return f"bs{self.batch_size}_lam{self.momentum}"


@dataclass(frozen=True)
class Run:
    """One seed of a cell: the unit of every result file and of every table row."""
    batch_size: int
    momentum: float
    seed: int

    @property
    def cell(self) -> Cell:
        return Cell(self.batch_size, self.momentum)

    @property
    def name(self) -> str:
        """The run's folder under results/cells/, e.g. bs64_lam0.9/seed1."""
        return f"{self.cell.name}/seed{self.seed}"


def cells(params: Params) -> list[Cell]:
    """Every (batch size, momentum) cell of the grid, in grid order."""
    return [Cell(b, m) for b in params.grid.batch_size for m in params.grid.momentum]


def runs(params: Params) -> list[Run]:
    """Every (batch size, momentum, seed) run of the grid, in grid order."""
    return [Run(c.batch_size, c.momentum, s) for c in cells(params) for s in params.grid.seed]


def equal_cells(params: Params) -> list[Cell]:
    """The equal-accuracy protocol's cells: equal_acc's small and large batch at every momentum of the grid."""
    return [Cell(b, m) for b in params.equal_acc.batch_size for m in params.grid.momentum]


def equal_runs(params: Params) -> list[Run]:  # every seed of equal_cells
    return [Run(c.batch_size, c.momentum, s) for c in equal_cells(params) for s in params.grid.seed]


def check_cell(params: Params, batch_size: int, momentum: float, protocol: str = "equal_epochs") -> None:
    """A cell on a step's command line is the grid's (equal_epochs) or equal_acc's at a grid λ (equal_acc)."""
    g = params.grid
    sizes, where = (g.batch_size, "grid.batch_size") if protocol == "equal_epochs" else \
        (params.equal_acc.batch_size, "equal_acc.batch_size")
    if batch_size not in sizes or momentum not in [float(m) for m in g.momentum]:
        raise ParamsError(f"cell B={batch_size}, lambda={momentum} is not in the grid of params "
                          f"({where} {list(sizes)}, grid.momentum {list(g.momentum)}); "
                          f"name a cell of the grid or add it to params.yaml")


LR_RULES = {"constant": lambda ratio: 1.0, "linear": lambda ratio: ratio, "sqrt": math.sqrt}  # factor of B/B0


def learning_rate(train: Train, batch_size: int) -> float:
    """eta for a batch size under the lr rule: constant, linear (eta*B/B0) or sqrt (eta*sqrt(B/B0))."""
    return float(train.lr) * LR_RULES[train.lr_rule](batch_size / train.base_batch_size)


def noise_temperature(lr, n_train, batch_size, momentum):
    """SGD noise temperature g = eta*N / (B*(1-lambda)) (Smith & Le 2018), for numbers or numpy arrays."""
    return lr * n_train / (batch_size * (1.0 - momentum))


def interpolation_pairs(params: Params) -> list[str]:
    """Names of the small-vs-large interpolation files, lam<λ>/seed<s>: one job per λ, a file per seed."""
    return [f"lam{lam}/seed{s}" for lam in params.grid.momentum for s in params.grid.seed]
