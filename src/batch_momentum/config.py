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
    "momentum": {},
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
    from .critical import DEFAULT_CFG as MOMENTUM_DEFAULTS

    unknown = sorted(set(out["momentum"]) - set(MOMENTUM_DEFAULTS))
    if unknown:
        raise ParamsError(f"{source}: unknown key momentum.{unknown[0]}; allowed keys here: "
                          f"{', '.join(sorted(MOMENTUM_DEFAULTS))} (fix the spelling or remove it)")
    out["momentum"] = {**MOMENTUM_DEFAULTS, **out["momentum"]}
    fin = out["momentum"]
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
    batch_size: int
    momentum: float
    seed: int

    @property
    def name(self) -> str:
        return f"bs{fmt_value(self.batch_size)}_lam{fmt_value(self.momentum)}_seed{fmt_value(self.seed)}"


def cells(params: dict) -> list[Cell]:
    """Every (batch size, momentum, seed) cell of the grid, in grid order."""
    g = params["grid"]
    return [Cell(b, m, s) for b in g["batch_size"] for m in g["momentum"] for s in g["seed"]]


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


def interpolation_pairs(params: dict) -> list[str]:
    """Names of the small-vs-large interpolation files, one per (lambda, seed) of the grid."""
    return [f"lam{fmt_value(lam)}_seed{fmt_value(s)}" for lam in params["grid"]["momentum"] for s in params["grid"]["seed"]]
