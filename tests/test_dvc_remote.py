"""The team workflow through a DVC remote (docs/reviewing.md, "Sharing results"): one clone runs the pipeline
and pushes its cache and run cache to a remote and its commit and an experiment to a git remote; another clone
pulls, and `dvc repro` runs no stage: the page is there, byte for byte, and the experiment shows in
`dvc exp show` and applies without training. The DVC remote is a local folder (S3 or SSH only change its URL),
the git remote a bare repository; the grid is tests/tiny.yaml at one λ to keep the run short."""

import json
import re
import shutil

import pytest

from conftest import REPO, make_repo_copy, run, tiny_full

pytestmark = pytest.mark.e2e
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
TITLE = "Shared through the remote"


def ran(res) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", res.stdout)


def test_a_second_clone_gets_the_page_and_an_experiment_from_a_dvc_remote_without_training(tmp_path):
    params = tiny_full()
    params["grid"]["momentum"] = [0.9]  # one λ: 2 cells, the protocol's 2 cells, one interpolation
    (tmp_path / "a").mkdir()
    a = make_repo_copy(tmp_path / "a", params=params, git=True)
    origin, storage = tmp_path / "origin.git", tmp_path / "storage"
    run(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    run(["git", "branch", "-M", "main"], a)
    run(["git", "remote", "add", "origin", str(origin)], a)
    run(["dvc", "remote", "add", "-d", "storage", str(storage)], a)  # docs: s3://bucket/path or ssh://host/path
    # the repository's .gitignore, as a clone has it: git ignores results/ and reports/ as a whole, so DVC writes
    # no .gitignore of its own inside them (one in a folder a stage reads would change that folder's hash)
    shutil.copy2(REPO / ".gitignore", a / ".gitignore")
    run(["git", "add", ".gitignore", ".dvc/config"], a)
    run([*GIT, "commit", "-qm", "the DVC remote"], a)

    run(["dvc", "repro", "-q"], a)
    run(["git", "add", "dvc.lock"], a)
    run([*GIT, "commit", "-qm", "a run"], a)
    run(["dvc", "push", "--run-cache"], a)
    run(["git", "push", "-q", "origin", "main"], a)
    assert any((storage / "runs").rglob("*")), "dvc push --run-cache left no run cache on the remote"
    page, figures = (a / "reports/index.html").read_bytes(), sorted(p.name for p in (a / "reports/figures").iterdir())
    run(["dvc", "exp", "run", "-S", f"report.title={TITLE}", "-n", "retitled"], a)
    run(["dvc", "exp", "push", "origin", "retitled"], a)  # the experiment's commit to git, its outputs to storage

    b = tmp_path / "b"
    run(["git", "clone", "-q", "--branch", "main", str(origin), str(b)], tmp_path)
    assert not (b / "reports/index.html").exists()
    run(["dvc", "pull"], b)
    res = run(["dvc", "repro"], b)
    assert ran(res) == [] and "up to date" in res.stdout, res.stdout[-2000:]  # no stage runs
    assert (b / "reports/index.html").read_bytes() == page  # the page of the pushed run, byte for byte
    assert sorted(p.name for p in (b / "reports/figures").iterdir()) == figures and len(figures) >= 10

    run(["dvc", "exp", "pull", "origin", "retitled"], b)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], b).stdout)
    baseline = next(e for e in shown if e["rev"] != "workspace")
    (experiment,) = [r for e in baseline["experiments"] or [] for r in e["revs"]]
    assert experiment["name"] == "retitled"
    assert experiment["data"]["params"]["params.yaml"]["data"]["report"]["title"] == TITLE
    assert experiment["data"]["metrics"]["reports/verdicts.json"]["data"]  # its numbers travel too
    run(["dvc", "exp", "apply", "retitled"], b)  # the experiment's outputs, from the cache it pulled
    assert f"<h1>{TITLE}</h1>" in (b / "reports/index.html").read_text()
    assert ran(run(["dvc", "repro"], b)) == []
    shutil.rmtree(b / ".dvc/cache")  # nothing above needed more than what the remote holds
    run(["dvc", "pull"], b)
    assert f"<h1>{TITLE}</h1>" in (b / "reports/index.html").read_text()
