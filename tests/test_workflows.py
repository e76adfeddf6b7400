"""End to end: the tiny grid through the real snakemake and the real dvc, in temporary copies."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from batch_momentum import config, stages
from conftest import REPO, load_yaml, make_repo_copy, run, tiny_full, tool_env

pytestmark = pytest.mark.e2e
TINY = REPO / "tests" / "tiny.yaml"
N_TINY_CELLS = 4  # (B, λ) cells: one train and one evaluate job each
N_TINY_RUNS = 8   # with tiny.yaml's two seeds: one row of the tables each


def check_outputs(root, n_runs):
    table = pd.read_csv(root / "reports/tables/cells.csv")
    assert len(table) == n_runs
    assert sorted(table.seed.unique()) == [1, 2] and (table.stacked_models == 2).all()
    assert set(table.status) <= {"ok", "diverged"}
    assert {"batch_size", "momentum", "seed", "train_acc", "val_acc", "test_acc", "device", "temperature"} <= set(table)
    assert table.test_acc.between(0, 1).all()
    ok = table[table.status == "ok"]
    for col in ("hessian_top", "hessian_trace", "sharpness_full_eps0.001", "sharpness_random20_eps0.001",
                "b_simple_init", "b_simple_final", "cosine_init", "cosine_final", "nsr_final"):
        assert col in table and ok[col].notna().all(), col
    assert (ok.cosine_final <= 1 + 1e-6).all()
    directions = pd.read_csv(root / "reports/tables/directions.csv")
    assert len(directions) == 9 * len(ok)  # tiny.yaml: 9 points per curve
    timing = pd.read_csv(root / "results/timing/timing.csv")
    assert sorted(timing.batch_size) == [1, 8, 200] and (timing.parallel_median_s > 0).all()
    for pair in ("lam0/seed1", "lam0/seed2", "lam0.9/seed1", "lam0.9/seed2"):
        curve = json.loads((root / f"results/interpolation/{pair}.json").read_text())
        assert len(curve["alpha"]) in (0, 7)
    momentum = json.loads((root / "results/momentum/critical.json").read_text())
    assert [r["momentum"] for r in momentum["summary"]] == [0.0, 0.9]  # tiny.yaml's lambdas
    assert max(momentum["weighted_sum_check"]["max_abs_diff"].values()) < 1e-12
    assert momentum["surface_1d"]["start_on_saddle_max_move"] == 0.0
    html = (root / "reports/index.html").read_text()
    assert 'id="lecture-table"' in html and html.count("data:image/png;base64,") >= 10
    for section in ('id="timing"', 'id="noise"', 'id="sharpness"', 'id="momentum"'):
        assert section in html, section
    lecture = json.loads((root / "reports/lecture.json").read_text())
    assert lecture["rows"] and all(r["verdict"] in lecture["verdicts"] for r in lecture["rows"])
    assert not [r["aspect"] for r in lecture["rows"] if r["verdict"] == "not measured"]
    for r in lecture["rows"]:  # the page shows what analyze decided
        assert r["aspect"] in html and f'<td class="verdict">{r["verdict"]}' in html
    for aspect in ("Critical point: gradient descent", "Escaping a critical point: small batch",
                   "mᵗ is the weighted sum of all earlier gradients"):
        assert aspect in html, aspect
    # self-contained: nothing is loaded from the network
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    return table, html


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_snakemake_runs_the_grid_with_an_override_file(tmp_path):
    root = make_repo_copy(tmp_path)  # the real params.yaml, overridden by tests/tiny.yaml
    shutil.copy2(TINY, root / "tiny.yaml")
    run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "tiny.yaml", "-q"], root)
    table, html = check_outputs(root, N_TINY_RUNS)
    assert sorted(table.cell) == sorted(r.name for r in config.runs(config.validate(tiny_full())))
    for cell in config.cells(config.validate(tiny_full())):
        assert (root / f"logs/train/{cell.name}.log").read_text().count("epoch") >= 1
        assert (root / f"benchmarks/train/{cell.name}.tsv").exists()
    assert len(list((root / "benchmarks/train").glob("*.tsv"))) == N_TINY_CELLS  # one job per (B, λ)
    merged = load_yaml(root / "results/params.merged.yaml")
    assert merged["grid"] == load_yaml(TINY)["grid"]
    # nothing left to do on a second run
    res = run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "tiny.yaml", "-n"], root)
    assert "Nothing to be done" in res.stdout + res.stderr

    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed")
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}"]
    page = f"file://{root / 'reports/index.html'}"
    dom = subprocess.run([browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and "The lecture's table, measured" in dom.stdout
    assert dom.stdout.count("<img") >= 4
    subprocess.run([browser, *flags, "--window-size=1200,2400", f"--screenshot={shot}", page],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000  # a rendered page with figures, not a blank one


def test_dvc_repro_runs_the_same_grid(tmp_path):
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    run(["dvc", "repro", "-q"], root)
    check_outputs(root, N_TINY_RUNS)
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], root).stdout)
    files = [f for ws in metrics.values() for f in ws["data"]]
    assert len([f for f in files if f.startswith("results/metrics/")]) == N_TINY_RUNS
    assert "reports/lecture.json" in files
    status = run(["dvc", "status"], root).stdout
    assert "up to date" in status


def _snakemake_commands(root):
    out = run(["snakemake", "-n", "-p", "--forceall", "--cores", "1"], root).stdout
    cmds = re.findall(r"^Shell command: (python -m batch_momentum .*)$", out, flags=re.M)
    if not cmds:  # older layout: the command on its own indented line
        cmds = re.findall(r"^\s*(python -m batch_momentum .*)$", out, flags=re.M)
    return {re.sub(r"\s*>\s*\S+\s+2>&1\s*$", "", " ".join(c.split())) for c in cmds}


def _dvc_commands(root):
    code = ("from dvc.repo import Repo\n"
            "for s in Repo('.').index.stages: print(' '.join(s.cmd.split()))\n")
    out = run(["python", "-c", code], root).stdout
    return {line for line in out.splitlines() if line.startswith("python -m batch_momentum")}


def test_snakemake_and_dvc_hold_the_same_cells_and_commands(tmp_path):
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    smk, dvc = _snakemake_commands(root), _dvc_commands(root)
    assert smk == dvc
    trains = sorted(c for c in smk if " train " in c and "--protocol equal_acc" not in c)  # the grid's cells
    assert len(trains) == N_TINY_CELLS
    assert len([c for c in smk if "--protocol equal_acc" in c]) == 4  # equal_acc's two B at tiny.yaml's two λ
    assert any("--batch-size 200 --momentum 0.9 --out results/cells/bs200_lam0.9" in c for c in trains)


def test_snakemake_from_the_venv_needs_no_activation(tmp_path):
    # `.venv/bin/snakemake` with the venv's bin not on PATH: the rules' `python` must still
    # be the venv's interpreter, which has batch_momentum.
    root = make_repo_copy(tmp_path, params=tiny_full())
    env = {k: v for k, v in tool_env().items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    res = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--cores", "1",
                          "results/momentum/critical.json"], cwd=root, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((root / "results/momentum/critical.json").read_text())["summary"]


def test_invalid_params_stop_snakemake_before_any_job(tmp_path):
    params = tiny_full()
    params["grid"]["batch_size"] = [0, 8]
    root = make_repo_copy(tmp_path, params=params)
    res = run(["snakemake", "--cores", "1"], root, check=False)
    assert res.returncode != 0
    err = res.stdout + res.stderr
    assert "grid.batch_size[0] = 0 is invalid" in err
    assert not (root / "data/prepared").exists() and not (root / "results/cells").exists()


def test_snakemake_lint_leaves_only_the_documented_lint():
    # The README explains the one lint left: rules name no conda env or container,
    # because the steps run in the project's own virtual environment.
    res = run(["snakemake", "--lint"], REPO, check=False)
    lints = set(re.findall(r"^\s+\* (.+?):?$", res.stdout + res.stderr, flags=re.M))
    assert lints <= {"Specify a conda environment or container for each rule."}, lints


def _snakemake_jobs(root):
    """(rule, command, inputs, outputs) of every job of a forced dry run."""
    out = run(["snakemake", "-n", "-p", "--forceall", "--cores", "1"], root).stdout
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\nrule |\nrule )", out):
        rule = re.search(r"^rule (\w+):", block, flags=re.M)
        if not rule or rule.group(1) == "all":
            continue
        field = lambda name: [p.strip() for p in (re.search(rf"^\s+{name}: (.*)$", block, flags=re.M)  # noqa: E731
                                                  or re.match("()", "")).group(1).split(",") if p.strip()]
        cmd = re.search(r"^(?:Shell command: |\s*)(python -m batch_momentum .*)$", block, flags=re.M)
        jobs.append((rule.group(1), re.sub(r"\s*>\s*\S+\s+2>&1\s*$", "", " ".join(cmd.group(1).split())),
                     field("input"), field("output")))
    return jobs


def _dvc_stages(root):
    code = ("import json\nfrom dvc.repo import Repo\n"
            "from dvc.dependency.param import ParamsDependency as P\n"
            "print(json.dumps([dict(name=s.name, cmd=' '.join(s.cmd.split()),"
            " deps=[d.def_path for d in s.deps if not isinstance(d, P)],"
            " params=[k for d in s.deps if isinstance(d, P) for k in d.params],"
            " outs=[o.def_path for o in s.outs]) for s in Repo('.').index.stages]))\n")
    return json.loads(run(["python", "-c", code], root).stdout)


def _covered(path, paths):
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in paths)


def test_dvc_yaml_is_what_the_stage_table_generates():
    res = run(["python", "-m", "batch_momentum", "stages", "--check"], REPO, check=False)
    assert res.returncode == 0, res.stderr


def test_snakemake_rules_and_dvc_stages_agree_on_inputs_outputs_params_and_code(tmp_path):
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    by_cmd = {s["cmd"]: s for s in _dvc_stages(root)}
    jobs = _snakemake_jobs(root)
    params = config.validate(tiny_full())
    assert len(jobs) == len(by_cmd) and {j[1] for j in jobs} == set(by_cmd)
    for rule, cmd, inputs, outputs in jobs:
        stage = by_cmd[cmd]
        assert stage["name"].split("@")[0] == rule
        assert stage["params"] == stages.param_keys(params, rule)  # download.${data.dataset} resolved
        # every file Snakemake reads is a dependency in DVC (itself or inside a folder DVC tracks), and back
        assert all(_covered(i, stage["deps"]) for i in inputs), (rule, inputs, stage["deps"])
        assert all(any(_covered(i, [d]) for i in inputs) for d in stage["deps"]), (rule, stage["deps"], inputs)
        assert all(_covered(o, stage["outs"]) for o in outputs), (rule, outputs, stage["outs"])
        assert all(any(_covered(o, [d]) for o in outputs) for d in stage["outs"]), (rule, stage["outs"], outputs)
    # params: every rule tracks exactly its own stage's params and code, from the one table
    text = "\n".join(p.read_text() for p in sorted((REPO / "workflow/rules").glob("*.smk")))
    for block in re.split(r"\n(?=rule )", text)[1:]:
        name = re.match(r"rule (\w+):", block).group(1)
        assert f'tracked(P, "{name}")' in block and f'code("{name}")' in block, name


def test_editing_a_module_a_stage_imports_makes_dvc_rerun_that_stage(tmp_path):
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    run(["dvc", "repro", "-q", "prepare", "momentum"], root)
    assert "up to date" in run(["dvc", "status", "prepare", "momentum"], root).stdout
    optim = root / "src/batch_momentum/optim.py"  # imported by momentum's experiments, not by prepare
    optim.write_text(optim.read_text() + "\n# an edit\n")
    status = run(["dvc", "status", "prepare", "momentum"], root).stdout
    assert "momentum:" in status and "src/batch_momentum/optim.py" in status
    assert "prepare:" not in status
