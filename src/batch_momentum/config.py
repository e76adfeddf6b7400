"""params.yaml: loading, validation against the one schema, defaults, and the cell grid.

The Snakefile and every CLI step call `validate` on the same dict, so a bad value stops
the run with the same one-line message whichever tool started it.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

SCHEMA_FILE = "params.schema.yaml"

# Optional keys and their values when params.yaml leaves them out.
DEFAULTS = {
    "model": {"hidden": [256, 256]},
    "train": {
        "lr_rule": "constant",
        "base_batch_size": 32,
        "target_train_acc": None,
        "device": "auto",
        "threads": 1,
    },
    "report": {"title": "Batch and Momentum, measured"},
    "sharpness": {
        "subset": None, "epsilons": [1e-3, 5e-4], "lbfgs_iters": 10, "subspace_dim": 100,
        "hessian_tol": 1e-3, "hessian_max_iter": 100, "trace_samples": 50, "direction_points": 41,
        "direction_span": 1.0, "interpolation_points": 31, "interpolation_small": None, "interpolation_large": None,
    },
    "noise": {"subset": None, "cosine_batches": 64},
    "timing": {"batch_sizes": None, "warmup": 2, "repeats": 5, "epoch_budget_s": 2.0, "sequential_cap": 64,
               "threads": None},
    # the critical-point experiments (batch_momentum.critical), flat keys, scalars or lists
    "momentum": {
        # 1-D surface f'(x) = x^2 (x-1)(x-1.5)(x-3); x is dimensionless
        "start_1d": -1.0,            # x0, left of the flat saddle at 0
        "lr_1d": 0.01,               # eta (x per unit gradient)
        "steps_1d": 800,             # updates
        # 2-D surface f = (x^2-1)^2/4 + y^2/2
        "start_2d": [1.0e-6, 1.0],   # (x0, y0): a tiny offset off the saddle's stable manifold x = 0
        "lr_2d": 0.05,               # eta
        "steps_2d": 400,             # updates
        "noise_2d": 0.01,            # std of the Gaussian gradient noise of the noisy runs (started on x = 0)
        "noise_seeds_2d": 5,         # noisy runs per lambda, seeds 0..n-1
        "escape_radius": 0.5,        # off the 2-D saddle once |x| >= this (half way to a minimum)
        # finite sums L = (1/N) sum_n [f(theta) + c a_n . theta], started at a critical point of L
        "finite_n": 32,              # N examples (even: the a_n come in +- pairs)
        "finite_batch_sizes": [1, 2, 4, 8, 16, 32],  # minibatch sizes B (B = N is full batch)
        "finite_seeds": 40,          # runs per (case, lambda, B); seed s fixes run s's batch order
        "finite_offset_seed": 0,     # seed of the a_n (the same data for every run)
        "saddle_lr": 0.05,           # eta of the 'saddle' case
        "saddle_steps": 100,         # updates per run (short on purpose: off a saddle any push grows in time)
        "saddle_offset_scale": 1.0,  # |c a_n| <= this (gradient units)
        "minimum_lr": 0.1,           # eta of the 'minimum' case
        "minimum_steps": 500,        # updates per run
        "minimum_offset_scale": 2.0,  # |c a_n| <= this (gradient units)
        # weighted-sum check
        "weighted_sum_steps": 30,    # length of the random gradient sequence (3-dimensional)
        "weighted_sum_seed": 0,
    },
}


class ParamsError(ValueError):
    """A bad value in params: the message is one line naming key, value and what is allowed."""


def schema() -> dict:
    text = resources.files("batch_momentum").joinpath(SCHEMA_FILE).read_text()
    return yaml.safe_load(text)


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _subschema(root: dict, path) -> dict:
    node = root
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def _one_line(err, root: dict, source: str) -> str:
    where = _key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        key = ".".join([where] if err.absolute_path else []) 
        names = ", ".join(f"{key + '.' if key else ''}{e}" for e in extra)
        return (f"{source}: unknown key {names}; allowed keys here: {', '.join(allowed)} "
                f"(fix the spelling or remove it)")
    if err.validator == "required":
        return f"{source}: {err.message} under {where}; add it (see params.yaml for an example)"
    described = _subschema(root, err.absolute_path).get("description")
    if not described and err.absolute_path:
        described = _subschema(root, list(err.absolute_path)[:-1]).get("description")
    allowed = f"; allowed: {described}" if described else ""
    return f"{source}: {where} = {err.instance!r} is invalid ({err.message}){allowed}"


def validate(params: dict, source: str = "params") -> dict:
    """Check `params` against the schema and the cross-field rules; return it with defaults.

    Raises ParamsError with a one-line message on the first problem found.
    """
    import jsonschema

    if not isinstance(params, dict):
        raise ParamsError(f"{source}: expected a mapping of sections (data, model, train, grid), "
                          f"got {type(params).__name__}")
    root = schema()
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(validator.iter_errors(params), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ParamsError(_one_line(errors[0], root, source))
    out = copy.deepcopy(params)
    for section, values in DEFAULTS.items():
        out.setdefault(section, {})
        for key, value in values.items():
            out[section].setdefault(key, copy.deepcopy(value))
    n_train = out["data"]["n_train"]
    grid_b = out["grid"]["batch_size"]
    sh, tm = out["sharpness"], out["timing"]
    if sh["interpolation_small"] is None:
        sh["interpolation_small"] = min(grid_b)
    if sh["interpolation_large"] is None:
        sh["interpolation_large"] = max(grid_b)
    for section in (sh, out["noise"]):
        if section["subset"] is None:  # default: up to 1000 training examples
            section["subset"] = min(1000, n_train)
    if tm["batch_sizes"] is None:
        tm["batch_sizes"] = sorted({1, *grid_b})
    for key, values in (("grid.batch_size", grid_b), ("timing.batch_sizes", tm["batch_sizes"])):
        for i, b in enumerate(values):
            if b > n_train:
                raise ParamsError(
                    f"{source}: {key}[{i}] = {b} is larger than data.n_train = {n_train}; "
                    f"allowed: 1 <= B <= {n_train} (the full batch is B = {n_train})")
    fin = out["momentum"]  # unknown keys were refused by the schema; defaults filled above
    for i, b in enumerate(fin["finite_batch_sizes"]):
        if b > fin["finite_n"]:
            raise ParamsError(f"{source}: momentum.finite_batch_sizes[{i}] = {b} is larger than momentum.finite_n = "
                              f"{fin['finite_n']}; allowed: 1 <= B <= {fin['finite_n']} (the full batch is B = finite_n)")
    for key in ("interpolation_small", "interpolation_large"):
        if sh[key] not in grid_b:
            raise ParamsError(f"{source}: sharpness.{key} = {sh[key]} is not in grid.batch_size {grid_b}; "
                              f"allowed: one of the grid's batch sizes")
    for key, value in (("sharpness.subset", sh["subset"]), ("noise.subset", out["noise"]["subset"])):
        if value > n_train:
            raise ParamsError(f"{source}: {key} = {value} is larger than data.n_train = {n_train}; "
                              f"allowed: 2 <= N <= {n_train}")
    return out


def load(path: str | Path = "params.yaml") -> dict:
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


def fmt_value(v) -> str:
    """Render a grid value the way DVC renders `${item.x}` in a path: str() of the YAML value."""
    return str(v)


@dataclass(frozen=True)
class Cell:
    """One (batch size, momentum) cell of the grid: one train job, its seeds trained together."""
    batch_size: int
    momentum: float

    @property
    def name(self) -> str:
        return f"bs{fmt_value(self.batch_size)}_lam{fmt_value(self.momentum)}"


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
        return f"{self.cell.name}/seed{fmt_value(self.seed)}"


def cells(params: dict) -> list[Cell]:
    """Every (batch size, momentum) cell of the grid, in grid order."""
    g = params["grid"]
    return [Cell(b, m) for b in g["batch_size"] for m in g["momentum"]]


def runs(params: dict) -> list[Run]:
    """Every (batch size, momentum, seed) run of the grid, in grid order."""
    return [Run(c.batch_size, c.momentum, s) for c in cells(params) for s in params["grid"]["seed"]]


def check_cell(params: dict, batch_size: int, momentum: float) -> None:
    """A cell named on a step's command line must be one of the grid's."""
    g = params["grid"]
    if batch_size not in g["batch_size"] or momentum not in [float(m) for m in g["momentum"]]:
        raise ParamsError(f"cell B={batch_size}, lambda={momentum} is not in the grid of params "
                          f"(grid.batch_size {g['batch_size']}, grid.momentum {g['momentum']}); "
                          f"name a cell of the grid or add it to params.yaml")


def learning_rate(train: dict, batch_size: int) -> float:
    """eta for a batch size under the lr rule: constant, linear (eta*B/B0) or sqrt (eta*sqrt(B/B0))."""
    ratio = batch_size / train["base_batch_size"]
    rule = train["lr_rule"]
    if rule == "constant":
        return float(train["lr"])
    if rule == "linear":
        return float(train["lr"]) * ratio
    if rule == "sqrt":
        return float(train["lr"]) * math.sqrt(ratio)
    raise ParamsError(f"train.lr_rule = {rule!r} is invalid; allowed: constant, linear, sqrt")


def noise_temperature(lr, n_train, batch_size, momentum):
    """SGD noise temperature g = eta*N / (B*(1-lambda)) (Smith & Le 2018; Smith et al. 2018).
    Plain arithmetic: works on numbers and on numpy arrays alike."""
    return lr * n_train / (batch_size * (1.0 - momentum))


def interpolation_pairs(params: dict) -> list[str]:
    """Names of the small-vs-large interpolation files, lam<λ>/seed<s>: one job per λ, a file per seed."""
    return [f"lam{fmt_value(lam)}/seed{fmt_value(s)}" for lam in params["grid"]["momentum"] for s in params["grid"]["seed"]]
