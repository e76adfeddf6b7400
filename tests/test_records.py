"""Tests of batch_momentum.critical.records: the momentum step's results as typed records and their file."""

import dataclasses
import json
import math

import pytest
import yaml

from batch_momentum import config
from batch_momentum.critical import experiments as cr
from batch_momentum.critical import records
from batch_momentum.steps import momentum
from conftest import REPO

SMALL = dict(
    steps_1d=60,
    steps_2d=40,
    noise_seeds_2d=2,
    finite_n=8,
    finite_batch_sizes=[1, 8],
    finite_seeds=3,
    saddle_steps=20,
    minimum_steps=20,
    weighted_sum_steps=5,
)  # a run of about 0.1 s


@pytest.fixture(scope="module")
def small():
    cfg = dataclasses.replace(
        config.load(REPO / "params.yaml").momentum,
        **{k: tuple(v) if isinstance(v, list) else v for k, v in SMALL.items()},
    )
    return cr.run_momentum_step(cfg, [0.0, 0.9])


def test_round_trip_gives_the_same_records(small, tmp_path):
    path = records.write(tmp_path / "critical.json", small)
    back = records.read(path)
    assert back == small
    assert isinstance(back.config, config.Momentum) and back.config.finite_batch_sizes == (1, 8)
    assert records.as_result(json.loads(path.read_text())) == small  # a parsed dict converts too
    assert records.as_result(small) is small


def test_no_key_of_the_file_is_made_at_run_time(small, tmp_path):
    # every object's keys are the fields of a record: the same whatever the grid's λ and batch sizes
    def keys(obj):
        if isinstance(obj, dict):
            return set(obj) | set().union(*map(keys, obj.values()))
        if isinstance(obj, list):
            return set().union(*map(keys, obj)) if obj else set()
        return set()

    types = [v for v in vars(records).values() if dataclasses.is_dataclass(v)]
    fields = {f.name for t in types for f in dataclasses.fields(t)}
    assert config.Momentum in types and records.CriticalPoint in types
    data = json.loads(records.write(tmp_path / "c.json", small).read_text())
    assert keys(data) <= fields
    assert {"case", "momentum", "batch_size", "escape_fraction"} <= set(data["finite_sum"]["cells"][0])


@pytest.mark.parametrize(
    "where, edit, says",
    [
        (
            "a missing field",
            lambda d: d["finite_sum"]["cells"][0].pop("escape_fraction"),
            "finite_sum.cells[0] (FiniteCell) lacks the field 'escape_fraction'",
        ),
        (
            "an unknown field",
            lambda d: d["summary"][1].update(momentum_bs1=0.5),
            "summary[1] (LambdaSummary) has an unknown field 'momentum_bs1'",
        ),
        (
            "a wrong type",
            lambda d: d["surface_1d"]["runs"][0].update(escaped="yes"),
            "surface_1d.runs[0].escaped is 'yes', not bool",
        ),
        ("a float for an int", lambda d: d["finite_sum"].update(n=8.0), "finite_sum.n is 8.0, not int"),
        ("a list cut short", lambda d: d["config"].update(start_2d=[0.0]), "config.start_2d has 1 values, not 2"),
        (
            "the old layout",
            lambda d: d.update(weighted_sum_check={"steps": 30, "max_abs_diff": {"0.0": 0.0}}),
            "weighted_sum_check is an object, not a list",
        ),  # a dict keyed by λ before the records
    ],
)
def test_a_wrong_file_is_refused_in_one_line(small, tmp_path, where, edit, says):
    data = json.loads(records.write(tmp_path / "c.json", small).read_text())
    edit(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError) as info:
        records.read(bad)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{bad}: ") and says in msg and "rerun the momentum step" in msg


def test_null_is_nan_for_a_number_and_none_for_what_may_not_exist(small):
    data = json.loads(json.dumps(dataclasses.asdict(small)))
    data["surface_1d"]["runs"][0]["final_grad_norm"] = None  # an overflow, written as null
    data["summary"][0]["escape_step_2d"] = None  # never escaped
    back = records.from_json(data)
    assert math.isnan(back.surface_1d.runs[0].final_grad_norm) and back.summary[0].escape_step_2d is None
    data["summary"][0]["final_1d"] = "x"
    with pytest.raises(ValueError, match=r"^momentum step results: summary\[0\].final_1d is 'x', not float"):
        records.from_json(data)


def test_the_steps_file_reads_back(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["momentum"].update(SMALL)
    params["grid"]["momentum"] = [0, 0.5]
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(params))
    out = tmp_path / "results" / "critical.json"
    assert momentum.main(["--params", str(f), "--out", str(out)]) == 0
    r = records.read(out)
    assert r.lambdas == (0.0, 0.5) and r.config == config.load(f).momentum
    assert [s.momentum for s in r.summary] == [run.momentum for run in r.surface_1d.runs] == [0.0, 0.5]
    assert [(c.case, c.momentum, c.batch_size) for c in r.finite_sum.cells][:3] == [
        ("saddle", 0.0, 1),
        ("saddle", 0.0, 8),
        ("minimum", 0.0, 1),
    ]
    assert len(r.surface_1d.runs[0].trajectory) == SMALL["steps_1d"] + 1
    assert r == dataclasses.replace(cr.run_momentum_step(config.load(f).momentum, [0, 0.5]), seconds=r.seconds)


def test_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found; rerun the momentum step"):
        records.read(tmp_path / "none.json")
