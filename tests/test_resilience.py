"""Runs that are interrupted or submitted elsewhere: a SIGKILL in the middle of the grid and
a rerun (under Snakemake and under DVC), and every job through the cluster-generic
executor's submit script, each giving the same tables as one uninterrupted local run of the
tiny grid."""

import base64
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from batch_momentum.io import files
from conftest import make_repo_copy, run, tiny_full, tool_env

pytestmark = pytest.mark.e2e
TARGET = "reports/tables/cells.csv"  # aggregate: every cell trained and evaluated, no timing or report
TABLES = ("cells", "curves", "directions", "equal", "equal_curves", "candidates", "brackets")


def tables(root: Path) -> dict:
    """The aggregated tables without their clock readings, without the checkout's git state (the DVC copy is
    a git repository, the reference is not) and without how a job's work was split (DVC's stages take every
    core and deal a cell's models over processes, Snakemake's jobs one core and one stack each: the threads,
    processes and models per stack); every other number must match."""
    out = {}
    for name in TABLES:
        df = pd.read_csv(root / f"reports/tables/{name}.csv")
        split = ("threads", "processes", "stacked_models")
        drop = [c for c in df.columns if c.endswith("wall_s") or c.startswith("git_") or c in split]
        out[name] = df.drop(columns=drop)
    return out


def assert_same_tables(a: dict, b: dict):
    """Every table equal, bit for bit."""
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny grid's tables from one uninterrupted local run."""
    root = make_repo_copy(tmp_path_factory.mktemp("reference"), params=tiny_full())
    run(["snakemake", "--cores", "2", TARGET], root)
    return tables(root)


def _incomplete(root: Path) -> set[str]:
    """The outputs Snakemake marked incomplete (jobs that started and did not finish)."""
    folder = root / ".snakemake/incomplete"
    return (
        {base64.urlsafe_b64decode(p.name).decode() for p in folder.iterdir() if p.is_file()}
        if folder.exists()
        else set()
    )


def _outputs(root: Path) -> dict[str, int]:
    """Every result file (not the temporary names) and its modification time."""
    found = {}
    for top in ("data", "results", "reports"):
        for p in (root / top).rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                found[str(p.relative_to(root))] = p.stat().st_mtime_ns
    return found


def _running_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _whole(path: Path):
    """Read a result file as the steps do; raises when it is damaged."""
    if path.suffix == ".json":
        files.read_json(path)
    elif path.suffix == ".csv":
        files.read_csv(path)
    elif path.suffix == ".pt":
        torch.load(path, weights_only=True)


def test_a_killed_run_resumes_with_only_unfinished_jobs_and_the_same_tables(tmp_path, reference):
    root = make_repo_copy(tmp_path, params=tiny_full())
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(
        ["snakemake", "--cores", "2", TARGET],
        cwd=root,
        env=tool_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # its own process group
    cells = [root / f"results/cells/{c}" for c in ("bs8_lam0", "bs8_lam0.9", "bs200_lam0", "bs200_lam0.9")]
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once a cell is done and another job is running
        done = [c for c in cells if all((c / f"seed{s}/train.json").exists() for s in (1, 2))]
        if done and _incomplete(root) and proc.poll() is None:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no point to kill at (snakemake returned {proc.poll()})")
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and every job it started
    proc.wait()
    time.sleep(0.5)
    assert not _running_in_group(proc.pid)  # nothing of the group runs on
    unfinished = _incomplete(root)
    before = _outputs(root)
    assert unfinished and TARGET not in before
    for path in before:  # every file under its final name is whole: the steps write under a temporary name
        _whole(root / path)

    locked = run(["snakemake", "--cores", "2", TARGET], root, check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    run(["snakemake", "--unlock"], root)
    # docs/troubleshooting.md's command; the default profile reruns incomplete jobs
    run(["snakemake", "--cores", "2", TARGET], root)
    after = _outputs(root)
    kept = {p for p in before if p not in unfinished}
    assert kept and all(after[p] == before[p] for p in kept), [p for p in kept if after[p] != before[p]]
    redone = {p for p in after if p not in before or after[p] != before[p]}
    assert unfinished <= redone  # what was running when killed was redone ...
    assert redone <= unfinished | (set(after) - set(before))  # ... and nothing that had finished
    assert_same_tables(tables(root), reference)


def test_jobs_submitted_through_the_cluster_generic_executor_give_the_local_results(tmp_path, reference):
    root = make_repo_copy(tmp_path, params=tiny_full())
    run(["snakemake", "--workflow-profile", "workflow/profiles/local-submit", TARGET], root, timeout=900)
    submitted = (root / "logs/submit.log").read_text().splitlines()
    assert len(submitted) >= 18 and all(line.split()[2].isdigit() for line in submitted)  # a job id each
    assert sum(" rule train " in line for line in submitted) == 4  # one job per (B, lambda) cell
    assert_same_tables(tables(root), reference)


def _dvc_locked_stages(root: Path) -> set[str]:
    """The stages dvc.lock records as run (DVC writes it after each stage it finishes)."""
    import yaml

    lock = root / "dvc.lock"
    return set((yaml.safe_load(lock.read_text()) or {}).get("stages", {})) if lock.exists() else set()


def test_a_killed_dvc_repro_resumes_and_gives_the_same_tables(tmp_path, reference):
    """SIGKILL to `dvc repro` and its stage mid-grid; docs/troubleshooting.md's answer is to run it
    again: the stages recorded in dvc.lock are not run again (their files keep their times), the
    stage that was running is redone, and the tables are those of an uninterrupted run."""
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    log_path = tmp_path / "killed.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        ["dvc", "repro", "aggregate"],
        cwd=root,
        env=dict(tool_env(), PYTHONUNBUFFERED="1"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = lambda: re.findall(r"Running stage '([^']+)'", log_path.read_text())  # noqa: E731
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once a train stage is recorded and another stage is running
        locked, running = _dvc_locked_stages(root), started()
        if (
            any(s.startswith("train@") for s in locked)
            and running
            and running[-1] not in locked
            and proc.poll() is None
        ):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"no point to kill at (dvc returned {proc.poll()})")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    assert not _running_in_group(proc.pid)
    log.close()
    finished, interrupted = _dvc_locked_stages(root), started()[-1]
    assert interrupted not in finished
    before = _outputs(root)
    assert "aggregate" not in finished and TARGET not in before
    for path in before:  # whole under its final name (temporary names, then a rename)
        _whole(root / path)

    res = run(["dvc", "repro", "aggregate"], root)  # docs/troubleshooting.md's answer: run it again
    again = re.findall(r"Running stage '([^']+)'", res.stdout)
    assert interrupted in again and not finished & set(again), (interrupted, finished, again)
    after = _outputs(root)
    done_cells = [s.split("@", 1)[1] for s in finished if s.startswith("train@")]
    assert done_cells
    for cell in done_cells:  # a train stage recorded before the kill is not run again
        b, lam = cell.split("-")
        kept = [p for p in before if p.startswith(f"results/cells/bs{b}_lam{lam}/")]
        assert kept and all(after[p] == before[p] for p in kept), (cell, res.stdout[-2000:])
    assert_same_tables(tables(root), reference)  # DVC's training on every core, the reference on one: bit for bit
