"""End to end: the tiny grid through the real snakemake and the real dvc, in temporary copies."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from markupsafe import escape

from batch_momentum import config, pipeline
from batch_momentum.analysis import metrics as verdict_metrics
from batch_momentum.steps import cores
from batch_momentum.training import parallel
from conftest import REPO, load_yaml, make_repo_copy, run, tiny_full, tool_env

pytestmark = pytest.mark.e2e
TINY = REPO / "tests" / "tiny.yaml"
N_TINY_CELLS = 4  # (B, λ) cells: one train and one evaluate job each
N_TINY_RUNS = 8  # with tiny.yaml's two seeds: one row of the tables each


def check_outputs(root, n_runs, cores=1):
    """The tiny grid's outputs; `cores`: the cores a training job had (1 under Snakemake, every core under DVC:
    pipeline.DVC_THREADS), over which it deals its 2 dense models as processes (training.parallel)."""
    table = pd.read_csv(root / "reports/tables/cells.csv")
    assert len(table) == n_runs
    processes, threads = parallel.plan(cores, 2, torch.device(table.device.iloc[0]))
    assert sorted(table.seed.unique()) == [1, 2] and (table.stacked_models == 2 // processes).all()
    assert (table.processes == processes).all() and (table.threads == threads).all()
    assert set(table.status) <= {"ok", "diverged", "did not train"}
    assert {"batch_size", "momentum", "seed", "train_acc", "val_acc", "test_acc", "device", "temperature"} <= set(table)
    assert table.test_acc.between(0, 1).all()
    ok = table[table.status == "ok"]
    for col in (
        "hessian_top",
        "hessian_trace",
        "sharpness_full_eps0.001",
        "sharpness_random20_eps0.001",
        "b_simple_init",
        "b_simple_final",
        "cosine_init",
        "cosine_final",
        "nsr_final",
    ):
        assert col in table and ok[col].notna().all(), col
    assert (ok.cosine_final <= 1 + 1e-6).all()
    directions = pd.read_csv(root / "reports/tables/directions.csv")
    assert len(directions) == 9 * len(ok)  # tiny.yaml: 9 points per curve of every run that trained
    timing = pd.read_csv(root / "results/timing/timing.csv")
    assert sorted(timing.batch_size) == [1, 8, 200] and (timing.parallel_median_s > 0).all()
    for pair in ("lam0/seed1", "lam0/seed2", "lam0.9/seed1", "lam0.9/seed2"):
        curve = json.loads((root / f"results/interpolation/{pair}.json").read_text())
        assert len(curve["alpha"]) in (0, 7)
    momentum = json.loads((root / "results/momentum/critical.json").read_text())
    assert [r["momentum"] for r in momentum["summary"]] == [0.0, 0.9]  # tiny.yaml's lambdas
    assert max(w["max_abs_diff"] for w in momentum["weighted_sum_check"]) < 1e-12
    assert momentum["surface_1d"]["start_on_saddle_max_move"] == 0.0
    html = (root / "reports/index.html").read_text()
    assert 'id="lecture-table"' in html and html.count("data:image/png;base64,") >= 10
    for section in ('id="timing"', 'id="noise"', 'id="sharpness"', 'id="momentum"'):
        assert section in html, section
    lecture = json.loads((root / "reports/lecture.json").read_text())
    assert "Code: batch_momentum 0.1.0" in html  # provenance: package, commit, Python, torch, device
    path = "cuda graph" if torch.cuda.is_available() else "eager"  # train.device auto
    assert f"{threads} CPU thread(s) per process, {processes} process(es) per training job" in html
    assert f"updates {path} (train.cuda_graph)" in html
    assert lecture["rows"] and all(r["verdict"] in lecture["verdicts"] for r in lecture["rows"])
    for r in lecture["rows"]:  # a row nothing measured says why, per λ (the tiny grid's B = 200 may not train)
        if r["verdict"] == "not measured":
            assert r.get("per_lambda") and all(p["reason"] for p in r["per_lambda"]), r["aspect"]
    assert not [r["aspect"] for r in lecture["rows"] if r["verdict"] == "not measured" and r["section"] == "timing"]
    for r in lecture["rows"]:  # the page shows what analyze decided (escaped: "λ > 0" is "λ &gt; 0" in HTML)
        assert escape(r["aspect"]) in html and f'<td class="verdict">{escape(r["verdict"])}' in html
    for aspect in (
        "Critical point: gradient descent",
        "Escaping a critical point: small batch",
        "mᵗ is the weighted sum of all earlier gradients",
    ):
        assert aspect in html, aspect
    # self-contained: nothing is loaded from the network
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    check_equal_protocol(root, lecture)
    return table, html


def check_equal_protocol(root, lecture):
    """The generalization and sharpness rows use exactly the equal-accuracy runs that are ok and reached
    the target; every other run of those cells is counted as left out, never averaged in."""
    equal = pd.read_csv(root / "reports/tables/equal.csv")
    candidates = pd.read_csv(root / "reports/tables/candidates.csv")
    ea = config.validate(
        load_yaml(root / "results/params.merged.yaml")
        if (root / "results/params.merged.yaml").exists()
        else load_yaml(root / "params.yaml")
    ).equal_acc
    n_seeds = equal.seed.nunique()
    assert sorted(equal.batch_size.unique()) == sorted(ea.batch_size)
    assert len(equal) == len(ea.batch_size) * equal.momentum.nunique() * n_seeds
    assert (equal.protocol == "equal_acc").all()
    for cell, runs in equal.groupby(equal.cell.str.split("/").str[0]):  # the chosen eta's runs, one per seed
        chosen = candidates[(candidates.cell == cell) & candidates.chosen]
        assert len(chosen) == n_seeds and set(runs.lr) == set(chosen.lr), cell
        mine = candidates[candidates.cell == cell]
        start = ea.lrs(int(runs.batch_size.iloc[0]), float(runs.momentum.iloc[0]))
        assert sorted(mine[mine.sweep_round == 0].lr.unique()) == start and len(mine) % n_seeds == 0, cell
        assert 0 <= mine.lr.nunique() - len(start) <= ea.extend_cap, cell  # the extension stays within the cap
    brackets = pd.read_csv(root / "reports/tables/brackets.csv")
    assert len(brackets) == equal.cell.str.split("/").str[0].nunique()
    assert set(brackets.bracket) <= {"interior", "bounded by failure", "not bracketed", "no η trains"}
    rows = {r["aspect"]: r for r in lecture["rows"]}
    for aspect in ("Generalization", "Sharp vs flat minima"):
        for per in rows[aspect]["per_lambda"]:
            at = equal[equal.momentum == per["momentum"]]
            done = at[(at.status == "ok") & at.reached_target.astype(bool)]
            assert sorted(per["cells"]) == sorted(done.cell), aspect
            for side, b in (("small", per["b_small"]), ("large", per["b_large"])):
                left_out = len(at[at.batch_size == b]) - len(done[done.batch_size == b])
                assert per[side]["n"] == len(done[done.batch_size == b])
                assert sum(per["failed"][side].values()) == left_out, (aspect, per["momentum"], side)


LECTURE_CATEGORIES = tuple(c for c in pipeline.REPORT_CATEGORIES if c != pipeline.REPORT_CATEGORIES.other)


def _report_var(html, name):
    """A JSON value the Snakemake report embeds as `var <name> = ...;` in a <script> of its own."""
    found = re.search(rf'<script id="[\w-]+">\s*var {name} = (.*?);\s*</script>', html, flags=re.S)
    assert found, f"no {name} in the Snakemake report"
    return json.loads(found.group(1))


def check_snakemake_report(root, config_args):
    """`snakemake --report report.html` after a run: every figure of reports/figures, the key tables, the
    lecture's data and the page, each in the category of its lecture row with its caption from
    workflow/report/, the files embedded (the report reads offline), and the workflow description."""
    start = time.monotonic()
    run(["snakemake", *config_args, "--report", "report.html"], root)
    print(f"snakemake --report: {time.monotonic() - start:.1f} s")
    html = (root / "report.html").read_text()
    results, categories = _report_var(html, "results"), _report_var(html, "categories")
    assert tuple(sorted(categories)) == LECTURE_CATEGORIES, sorted(categories)  # no figure left in "Other"
    where = {f: cat for cat, subs in categories.items() for files in subs.values() for f in files}
    figures = sorted(p.relative_to(root).as_posix() for p in (root / "reports/figures").glob("*.png"))
    tables = [f"reports/tables/{t}.csv" for t in pipeline.TABLES]
    data = ["results/timing/timing.csv", "results/momentum/critical.json", "reports/lecture.json"]
    for path in [*figures, *tables, *data, "reports/verdicts.json", "reports/index.html"]:
        assert path in where and path in results, path
        assert results[path]["caption"].strip(), path
    assert len(figures) >= 10 and all("A figure of the report step" not in results[f]["caption"] for f in figures)
    expected = {
        "reports/figures/timing.png": ("1. Timing", "Timing."),
        "reports/figures/gradient_noise.png": ("2. Gradient noise", "cosine between a batch gradient"),
        "reports/figures/accuracy_vs_batch.png": ("3. Optimization", "same epoch budget"),
        "reports/figures/equal_accuracy.png": ("4. Generalization", "Keskar et al. 2017"),
        "reports/figures/hessian_top_vs_batch.png": ("5. Sharp vs flat minima", "the measure: hessian_top"),
        "reports/figures/momentum_escape.png": ("6. Momentum", "escape"),
        "reports/tables/equal.csv": ("4. Generalization", "equal-accuracy runs"),
        "results/timing/timing.csv": ("1. Timing", "median time of one update"),
        "reports/verdicts.json": ("0. The lecture's table", "verdicts' numbers"),
        "reports/index.html": ("0. The lecture's table", "Self-contained"),
    }
    for path, (category, caption) in expected.items():
        assert where[path] == category and caption in results[path]["caption"], (path, where[path])
    for path in ("reports/tables/cells.csv", figures[0]):  # embedded byte for byte
        uri = results[path]["data_uri"]
        assert uri.startswith("data:") and base64.b64decode(uri.split("base64,", 1)[1]) == (root / path).read_bytes()
    description = _report_var(html, "workflow_desc")
    assert "Batch and Momentum" in description and "B = 8, 200" in description  # the run's own grid


def check_dvc_plots(root, revisions=("workspace",)):
    """`dvc plots show --json` (or diff): every plot dvc.yaml declares, with the rows of its table for each
    revision, the columns it draws, and the file it came from."""
    cmd = ["dvc", "plots", "show", "--json"] if revisions == ("workspace",) else ["dvc", "plots", "diff", "--json"]
    shown = json.loads(run([*cmd, *revisions[:-1]], root).stdout)
    assert not shown.get("errors"), shown["errors"]
    assert set(shown["data"]) == set(pipeline.PLOTS)
    for name, plot in pipeline.PLOTS.items():
        ((path, columns),) = plot["y"].items()
        columns = [columns] if isinstance(columns, str) else columns
        (rendered,) = shown["data"][name]
        values = rendered["content"]["data"]["values"]
        assert rendered["type"] == "vega" and sorted(rendered["revisions"]) == sorted(revisions), name
        table = pd.read_csv(root / path)
        for rev in revisions:
            at = [v for v in values if v["rev"] == rev]
            assert sorted({v["field"] for v in at}) == sorted(columns), (name, rev)
            if rev == "workspace":  # one point per row of the table and column drawn
                assert len(at) == len(table) * len(columns), name
                assert {float(v[plot["x"]]) for v in at} == set(table[plot["x"]].astype(float)), name
    return shown


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
    check_snakemake_report(root, ["--configfile", "params.yaml", "tiny.yaml"])
    # nothing left to do on a second run
    res = run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "tiny.yaml", "-n"], root)
    assert "Nothing to be done" in res.stdout + res.stderr
    # the same settings written into params.yaml itself: the commands now name params.yaml
    # instead of the merged copy, which is not a setting and reruns nothing
    shutil.copy2(root / "results/params.merged.yaml", root / "params.yaml")
    res = run(["snakemake", "--cores", "2", "-n"], root)
    assert "Nothing to be done" in res.stdout + res.stderr
    # an override of the report's title alone reruns the report alone
    (root / "title.yaml").write_text("report:\n  title: Another title\n")
    res = run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "title.yaml", "-n"], root)
    assert set(re.findall(r"^rule (\w+):", res.stdout, flags=re.M)) == {"report", "all"}, res.stdout[-2000:]

    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ]
    page = root / "reports/index.html"
    found = browse(browser, flags, page, tmp_path)
    # every section is reachable from the contents, every in-page link lands on an element
    assert found["sections"] and set(found["sections"]) == set(found["contents"]), found
    assert not found["broken"], found["broken"]
    assert {"timing", "noise", "optimization", "generalization", "sharpness", "momentum"} <= set(found["sections"])
    lecture_links = set(found["lecture_links"])
    assert {"timing", "optimization", "generalization", "sharpness", "momentum"} <= lecture_links
    assert found["width"] <= 1200, "something is wider than the page instead of scrolling in its section"
    assert len(found["imgs"]) <= 16 and all(w > 0 and h > 0 for w, h in found["imgs"])  # 16 figures, each decodes
    # a full-page screenshot: the page's whole height, drawn down to its end
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--window-size=1200,{found['height']}", f"--screenshot={shot}", f"file://{page}"],
        capture_output=True,
        timeout=180,
        check=True,
    )
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1200, found["height"])
        tail = im.convert("L").crop((0, found["height"] - 600, 1200, found["height"]))
        assert tail.getextrema()[0] < 128  # text at the bottom: the page rendered to its end


def test_every_valid_setting_makes_a_report_disjoint_seeds_no_zero_momentum_protocol_sizes_off_the_grid(tmp_path):
    """Issue 27: settings that are valid must give a page. The protocol's seeds disjoint from the grid's
    (the report's single-run figures once took min(grid.seed)), a λ list without 0, and protocol batch
    sizes that are not on the grid; the η view and `replicate` on the run's own table."""
    root = make_repo_copy(tmp_path)
    odd = load_yaml(TINY)
    odd["grid"].update(momentum=[0.5], seed=[1, 2])
    odd["equal_acc"].update(batch_size=[10, 50], seed=[5, 6], step_large=[0.5, 1.0, 2.0], extend_cap=0)
    (root / "odd.yaml").write_text(yaml.safe_dump(odd, sort_keys=False))
    run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "odd.yaml", "-q"], root)
    lecture = json.loads((root / "reports/lecture.json").read_text())
    check_equal_protocol(root, lecture)
    equal = pd.read_csv(root / "reports/tables/equal.csv")
    assert sorted(equal.seed.unique()) == [5, 6] and sorted(equal.batch_size.unique()) == [10, 50]
    candidates = pd.read_csv(root / "reports/tables/candidates.csv")
    assert len(candidates) == 2 * (1 + 3) and candidates.test_acc.between(0, 1).all()  # every candidate measured
    ok = candidates[candidates.status == "ok"]
    assert ok.hessian_top.notna().all() and (ok.hessian_top > 0).any()
    gen = next(r for r in lecture["rows"] if r["aspect"] == "Generalization")
    assert [p["momentum"] for p in gen["per_lambda"]] == [0.5]
    assert "η view" in gen["per_lambda"][0]["note"] and "eta" in gen["per_lambda"][0]
    html = (root / "reports/index.html").read_text()
    assert "The η view, per λ" in html and "seed 5" in html  # the single-run figures of the protocol's first seed
    assert (root / "reports/figures/eta_view.png").stat().st_size > 0
    res = run(
        [sys.executable, "-m", "batch_momentum", "replicate", "reports/lecture.json", "reports/lecture.json"], root
    )
    assert "| Generalization | 0.5 |" in res.stdout and "0 contradicting verdict(s)" in res.stderr


PROBE = """<!DOCTYPE html><html><body><iframe id="f" src="file://PAGE" width="1200" height="800"></iframe>
<pre id="out">pending</pre><script>
window.addEventListener("load", () => {
  const doc = document.getElementById("f").contentDocument;
  const ids = new Set([...doc.querySelectorAll("[id]")].map(e => e.id));
  const href = a => a.getAttribute("href").slice(1);
  document.getElementById("out").textContent = JSON.stringify({
    height: doc.documentElement.scrollHeight, width: doc.documentElement.scrollWidth,
    sections: [...doc.querySelectorAll("h2")].map(h => h.id),
    contents: [...doc.querySelectorAll("nav#contents a")].map(href),
    lecture_links: [...doc.querySelectorAll("#lecture-table a")].map(href),
    broken: [...doc.querySelectorAll('a[href^="#"]')].map(href).filter(l => !ids.has(l)),
    imgs: [...doc.querySelectorAll("img")].map(i => [i.naturalWidth, i.naturalHeight])});
});
</script></body></html>"""


def browse(browser, flags, page, tmp_path) -> dict:
    """What the browser sees of the report: its laid-out size, the section ids, the contents' and the
    lecture table's links, links that land nowhere, and every image's decoded size."""
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.replace("PAGE", str(page)))
    res = subprocess.run(
        [browser, *flags, "--allow-file-access-from-files", "--dump-dom", f"file://{probe}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = re.search(r'<pre id="out">(.*?)</pre>', res.stdout, flags=re.S)
    assert out and out.group(1) != "pending", res.stdout[-2000:]
    return json.loads(out.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def _dvc_metric_files(root):
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], root).stdout)
    return [f for ws in metrics.values() for f in ws["data"]]


def _files_and_times(root):
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for top in ("data", "results", "reports")
        for p in (root / top).rglob("*")
        if p.is_file()
    }


def test_dvc_repro_runs_the_same_grid_keeps_outputs_on_bad_params_and_runs_an_experiment(tmp_path):
    # an equal-accuracy budget too short to reach the target: every such run must be left out
    params = tiny_full()
    params["equal_acc"].update(max_epochs=2, patience=1)
    root = make_repo_copy(tmp_path, params=params, git=True)
    run(["dvc", "repro", "-q"], root)
    check_outputs(root, N_TINY_RUNS, cores=cores())
    equal = pd.read_csv(root / "reports/tables/equal.csv")
    assert not equal.reached_target.any()
    rows = {r["aspect"]: r for r in json.loads((root / "reports/lecture.json").read_text())["rows"]}
    for aspect in ("Generalization", "Sharp vs flat minima"):
        assert rows[aspect]["verdict"] == "not measured"
        assert all(p["small"]["n"] == p["large"]["n"] == 0 for p in rows[aspect]["per_lambda"])
        assert all("has 0 usable run(s)" in p["reason"] for p in rows[aspect]["per_lambda"])
    files = _dvc_metric_files(root)
    assert len([f for f in files if f.startswith("results/metrics/")]) == N_TINY_RUNS
    assert "reports/lecture.json" in files and "reports/verdicts.json" in files
    verdicts = json.loads((root / "reports/verdicts.json").read_text())
    assert verdicts == verdict_metrics.flatten(json.loads((root / "reports/lecture.json").read_text()))
    assert verdicts["generalization/verdict"] == "not measured" and verdicts["generalization/lam0.9/n_small"] == 0
    start = time.monotonic()
    check_dvc_plots(root)
    run(["dvc", "plots", "show"], root)  # the HTML page, dvc_plots/index.html, with DVC's scripts from a CDN
    page = (root / "dvc_plots/index.html").read_text()
    assert all(name in page for name in pipeline.PLOTS) and "cdn.jsdelivr.net" in page
    print(f"dvc plots show: {time.monotonic() - start:.1f} s")
    status = run(["dvc", "status"], root).stdout
    assert "up to date" in status

    # a bad value: the check stage stops dvc repro before any stage removes its outputs
    good = (root / "params.yaml").read_text()
    before = _files_and_times(root)
    for bad in (good.replace("lr: 0.05", "lr: fast", 1), good.replace("report:", "report:\n  colour: red", 1)):
        assert bad != good
        (root / "params.yaml").write_text(bad)
        res = run(["dvc", "repro"], root, check=False)
        assert res.returncode != 0 and "failed to reproduce 'check'" in res.stderr + res.stdout
        assert "error: params.yaml: " in res.stdout + res.stderr
        after = _files_and_times(root)
        assert {p: t for p, t in after.items() if p != pipeline.CHECKED} == {
            p: t for p, t in before.items() if p != pipeline.CHECKED
        }  # every other output in place, untouched
    (root / "params.yaml").write_text(good)
    res = run(["dvc", "repro"], root)
    # check's output comes back from DVC's run cache (these params were checked before) and is the same, so
    # nothing else reruns
    assert re.findall(r"Running stage '([^']+)'", res.stdout) == [] and "Stage 'check' is cached" in res.stdout
    assert "up to date" in run(["dvc", "status"], root).stdout

    # an experiment without editing params.yaml: only the new lambda's cells train
    run(["git", "add", "dvc.lock"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny run"], root)
    res = run(["dvc", "exp", "run", "-S", "grid.momentum=[0,0.99]"], root)
    ran = re.findall(r"Running stage '([^']+)'", res.stdout)
    assert sorted(s for s in ran if s.startswith("train@")) == ["train@200-0.99", "train@8-0.99"], ran
    assert load_yaml(root / "params.yaml")["grid"]["momentum"] == [0, 0.99]
    diff = run(["dvc", "params", "diff"], root).stdout
    assert "grid.momentum" in diff and "[0, 0.9]" in diff and "[0, 0.99]" in diff
    metrics = [f for f in _dvc_metric_files(root) if f.startswith("results/metrics/")]
    assert sorted(metrics) == sorted(
        f"results/metrics/bs{b}_lam{m}/seed{s}.json" for b in (8, 200) for m in (0, 0.99) for s in (1, 2)
    )
    assert len(pd.read_csv(root / "reports/tables/cells.csv").query("momentum == 0.99")) == 4

    # the experiment beside the baseline: dvc exp show lists each one's verdicts' numbers (cached, so the
    # baseline's are still there), dvc metrics diff and dvc plots diff compare them
    start = time.monotonic()
    shown = json.loads(run(["dvc", "exp", "show", "--json"], root).stdout)

    def verdicts_of(entry):
        return entry["data"]["metrics"]["reports/verdicts.json"]["data"]

    baseline = next(e for e in shown if e["rev"] != "workspace")
    (experiment,) = [r for e in baseline["experiments"] for r in e["revs"]]
    old, new = verdicts_of(baseline), verdicts_of(experiment)
    assert "generalization/lam0.9/verdict" in old and "generalization/lam0.9/verdict" not in new
    assert "generalization/lam0.99/verdict" in new and "sharpness/lam0.99/n_small" in new
    written = json.loads((root / "reports/verdicts.json").read_text())  # the experiment, applied to the workspace
    assert new == {k: v for k, v in written.items() if v is not None}  # DVC leaves out the nulls
    table = run(["dvc", "exp", "show", "--csv", "--drop", ".*", "--keep", "Experiment|generalization/"], root).stdout
    header = table.splitlines()[0].split(",")
    assert "generalization/lam0.99/n_small" in header and "generalization/lam0.9/n_small" in header
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], root).stdout)["reports/verdicts.json"]
    added = diff["generalization/lam0.99/n_small"]
    assert added["old"] is None and added["new"] == new["generalization/lam0.99/n_small"]
    check_dvc_plots(root, revisions=("HEAD", "workspace"))
    # the tables a reader sees (plain `dvc exp show` hides columns beyond the terminal's width: narrow it)
    for cmd in (
        ["dvc", "exp", "show", "--drop", ".*", "--keep", "Experiment|generalization/"],
        ["dvc", "metrics", "diff"],
    ):
        assert "generalization/lam0.99/n_small" in run(cmd, root).stdout, cmd
    run(["dvc", "plots", "diff", "HEAD"], root)
    assert (root / "dvc_plots/index.html").read_text().count('"rev": "HEAD"') > 0
    print(f"dvc exp show, metrics diff, plots diff: {time.monotonic() - start:.1f} s")


def _snakemake_commands(root):
    out = run(["snakemake", "-n", "-p", "--forceall", "--cores", "1"], root).stdout
    cmds = re.findall(r"^Shell command: (python -m batch_momentum .*)$", out, flags=re.M)
    if not cmds:  # older layout: the command on its own indented line
        cmds = re.findall(r"^\s*(python -m batch_momentum .*)$", out, flags=re.M)
    return {re.sub(r"\s*>\s*\S+\s+2>&1\s*$", "", " ".join(c.split())) for c in cmds}


def _dvc_commands(root):
    code = (
        "from dvc.repo import Repo\n"
        "for s in Repo('.').index.stages:\n"
        "    if s.name != 'check': print(' '.join(s.cmd.split()))\n"
    )
    out = run(["python", "-c", code], root).stdout
    return {line for line in out.splitlines() if line.startswith("python -m batch_momentum")}


def _compute_threads(cmds):
    """The commands that train, evaluate or interpolate, and whether each asks for every core."""
    steps = (" train ", " evaluate ", " interpolate ")
    return {c: pipeline.DVC_THREADS in c for c in cmds if any(s in c for s in steps)}


def test_snakemake_and_dvc_hold_the_same_cells_and_commands(tmp_path):
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    smk, dvc = _snakemake_commands(root), _dvc_commands(root)
    # DVC runs one stage at a time: its stages that compute with torch take every core, Snakemake's jobs one
    # each, side by side; otherwise the commands are the same
    assert set(_compute_threads(dvc).values()) == {True} and set(_compute_threads(smk).values()) == {False}
    assert len(_compute_threads(dvc)) == 2 * N_TINY_CELLS + 4 + 4 + 2  # train, evaluate (grid and equal), interpolate
    assert smk == {pipeline.shared_cmd(c) for c in dvc}
    trains = sorted(c for c in smk if " train " in c and "--protocol equal_acc" not in c)  # the grid's cells
    assert len(trains) == N_TINY_CELLS
    for step in ("train", "evaluate"):  # equal_acc's two B at tiny.yaml's two λ, trained and evaluated
        assert len([c for c in smk if f" {step} " in c and "--protocol equal_acc" in c]) == 4, step
    assert any("--batch-size 200 --momentum 0.9 --out results/cells/bs200_lam0.9" in c for c in trains)


def test_snakemake_from_the_venv_needs_no_activation(tmp_path):
    # `.venv/bin/snakemake` with the venv's bin not on PATH: the rules' `python` must still
    # be the venv's interpreter, which has batch_momentum.
    root = make_repo_copy(tmp_path, params=tiny_full())
    env = {k: v for k, v in tool_env().items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    res = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "--cores", "1", "results/momentum/critical.json"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
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


def test_snakemake_lint_leaves_only_the_documented_lints():
    # docs/troubleshooting.md explains the two lints left: rules name no conda env or container, because the
    # steps run in the project's own virtual environment; and their commands name the params
    # file as the global PARAMS, which is not a setting and so not a rule param.
    # snakemake --lint exits 1 when it finds lints, so the exit code alone cannot tell them from a
    # crash: the linter must have read every rule (one "Lints for rule" block each) and found
    # exactly the two documented lints, no other and no traceback.
    res = run(["snakemake", "--lint"], REPO, check=False)
    out = res.stdout + res.stderr
    assert res.returncode in (0, 1) and "Traceback" not in out and "Error" not in out, out[-2000:]
    lints = set(re.findall(r"^\s+\* (.+?):?$", out, flags=re.M))
    assert lints == {
        "Specify a conda environment or container for each rule.",
        "Shell command directly uses variable PARAMS from outside of the rule",
    }, lints
    rules = set(
        re.findall(
            r"^rule (\w+):", "\n".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk")), flags=re.M
        )
    )
    assert set(re.findall(r"^Lints for rule (\w+) ", out, flags=re.M)) == rules


def _snakemake_jobs(root):
    """(rule, command, inputs, outputs) of every job of a forced dry run."""
    out = run(["snakemake", "-n", "-p", "--forceall", "--cores", "1"], root).stdout
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\nrule |\nrule )", out):
        rule = re.search(r"^rule (\w+):", block, flags=re.M)
        if not rule or rule.group(1) == "all":
            continue

        def field(name, block=block):
            found = re.search(rf"^\s+{name}: (.*)$", block, flags=re.M)
            return [p.strip() for p in (found.group(1) if found else "").split(",") if p.strip()]

        cmd = re.search(r"^(?:Shell command: |\s*)(python -m batch_momentum .*)$", block, flags=re.M)
        jobs.append(
            (
                rule.group(1),
                re.sub(r"\s*>\s*\S+\s+2>&1\s*$", "", " ".join(cmd.group(1).split())),
                field("input"),
                field("output"),
            )
        )
    return jobs


def _dvc_stages(root):
    code = (
        "import json\nfrom dvc.repo import Repo\n"
        "from dvc.dependency.param import ParamsDependency as P\n"
        "from batch_momentum.pipeline import shared_cmd\n"
        "print(json.dumps([dict(name=s.name, cmd=shared_cmd(' '.join(s.cmd.split())),"
        " deps=[d.def_path for d in s.deps if not isinstance(d, P)],"
        " params=[k for d in s.deps if isinstance(d, P) for k in d.params],"
        " outs=[o.def_path for o in s.outs]) for s in Repo('.').index.stages]))\n"
    )
    return json.loads(run(["python", "-c", code], root).stdout)


def _covered(path, paths):
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in paths)


def test_dvc_yaml_is_what_the_stage_table_generates():
    res = run(["python", "-m", "batch_momentum", "stages", "--check"], REPO, check=False)
    assert res.returncode == 0, res.stderr


def test_snakemake_rules_and_dvc_stages_agree_on_inputs_outputs_params_and_code(tmp_path):
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    # DVC's check stage has no rule (the Snakefile validates when read); every other stage depends on it
    dvc_only = {s.name for s in pipeline.STAGES if s.dvc_only}
    by_cmd = {
        s["cmd"]: dict(s, deps=[d for d in s["deps"] if d != pipeline.CHECKED])
        for s in _dvc_stages(root)
        if s["name"] not in dvc_only
    }
    jobs = _snakemake_jobs(root)
    params = config.validate(tiny_full())
    assert len(jobs) == len(by_cmd) and {j[1] for j in jobs} == set(by_cmd)
    for rule, cmd, inputs, outputs in jobs:
        stage = by_cmd[cmd]
        assert stage["name"].split("@")[0] == rule
        assert stage["params"] == pipeline.param_keys(params, rule)  # download.${data.dataset} resolved
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
    optim = root / "src/batch_momentum/training/optim.py"  # imported by momentum's experiments, not by prepare
    optim.write_text(optim.read_text() + "\n# an edit\n")
    status = run(["dvc", "status", "prepare", "momentum"], root).stdout
    assert "momentum:" in status and "src/batch_momentum/training/optim.py" in status
    assert "prepare:" not in status


def test_jobs_on_a_gpu_ask_for_it_and_the_default_profile_runs_them_one_at_a_time(tmp_path):
    # with train.device: cuda every rule that computes on the device asks for gpu=1 (a dry run
    # needs no GPU) ...
    (tmp_path / "repo").mkdir()
    root = make_repo_copy(tmp_path / "repo", params=config.overlay(tiny_full(), {"train": {"device": "cuda"}}))
    out = run(["snakemake", "-n", "--cores", "2"], root).stdout
    asks = {m.group(1): m.group(2) for m in re.finditer(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out, re.M)}
    on_device = {
        "train",
        "train_equal_small",
        "train_equal_large",
        "evaluate",
        "evaluate_equal",
        "interpolate",
        "timing",
    }
    assert {r for r, res in asks.items() if "gpu=1" in res} == on_device, asks
    # ... and the default profile offers one GPU, so such jobs never overlap (measured with
    # a workflow of three one-second jobs that each ask for it, on three cores)
    toy = tmp_path / "toy"
    shutil.copytree(REPO / "workflow/profiles/default", toy / "profiles/default")
    (toy / "Snakefile").write_text(
        'rule all:\n    input: expand("t{i}.txt", i=range(3))\n'
        'rule job:\n    output: "t{i}.txt"\n    resources: gpu=1\n'
        '    shell: "date +%s.%N > {output}; sleep 1; date +%s.%N >> {output}"\n'
    )
    run(["snakemake", "-q", "--cores", "3"], toy)
    spans = sorted(tuple(map(float, (toy / f"t{i}.txt").read_text().split())) for i in range(3))
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans


def test_editing_the_large_batchs_steps_reruns_only_its_train_equal_cells_under_snakemake_and_dvc(tmp_path):
    """Issue 33, item 4: each side's train_equal tracks only its own step list (and the keys both share)."""
    small = config.overlay(tiny_full(), {"grid": {"momentum": [0]}, "equal_acc": {"max_epochs": 2, "extend_cap": 0}})
    edited = config.overlay(small, {"equal_acc": {"step_large": [1.0, 2.0]}})
    targets = [f"results/equal/bs{b}_lam0/choice.json" for b in small["equal_acc"]["batch_size"]]
    for tool in ("snakemake", "dvc"):
        (tmp_path / tool).mkdir()
        root = make_repo_copy(tmp_path / tool, params=small, git=tool == "dvc")
        if tool == "snakemake":
            run(["snakemake", "--cores", "2", *targets, "-q"], root)
            (root / "params.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
            out = run(["snakemake", "-n", "--cores", "2", *targets], root).stdout
            jobs = set(re.findall(r"^rule (\w+):", out, re.M))
        else:
            run(["dvc", "repro", "-q", "train_equal_small", "train_equal_large"], root)
            (root / "params.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
            out = run(["dvc", "status", "train_equal_small", "train_equal_large"], root).stdout
            jobs = {m.split("@")[0] for m in re.findall(r"^(\S+):$", out, re.M)}
        assert jobs == {"train_equal_large"}, (tool, out)
