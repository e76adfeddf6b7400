"""params.yaml validation: every bad value stops with one line naming key, value and what is allowed;
what passes is one frozen, typed config."""

import copy
import dataclasses
import math
import subprocess
import sys
import typing

import pytest
import yaml

from batch_momentum import config
from conftest import REPO, load_yaml, tool_env


@pytest.fixture
def raw():
    """params.yaml as the plain dict the YAML holds."""
    return load_yaml(REPO / "params.yaml")


def bad(params, path, value):
    p = copy.deepcopy(params)
    node = p
    for k in path[:-1]:
        node = node[k]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return p


CASES = [
    (("grid", "batch_size"), [0, 8], "grid.batch_size[0] = 0"),
    (("grid", "batch_size"), [8, 4001], "grid.batch_size[1] = 4001 is larger than data.n_train = 4000"),
    (("grid", "momentum"), [-0.1], "grid.momentum[0] = -0.1"),
    (("grid", "momentum"), [0.5, 1.0], "grid.momentum[1] = 1.0"),
    (("train", "lr"), -0.1, "train.lr = -0.1"),
    (("data", "dataset"), "imagenet", "data.dataset = 'imagenet'"),
    (("model", "name"), "resnet", "model.name = 'resnet'"),
    (("grid", "seed"), [], "grid.seed = []"),
    (("grid", "batch_size"), [], "grid.batch_size = []"),
    (("train", "learning_rate"), 0.1, "unknown key train.learning_rate"),
    (("data", "n_train"), KeyError, "missing key data.n_train; add it"),
    (("sharpness", "subset"), KeyError, "missing key sharpness.subset; add it"),
    (("sharpness", "adaptive_rho"), 0, "sharpness.adaptive_rho = 0"),
    (("sharpness", "adaptive_rho"), -0.005, "sharpness.adaptive_rho = -0.005"),
    (("sharpness", "adaptive_rho"), KeyError, "missing key sharpness.adaptive_rho; add it"),
    (("train", "target_train_acc"), KeyError, "missing key train.target_train_acc; add it"),
    (("report",), KeyError, "missing key report; add it"),
    (("train", "lr"), math.nan, "train.lr = nan is not a finite number"),
    (("momentum", "start_2d"), [0.0, math.inf], "momentum.start_2d[1] = inf is not a finite number"),
    (("grid", "momentum"), [0.0, -math.inf], "grid.momentum[1] = -inf is not a finite number"),
    (("train", "lr_rule"), "cubic", "train.lr_rule = 'cubic'"),
    (("grid", "batch_size"), ["8"], "grid.batch_size[0] = '8'"),
    (("momentum", "steps_1d"), 0, "momentum.steps_1d = 0"),
    (("momentum", "finite_n"), 31, "momentum.finite_n = 31 is invalid (31 is not a multiple of 2)"),
    (("momentum", "finite_batch_sizes"), [1, 64], "momentum.finite_batch_sizes"),
    (("momentum", "start_2d"), [1.0], "momentum.start_2d = [1.0]"),
    (("momentum", "lr_1d"), 0, "momentum.lr_1d = 0"),
    (("momentum", "typo"), 1, "unknown key momentum.typo"),
    (("equal_acc", "batch_size"), [512, 8], "equal_acc.batch_size = [512, 8] is invalid; allowed: [small, large]"),
    (("equal_acc", "batch_size"), [8, 8000], "with small < large <= data.n_train = 4000"),
    (("equal_acc", "batch_size"), [8], "equal_acc.batch_size = [8] is invalid"),
    (("equal_acc", "step_large"), [], "equal_acc.step_large = [] is invalid"),
    (("equal_acc", "step_large"), [1.0, 4.0], "equal_acc.step_large[1] = 4 is a start outside the steps of the ladder"),
    (("equal_acc", "step_small"), [0.2, 0.1], "equal_acc.step_small[1] = 0.1 is a start outside the steps"),
    (("equal_acc", "step_small"), [0.1, 0.1414, 0.21], "(expected 0.2 = 0.1 x 1.41421^2)"),
    (("equal_acc", "extend_cap"), -1, "equal_acc.extend_cap = -1"),
    (("equal_acc", "extend_cap"), 1.5, "equal_acc.extend_cap = 1.5"),
    (("equal_acc", "extend_factor"), 1.0, "equal_acc.extend_factor = 1.0"),
    (("equal_acc", "extend_factor"), 0.5, "equal_acc.extend_factor = 0.5"),
    (("verdict", "sharpness_primary"), "loss", "verdict.sharpness_primary = 'loss'"),
    (("verdict", "margin_tau"), 1.0, "verdict.margin_tau = 1.0 is invalid"),
    (("verdict", "margin_tau"), 0, "verdict.margin_tau = 0 is invalid"),
    (("verdict", "bootstrap"), 50, "verdict.bootstrap = 50 is invalid"),
    (("verdict", "bootstrap"), 500.5, "verdict.bootstrap = 500.5 is invalid"),
    (("equal_acc", "target_train_acc"), 1.5, "equal_acc.target_train_acc = 1.5"),
    (("noise", "subset"), 5000, "noise.subset = 5000 is larger than data.n_train = 4000"),
    (("download", "url", "mnist"), "https://x.org/mnist", "download.url.mnist = 'https://x.org/mnist' is invalid"),
    (("download", "md5", "cifar10", "cifar-10-python.tar.gz"), "xyz", "cifar-10-python.tar.gz = 'xyz' is invalid"),
    (("download", "local_dir", "mnist"), "", "download.local_dir.mnist = '' is invalid"),
    (("download", "md5", "mnist1d"), {"a": "b"}, "download.md5.mnist1d = {'a': 'b'} is invalid"),
    (("download", "md5", "mnist"), KeyError, "missing key download.md5.mnist; add it"),
]


@pytest.mark.parametrize("path,value,expect", CASES, ids=[".".join(c[0]) + "=" + repr(c[1]) for c in CASES])
def test_bad_values_are_named_in_one_line(raw, path, value, expect):
    with pytest.raises(config.ParamsError) as info:
        config.validate(bad(raw, path, value))
    msg = str(info.value)
    assert expect in msg
    assert "\n" not in msg
    assert "allowed" in msg or "add it" in msg


def test_unknown_top_level_section(raw):
    with pytest.raises(config.ParamsError, match="unknown key extra"):
        config.validate({**raw, "extra": {}})


def test_nan_in_a_params_file_is_one_line_naming_the_key(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("  lr: 0.05 ", "  lr: .nan ", 1)
    assert "lr: .nan" in text
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(config.ParamsError) as info:
        config.load(f)
    msg = str(info.value)
    assert "train.lr = nan is not a finite number" in msg and "\n" not in msg and str(f) in msg


def test_schema_requires_every_key_and_params_yaml_has_them(raw):
    """One set of defaults: params.yaml itself. The schema requires every key of every section,
    each section is a dataclass with exactly those fields, and params.yaml spells them all out."""
    schema = config.schema()
    assert schema["required"] == list(schema["properties"]) == list(config.SECTIONS)
    for name, cls in config.SECTIONS.items():
        keys = list(schema["properties"][name]["properties"])
        assert schema["properties"][name]["required"] == keys, name
        assert [f.name for f in dataclasses.fields(cls)] == keys, name
        assert list(raw[name]) == keys, name  # params.yaml in the schema's order
        assert cls.__doc__ and all(h is not typing.Any for h in typing.get_type_hints(cls).values())


def test_validate_returns_a_frozen_typed_config(raw):
    p = config.validate(raw)
    assert isinstance(p, config.Params) and isinstance(p.train, config.Train)
    assert p.train.lr == raw["train"]["lr"] and p.grid.batch_size == tuple(raw["grid"]["batch_size"])
    assert p.as_dict() == raw  # lists again: for YAML, torch.save and dotted keys
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.train.lr = 1.0
    # null keeps its documented meaning where the schema admits it
    assert config.validate(bad(raw, ("train", "target_train_acc"), None)).train.target_train_acc is None
    assert config.validate(bad(raw, ("timing", "threads"), None)).timing.threads is None
    # a whole number written as a float is an int where the field is one; grid values stay as written
    p = config.validate(bad(bad(raw, ("train", "max_epochs"), 30.0), ("grid", "momentum"), [0, 0.9]))
    assert type(p.train.max_epochs) is int and p.grid.momentum == (0, 0.9) and type(p.grid.momentum[0]) is int


def test_overlay_lays_an_override_over_the_base(raw):
    tiny = load_yaml(REPO / "tests" / "tiny.yaml")
    merged = config.overlay(raw, tiny)
    assert merged["grid"] == tiny["grid"] and merged["momentum"] == raw["momentum"]
    assert merged["train"]["lr_rule"] == raw["train"]["lr_rule"] and merged["train"]["max_epochs"] == 3
    assert raw == load_yaml(REPO / "params.yaml")  # the base is not changed
    with pytest.raises(config.ParamsError, match="missing key download, momentum, report, verdict; add it"):
        config.validate(tiny)  # an override alone is partial: lay it over params.yaml first


def test_default_grid_meets_the_budget_rules(default_params):
    g, n = default_params.grid, default_params.data.n_train
    assert len(g.batch_size) >= 5 and min(g.batch_size) <= 8 and max(g.batch_size) == n
    assert len(g.momentum) >= 3 and 0 in g.momentum and 0.9 in g.momentum
    assert len(g.seed) >= 2


def test_cells_runs_and_names(tiny_params):
    p = config.validate(tiny_params)
    assert [c.name for c in config.cells(p)] == ["bs8_lam0", "bs8_lam0.9", "bs200_lam0", "bs200_lam0.9"]
    runs = config.runs(p)
    assert [r.name for r in runs[:3]] == ["bs8_lam0/seed1", "bs8_lam0/seed2", "bs8_lam0.9/seed1"]
    assert len(runs) == 4 * len(p.grid.seed) and runs[2].cell == config.cells(p)[1]


def test_learning_rate_rules(default_params):
    tr = dataclasses.replace(default_params.train, lr=0.1, base_batch_size=32)
    tr = dataclasses.replace(tr, lr_momentum="constant")
    assert config.learning_rate(dataclasses.replace(tr, lr_rule="constant"), 128, 0.9) == 0.1
    assert math.isclose(config.learning_rate(dataclasses.replace(tr, lr_rule="linear"), 128, 0.5), 0.4)
    assert math.isclose(config.learning_rate(dataclasses.replace(tr, lr_rule="sqrt"), 128, 0), 0.2)


def test_learning_rate_per_momentum_keeps_the_step(default_params):
    """lr_momentum step: eta = lr*(1-lambda), so a steady gradient g moves theta by lr*g per update at every
    lambda (the geometric sum eta*g*(1 + lambda + lambda^2 + ...) = eta*g/(1-lambda))."""
    tr = dataclasses.replace(default_params.train, lr=0.05, lr_rule="constant", lr_momentum="step")
    for lam, eta in ((0, 0.05), (0.5, 0.025), (0.9, 0.005)):
        got = config.learning_rate(tr, 8, lam)
        assert math.isclose(got, eta) and math.isclose(got / (1 - lam), 0.05)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(config.ParamsError, match="params file not found"):
        config.load(tmp_path / "nope.yaml")
    f = tmp_path / "broken.yaml"
    f.write_text("grid: [1, 2\n")
    with pytest.raises(config.ParamsError, match="not valid YAML"):
        config.load(f)


def test_cli_prints_one_line_and_exits_2(tmp_path, raw):
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(bad(raw, ("train", "lr"), 0)))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "batch_momentum",
            "prepare",
            "--params",
            str(f),
            "--raw",
            str(tmp_path),
            "--out",
            str(tmp_path / "d.pt"),
        ],
        capture_output=True,
        text=True,
        env=tool_env(),
    )
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "train.lr = 0" in res.stderr
    assert not (tmp_path / "d.pt").exists()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_the_dataset_configs_are_valid_overrides(raw, name):
    """configs/<name>.yaml, laid over params.yaml as `--configfile params.yaml configs/<name>.yaml` does."""
    p = config.validate(config.overlay(raw, load_yaml(REPO / "configs" / f"{name}.yaml")))
    assert p.data.dataset == name and p.download.md5[name] == raw["download"]["md5"][name]
    assert (
        max(p.grid.batch_size) <= p.data.n_train
        and p.model.name == {"mnist": "mlp", "fashion_mnist": "mlp", "cifar10": "cnn"}[name]
    )


@pytest.mark.parametrize("name,n_official", [("mnist", 60000), ("fashion_mnist", 60000), ("cifar10", 50000)])
def test_a_real_dataset_split_larger_than_its_official_set_stops_before_any_job(raw, name, n_official):
    base = config.overlay(raw, load_yaml(REPO / "configs" / f"{name}.yaml"))
    ok = config.overlay(base, {"data": {"n_train": n_official - 100, "n_val": 100, "n_test": 10000}})
    assert config.validate(ok).data.n_train == n_official - 100  # the whole official sets: allowed
    for data, said in (
        ({"n_val": 101}, f"n_train + n_val = {n_official + 1} and data.n_test = 10000"),
        ({"n_test": 10001}, f"n_train + n_val = {n_official} and data.n_test = 10001"),
    ):
        with pytest.raises(config.ParamsError) as info:
            config.validate(config.overlay(ok, {"data": data}))
        assert said in str(info.value) and f"but {name} has {n_official} training and 10000 test examples" in str(
            info.value
        )
        assert "allowed" in str(info.value) and "\n" not in str(info.value)


def test_a_cell_outside_the_grid_is_refused(tiny_params):
    p = config.validate(tiny_params)
    with pytest.raises(config.ParamsError, match="not in the grid"):
        config.check_cell(p, 16, 0.9)
    config.check_cell(p, 8, 0.9)
