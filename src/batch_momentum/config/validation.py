"""params.yaml: loading, the one validation, and the typed config it returns.

params.yaml spells out every setting; the schema (params.schema.yaml) requires every key
of every section, and `validate` adds what a schema cannot say (no NaN or infinity; the
rules between keys). What it returns is a frozen `Params` of one dataclass per section
(config.sections). The Snakefile and every CLI step call `validate`, so a bad value stops
the run with the same one-line message whichever tool started it.
"""

from __future__ import annotations

import copy
import typing
from importlib import resources
from pathlib import Path

import yaml

from batch_momentum.config import messages as msg
from batch_momentum.config.sections import FILES, OFFICIAL, SECTIONS, Params

SCHEMA_FILE = "params.schema.yaml"


def _typed(hint, v):
    """A validated YAML value as its field's declared type: lists as tuples, and a whole
    number written 30.0 (JSON schema's "integer" admits it) as an int where an int is declared."""
    if isinstance(v, list):
        item = int if hint in (tuple[int, ...], tuple[int, int]) else None
        return tuple(_typed(item, x) for x in v)
    return int(v) if hint in (int, int | None) and isinstance(v, float) else v


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
        out[key] = (
            overlay(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else copy.deepcopy(value)
        )
    return out


# ----------------------------------------------------------------------------- validation
class ParamsError(ValueError):
    """A bad value in params: the message is one line naming key, value and what is allowed."""


def schema() -> dict:
    text = resources.files("batch_momentum.config").joinpath(SCHEMA_FILE).read_text()
    return yaml.safe_load(text)


# MNIST-1D is generated, so any size is possible: at about 0.6 ms per example, this many
# (train + validation + test) take about 2 minutes and 32 MB; beyond it is refused.
MNIST1D_MAX_EXAMPLES = 200_000
LADDER_TOLERANCE = 0.01  # a start step may be this far (relative) from its ladder value: 0.0707 for 0.05·√2


def _cross_field(p: dict, source: str) -> None:
    """The rules between keys, which the schema cannot state; one line each."""
    n_train, grid_b, sh = p["data"]["n_train"], p["grid"]["batch_size"], p["sharpness"]
    total = n_train + p["data"]["n_val"] + p["data"]["n_test"]
    if p["data"]["dataset"] == "mnist1d" and total > MNIST1D_MAX_EXAMPLES:
        raise ParamsError(
            f"{source}: data.n_train + n_val + n_test = {total} is more than MNIST-1D's stated maximum of "
            f"{MNIST1D_MAX_EXAMPLES} examples (about 2 minutes to generate); allowed: a total up to "
            f"{MNIST1D_MAX_EXAMPLES}"
        )
    if p["data"]["dataset"] in OFFICIAL:
        name, (n_official, n_test) = p["data"]["dataset"], OFFICIAL[p["data"]["dataset"]]
        asked = n_train + p["data"]["n_val"]
        if asked > n_official or p["data"]["n_test"] > n_test:
            raise ParamsError(
                f"{source}: data.n_train + n_val = {asked} and data.n_test = {p['data']['n_test']}, but "
                f"{name} has {n_official} training and {n_test} test examples; allowed: n_train + n_val "
                f"<= {n_official} (both drawn from the training set) and n_test <= {n_test}"
            )
    for key, values in (("grid.batch_size", grid_b), ("timing.batch_sizes", p["timing"]["batch_sizes"])):
        for i, b in enumerate(values):
            if b > n_train:
                raise ParamsError(
                    f"{source}: {key}[{i}] = {b} is larger than data.n_train = {n_train}; "
                    f"allowed: 1 <= B <= {n_train} (the full batch is B = {n_train})"
                )
    fin = p["momentum"]
    for i, b in enumerate(fin["finite_batch_sizes"]):
        if b > fin["finite_n"]:
            raise ParamsError(
                f"{source}: momentum.finite_batch_sizes[{i}] = {b} is larger than momentum.finite_n = "
                f"{fin['finite_n']}; allowed: 1 <= B <= {fin['finite_n']} (the full batch is B = finite_n)"
            )
    small, large = p["equal_acc"]["batch_size"]
    if not small < large <= n_train:
        raise ParamsError(
            f"{source}: equal_acc.batch_size = {[small, large]} is invalid; allowed: [small, large] "
            f"with small < large <= data.n_train = {n_train}"
        )
    factor = p["equal_acc"]["extend_factor"]
    for key in ("step_small", "step_large"):
        steps = p["equal_acc"][key]
        for i, step in enumerate(steps):
            expected = steps[0] * factor**i
            if abs(step / expected - 1) > LADDER_TOLERANCE:
                raise ParamsError(
                    f"{source}: equal_acc.{key}[{i}] = {step:g} is a start outside the steps of the ladder "
                    f"(expected {expected:.4g} = {steps[0]:g} x {factor:g}^{i}); allowed: steps increasing by "
                    f"equal_acc.extend_factor = {factor:g}, each within 1% of its ladder value"
                )
    for key, value in (("sharpness.subset", sh["subset"]), ("noise.subset", p["noise"]["subset"])):
        if value > n_train:
            raise ParamsError(
                f"{source}: {key} = {value} is larger than data.n_train = {n_train}; allowed: 2 <= N <= {n_train}"
            )
    for dataset, md5s in p["download"]["md5"].items():
        if dataset in FILES and sorted(md5s or {}) != sorted(FILES[dataset]):
            raise ParamsError(
                f"{source}: download.md5.{dataset} lists {sorted(md5s or {})}; allowed: exactly the "
                f"files {list(FILES[dataset])}, each with its md5"
            )


def validate(params: dict, source: str = "params") -> Params:
    """Check a whole params dict (params.yaml, or an override laid over it with `overlay`)
    against the schema and the rules between keys; return it as a frozen Params.

    Raises ParamsError with a one-line message on the first problem found.
    """
    import jsonschema

    if not isinstance(params, dict):
        raise ParamsError(
            f"{source}: expected a mapping of sections ({', '.join(SECTIONS)}), got {type(params).__name__}"
        )
    root = schema()
    bad = msg.non_finite(params)
    if bad is not None:  # JSON schema's "number" admits YAML's .nan and .inf
        path, value = bad
        described = msg.subschema(root, path).get("description") or msg.subschema(root, path[:-1]).get("description")
        raise ParamsError(
            f"{source}: {msg.key_path(path)} = {value!r} is not a finite number"
            + (f"; allowed: {described}" if described else "")
        )
    validator = jsonschema.Draft202012Validator(root)
    errors = sorted(
        validator.iter_errors(params), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
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
