"""The stage table: what dvc.yaml and the Snakefile are generated from or checked against."""
from pathlib import Path

import yaml

from batch_momentum import stages

PACKAGE = Path(stages.__file__).parent


def test_code_deps_are_the_import_closure():
    train = stages.code("train")
    for module in ("train", "stacked", "optim", "models", "data", "config", "cli"):
        assert f"src/batch_momentum/{module}.py" in train, module
    assert "src/batch_momentum/report.py" not in train and "src/batch_momentum/params.schema.yaml" in train
    report = stages.code("report")
    assert "src/batch_momentum/templates/report.html.j2" in report  # the page's template
    assert all((PACKAGE.parents[1] / p).exists() for s in stages.STAGES for p in stages.code(s.name))


def test_no_step_imports_another_step():
    steps = {s.module for s in stages.STAGES}
    for s in stages.STAGES:
        closure = {Path(p).stem for p in stages.code(s.name)}
        assert closure & steps == {s.module}, (s.name, sorted(closure & steps - {s.module}))


def test_no_module_is_over_about_400_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 420, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_tracked_params_follow_the_table(default_params):
    sh = default_params.sharpness
    t = stages.tracked(default_params, "interpolate")
    assert t == {"sharpness.interpolation_points": sh.interpolation_points}
    eq = stages.tracked(default_params, "train_equal")
    assert eq["equal_acc"]["batch_size"] == list(default_params.equal_acc.batch_size) and "train.lr" not in eq
    train = stages.tracked(default_params, "train")
    assert set(train) == {"data", "model", "train", "grid.seed"}
    assert train["grid.seed"] == list(default_params.grid.seed) and train["model"]["hidden"] == [256, 256]  # plain


def test_generated_dvc_yaml_has_every_stage_with_its_params():
    doc = yaml.safe_load(stages.dvc_yaml())["stages"]
    assert list(doc) == [s.name for s in stages.STAGES]
    assert doc["train"]["matrix"] == {"bs": "${grid.batch_size}", "lam": "${grid.momentum}"}
    assert doc["analyze"]["metrics"] == [{"reports/lecture.json": {"cache": False}}]
    assert doc["evaluate"]["params"] == ["sharpness", "noise"]


def test_every_dvc_stage_waits_for_the_check_of_the_whole_params_file():
    doc = yaml.safe_load(stages.dvc_yaml())["stages"]
    assert list(doc)[0] == "check" and doc["check"]["params"] == [{"params.yaml": None}]  # every key
    assert doc["check"]["outs"] == [{stages.CHECKED: {"cache": False}}]
    assert all(stages.CHECKED in s["deps"] for name, s in doc.items() if name != "check")


def test_the_steps_that_only_read_tables_start_without_torch():
    # importing torch costs about a second per process here; these steps never compute with it
    import subprocess
    import sys

    code = ("import sys, batch_momentum.{0}; "
            "sys.exit('{0} imports torch' if 'torch' in sys.modules else 0)")
    for step in ("check", "aggregate", "analyze", "report"):
        done = subprocess.run([sys.executable, "-c", code.format(step)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-c", code.format("train")], capture_output=True, text=True)
    assert "train imports torch" in done.stderr  # the check can fail


def test_jobs_ask_for_a_gpu_only_when_train_device_is_one(tmp_path, monkeypatch):
    import subprocess
    import sys

    import torch

    assert stages.gpus("cuda") == 1 and stages.gpus("cpu") == 0
    # auto: where no GPU driver is loaded, 0 without importing torch (it would cost every
    # snakemake call about a second) ...
    monkeypatch.setattr(stages, "GPU_DRIVERS", (str(tmp_path / "no-driver"),))
    assert stages.gpus("auto") == 0
    code = ("import sys; from batch_momentum import stages; stages.GPU_DRIVERS = ('/nonexistent',); "
            "n = stages.gpus('auto'); sys.exit(f'{n} torch' if 'torch' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # ... and where one is, what torch says
    (tmp_path / "driver").write_text("NVRM version: 0\n")
    monkeypatch.setattr(stages, "GPU_DRIVERS", (str(tmp_path / "driver"),))
    assert stages.gpus("auto") == int(torch.cuda.is_available())
