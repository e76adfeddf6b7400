"""The stage table: what dvc.yaml and the Snakefile are generated from or checked against."""

import dataclasses
import json
from pathlib import Path

import yaml

from batch_momentum import config, pipeline

PACKAGE = Path(pipeline.__file__).parent


def test_code_deps_are_the_import_closure():
    train = pipeline.code("train")
    for module in (
        "steps/train",
        "training/loop",
        "training/stacked",
        "training/optim",
        "training/models",
        "data/prepared",
        "config/validation",
        "cli",
    ):
        assert f"src/batch_momentum/{module}.py" in train, module
    for package in ("", "steps/", "training/", "config/", "io/"):  # Python runs each __init__ on the way
        assert f"src/batch_momentum/{package}__init__.py" in train, package
    assert "src/batch_momentum/report/page.py" not in train
    assert "src/batch_momentum/config/params.schema.yaml" in train
    report = pipeline.code("report")
    assert "src/batch_momentum/report/templates/report.html.j2" in report  # the page's template
    assert all((PACKAGE.parents[1] / p).exists() for s in pipeline.STAGES for p in pipeline.code(s.name))


def test_the_import_scan_follows_every_form_of_import(tmp_path, monkeypatch):
    # a package laid out like this one, imported in every form the scan must follow: a form it
    # missed would shrink a stage's code dependencies silently, and DVC would not rerun it
    files = {
        "__init__.py": "",
        "steps/__init__.py": "",
        "steps/go.py": "from batch_momentum.lib import a\nimport batch_momentum.lib.b\n"
        "def f():\n    from ..lib import c\n",
        "lib/__init__.py": "from .d import D\n",
        "lib/a.py": "from . import e\n",
        "lib/b.py": "from batch_momentum import other\n",
        "lib/c.py": "from batch_momentum.lib.f import name\n",
        "lib/d.py": "D = 1\n",
        "lib/e.py": "",
        "lib/f.py": "name = 1\n",
        "lib/unused.py": "",
        "other.py": "import json\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(pipeline, "PACKAGE", tmp_path)
    assert pipeline.imports("steps.go") == {"lib", "lib.a", "lib.b", "lib.c"}
    assert pipeline.imports("lib") == {"lib.d"} and pipeline.imports("lib.a") == {"lib", "lib.e"}
    closure = pipeline.import_closure("steps.go")
    assert closure == {"", "steps", "steps.go", "lib", "lib.a", "lib.b", "lib.c", "lib.d", "lib.e", "lib.f", "other"}


def _package_modules() -> list[str]:
    root = pipeline.PACKAGE
    return sorted(
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix("__init__").rstrip(".")
        for p in root.rglob("*.py")
    )


def _layering_violations() -> list[tuple[str, list[str]]]:
    """(module, the steps it imports) for every library module that imports a step, and every
    step that imports another; the entry point (cli, __main__) runs the steps and is exempt."""
    modules = _package_modules()
    steps = {m for m in modules if m.startswith("steps.")}
    out = []
    for module in modules:
        if module in ("cli", "__main__"):
            continue
        found = pipeline.imports(module) & (steps - {module})
        if found:
            out.append((module, sorted(found)))
    return out


def test_the_library_never_imports_a_step_and_no_step_imports_another():
    steps = [m for m in _package_modules() if m.startswith("steps.")]
    assert (
        sorted(
            s.module for s in pipeline.STAGES if not s.name.endswith("_equal") and not s.name.startswith("train_equal")
        )
        == steps
    )
    assert _layering_violations() == []


def test_the_layering_check_can_fail(tmp_path, monkeypatch):
    for name, text in {
        "steps/__init__.py": "",
        "steps/run.py": "",
        "steps/other.py": "from . import run\n",
        "lib/__init__.py": "",
        "lib/helper.py": "from batch_momentum.steps import run\n",
    }.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(pipeline, "PACKAGE", tmp_path)
    assert _layering_violations() == [("lib.helper", ["steps.run"]), ("steps.other", ["steps.run"])]


def test_tracked_params_follow_the_table(default_params):
    sh = default_params.sharpness
    t = pipeline.tracked(default_params, "interpolate")
    assert t == {
        "equal_acc.seed": list(default_params.equal_acc.seed),
        "sharpness.interpolation_points": sh.interpolation_points,
    }
    ea = default_params.equal_acc
    small, large = (pipeline.tracked(default_params, f"train_equal_{side}") for side in ("small", "large"))
    assert large["equal_acc.batch_size"] == list(ea.batch_size) and "train.lr" not in large
    # each side tracks its own steps only, and every other key of equal_acc (a new key is tracked by both)
    assert large["equal_acc.step_large"] == list(ea.step_large) and "equal_acc.step_small" not in large
    assert small["equal_acc.step_small"] == list(ea.step_small) and "equal_acc.step_large" not in small
    fields = {f.name for f in dataclasses.fields(config.EqualAcc)}
    assert {k.removeprefix("equal_acc.") for k in small if k.startswith("equal_acc.")} == fields - {"step_large"}
    train = pipeline.tracked(default_params, "train")
    assert set(train) == {"data", "model", "train", "grid.seed"}
    assert train["grid.seed"] == list(default_params.grid.seed) and train["model"]["hidden"] == [256, 256]  # plain


def test_generated_dvc_yaml_has_every_stage_with_its_params():
    doc = yaml.safe_load(pipeline.dvc_yaml())["stages"]
    assert list(doc) == [s.name for s in pipeline.STAGES]
    assert doc["train"]["matrix"] == {"bs": "${grid.batch_size}", "lam": "${grid.momentum}"}
    # verdicts.json and the plotted tables are cached: reports/ is git-ignored, so an experiment keeps them
    # (for dvc exp show, dvc metrics diff, dvc plots diff) only in DVC's cache
    assert doc["analyze"]["metrics"] == ["reports/lecture.json", "reports/verdicts.json"]
    assert "reports/tables/curves.csv" in doc["aggregate"]["outs"]
    assert "--metrics reports/verdicts.json" in doc["analyze"]["cmd"]
    assert doc["evaluate"]["params"] == ["grid.seed", "sharpness", "noise"]
    # no gradient noise for the protocol; the candidates' primary sharpness measure follows verdict.sharpness_primary
    assert doc["evaluate_equal"]["params"] == ["equal_acc.seed", "sharpness", "verdict.sharpness_primary"]
    assert "--rescaling-out results/equal_rescaling/" in doc["evaluate_equal"]["cmd"]
    assert "reports/tables/rescaling.csv" in doc["aggregate"]["outs"]


def test_every_dvc_stage_waits_for_the_check_of_the_whole_params_file():
    doc = yaml.safe_load(pipeline.dvc_yaml())["stages"]
    assert list(doc)[0] == "check" and doc["check"]["params"] == [{"params.yaml": None}]  # every key
    assert doc["check"]["outs"] == [pipeline.CHECKED]  # cached: a clone's dvc pull brings it too
    assert all(pipeline.CHECKED in s["deps"] for name, s in doc.items() if name != "check")


def test_the_steps_that_only_read_tables_start_without_torch():
    # importing torch costs about a second per process here; these steps never compute with it
    import subprocess
    import sys

    code = "import sys, batch_momentum.steps.{0}; sys.exit('{0} imports torch' if 'torch' in sys.modules else 0)"
    for step in ("check", "aggregate", "analyze", "report"):
        done = subprocess.run([sys.executable, "-c", code.format(step)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-c", code.format("train")], capture_output=True, text=True)
    assert "train imports torch" in done.stderr  # the check can fail


def test_jobs_ask_for_a_gpu_only_when_train_device_is_one(tmp_path, monkeypatch):
    import subprocess
    import sys

    import torch

    assert pipeline.gpus("cuda") == 1 and pipeline.gpus("cpu") == 0
    # auto: where no GPU driver is loaded, 0 without importing torch (it would cost every
    # snakemake call about a second) ...
    monkeypatch.setattr(pipeline, "GPU_DRIVERS", (str(tmp_path / "no-driver"),))
    assert pipeline.gpus("auto") == 0
    code = (
        "import sys; from batch_momentum import pipeline; pipeline.GPU_DRIVERS = ('/nonexistent',); "
        "n = pipeline.gpus('auto'); sys.exit(f'{n} torch' if 'torch' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # ... and where one is, what torch says
    (tmp_path / "driver").write_text("NVRM version: 0\n")
    monkeypatch.setattr(pipeline, "GPU_DRIVERS", (str(tmp_path / "driver"),))
    assert pipeline.gpus("auto") == int(torch.cuda.is_available())


def test_dvc_plots_read_columns_the_tables_have_from_files_a_stage_writes():
    # every plot of dvc.yaml draws columns that io/tables.py names, from a table the aggregate stage
    # declares as an output, with a template file of the repository (a typo would leave a plot empty)
    from batch_momentum.io import tables as T

    doc = yaml.safe_load(pipeline.dvc_yaml())
    plots = {k: v for p in doc["plots"] for k, v in p.items()}
    assert set(plots) == {
        "curves_train_acc",
        "curves_train_loss",
        "accuracy_vs_batch",
        "sharpness_vs_batch",
        "equal_accuracy",
    }
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in doc["stages"]["aggregate"]["outs"]]
    schemas = {f"reports/tables/{s.name}.csv": s for s in T.REPORT_TABLES}
    known = {v for v in vars(T).values() if isinstance(v, str)}  # every column name io/tables.py defines
    for name, plot in plots.items():
        assert (PACKAGE.parents[1] / plot["template"]).is_file(), name
        template = json.loads((PACKAGE.parents[1] / plot["template"]).read_text())
        assert template["data"] == {"values": "<DVC_METRIC_DATA>"}, name
        for path, columns in plot["y"].items():
            assert path in outs and path in schemas, (name, path)
            for col in [plot["x"], *([columns] if isinstance(columns, str) else columns)]:
                assert col in known, (name, col)
    # the per-run curves tell runs apart by columns every curve row has
    assert {T.BATCH_SIZE, T.MOMENTUM, T.SEED} <= set(T.CURVES.columns)


def test_every_figure_of_the_report_step_has_the_category_of_its_lecture_row():
    cat = pipeline.REPORT_CATEGORIES
    expected = {
        "timing": cat.timing,
        "time_per_update": cat.timing,
        "time_to_accuracy": cat.optimization,
        "gradient_noise": cat.noise,
        "accuracy_vs_batch": cat.optimization,
        "curves_by_epoch": cat.optimization,
        "equal_accuracy": cat.generalization,
        "eta_view": cat.generalization,
        "temperature": cat.generalization,
        "interpolation_lam0.9_seed1": cat.sharpness,
        "directions": cat.sharpness,
        "mechanism": cat.sharpness,
        "sharpness_random20_eps0.001_vs_batch": cat.sharpness,
        "hessian_trace_vs_batch": cat.sharpness,
        "momentum_escape": cat.momentum,
        "a_new_figure": cat.other,
    }
    assert {name: pipeline.figure_category(name) for name in expected} == expected
    assert list(cat) == sorted(cat)  # the report lists categories alphabetically: the lecture's order


def test_every_dvc_output_is_cached_so_a_remote_carries_the_whole_run():
    # an output with cache: false would not travel through `dvc push` / `dvc pull`: a clone would rerun its
    # stage (and every stage after it) to get the page (tests/test_dvc_remote.py runs the whole workflow)
    doc = yaml.safe_load(pipeline.dvc_yaml())
    entries = [(n, e) for n, s in doc["stages"].items() for e in s.get("outs", []) + s.get("metrics", [])]
    assert len(entries) >= 20
    for name, entry in entries:
        options = next(iter(entry.values())) if isinstance(entry, dict) else None
        assert (options or {}).get("cache", True), (name, entry)
    assert "reports/index.html" in doc["stages"]["report"]["outs"]
