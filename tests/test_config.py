"""params.yaml validation: every bad value stops with one line naming key, value and what is allowed."""
import copy
import math
import subprocess
import sys

import pytest
import yaml

from batch_momentum import config
from conftest import REPO, tool_env


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
    (("data", "n_train"), KeyError, "'n_train' is a required property"),
    (("train", "lr_rule"), "cubic", "train.lr_rule = 'cubic'"),
    (("grid", "batch_size"), ["8"], "grid.batch_size[0] = '8'"),
    (("momentum", "steps_1d"), 0, "momentum.steps_1d = 0"),
    (("momentum", "finite_n"), 31, "momentum.finite_n = 31 is invalid (31 is not a multiple of 2)"),
    (("momentum", "finite_batch_sizes"), [1, 64], "momentum.finite_batch_sizes"),
    (("momentum", "start_2d"), [1.0], "momentum.start_2d = [1.0]"),
    (("momentum", "lr_1d"), 0, "momentum.lr_1d = 0"),
    (("momentum", "typo"), 1, "unknown key momentum.typo"),
    (("sharpness", "interpolation_small"), 16, "sharpness.interpolation_small = 16 is not in grid.batch_size"),
    (("noise", "subset"), 5000, "noise.subset = 5000 is larger than data.n_train = 4000"),
]


@pytest.mark.parametrize("path,value,expect", CASES, ids=[".".join(c[0]) + "=" + repr(c[1]) for c in CASES])
def test_bad_values_are_named_in_one_line(default_params, path, value, expect):
    with pytest.raises(config.ParamsError) as info:
        config.validate(bad(default_params, path, value))
    msg = str(info.value)
    assert expect in msg
    assert "\n" not in msg
    assert "allowed" in msg or "required" in msg


def test_unknown_top_level_section(default_params):
    with pytest.raises(config.ParamsError, match="unknown key extra"):
        config.validate({**default_params, "extra": {}})


def test_default_params_are_valid_and_fill_defaults():
    p = config.load(REPO / "params.yaml")
    assert p["train"]["device"] in ("auto", "cpu", "cuda")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    del raw["train"]["threads"]
    assert config.validate(raw)["train"]["threads"] == 1


def test_default_grid_meets_the_budget_rules(default_params):
    g, n = default_params["grid"], default_params["data"]["n_train"]
    assert len(g["batch_size"]) >= 5 and min(g["batch_size"]) <= 8 and max(g["batch_size"]) == n
    assert len(g["momentum"]) >= 3 and 0 in g["momentum"] and 0.9 in g["momentum"]
    assert len(g["seed"]) >= 2


def test_cells_runs_and_names(tiny_params):
    p = config.validate(tiny_params)
    assert [c.name for c in config.cells(p)] == ["bs8_lam0", "bs8_lam0.9", "bs200_lam0", "bs200_lam0.9"]
    runs = config.runs(p)
    assert [r.name for r in runs[:3]] == ["bs8_lam0/seed1", "bs8_lam0/seed2", "bs8_lam0.9/seed1"]
    assert len(runs) == 4 * len(p["grid"]["seed"]) and runs[2].cell == config.cells(p)[1]


def test_learning_rate_rules():
    tr = {"lr": 0.1, "base_batch_size": 32}
    assert config.learning_rate({**tr, "lr_rule": "constant"}, 128) == 0.1
    assert math.isclose(config.learning_rate({**tr, "lr_rule": "linear"}, 128), 0.4)
    assert math.isclose(config.learning_rate({**tr, "lr_rule": "sqrt"}, 128), 0.2)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(config.ParamsError, match="params file not found"):
        config.load(tmp_path / "nope.yaml")
    f = tmp_path / "broken.yaml"
    f.write_text("grid: [1, 2\n")
    with pytest.raises(config.ParamsError, match="not valid YAML"):
        config.load(f)


def test_cli_prints_one_line_and_exits_2(tmp_path, default_params):
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(bad(default_params, ("train", "lr"), 0)))
    res = subprocess.run([sys.executable, "-m", "batch_momentum", "prepare", "--params", str(f), "--out",
                          str(tmp_path / "d.pt")], capture_output=True, text=True, env=tool_env())
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "train.lr = 0" in res.stderr
    assert not (tmp_path / "d.pt").exists()


def test_momentum_schema_knows_every_setting_of_the_experiments():
    schema = yaml.safe_load((REPO / "src/batch_momentum/params.schema.yaml").read_text())
    from batch_momentum.critical import DEFAULT_CFG

    assert set(schema["properties"]["momentum"]["properties"]) == set(DEFAULT_CFG)
