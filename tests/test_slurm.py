"""The SLURM profile on a real SLURM: a one-node cluster on 127.0.0.1 from Debian's packages
(scripts/slurm_cluster.sh: munge, MariaDB + slurmdbd for the accounting sacct reads,
slurmctld, slurmd) runs the tiny grid through the Snakemake SLURM executor plugin with
workflow/profiles/slurm, changed only in partition, cores and memory. Checked: every job
went through sbatch (the accounting lists each), the tables equal a local run's, a job
cancelled with scancel mid-run is reported failed and redone by the next call, and with
train.device: cuda the jobs that compute ask SLURM for a GPU (--gpus=1, gres/gpu=1 in the
job's record).

Needs root and apt-get (Debian or Ubuntu) for the cluster; elsewhere skipped with the
script's one line, and failed under CI (.ci/run installs everything)."""

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conftest import REPO, make_repo_copy, run, tiny_full, tool_env
from test_resilience import TARGET, assert_same_tables, tables

pytestmark = pytest.mark.e2e
SCRIPT = REPO / "scripts/slurm_cluster.sh"
PORT = "26817"  # the test cluster's ports (26817-26820): clear of a cluster started by hand (16817-)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running one-node cluster, stopped (every daemon) after the module's tests."""
    if not shutil.which("bash") or os.name != "posix":
        pytest.skip("needs bash on Linux")
    env = dict(tool_env(), SLURM_CLUSTER_DIR=str(tmp_path_factory.mktemp("slurm")), SLURM_CLUSTER_PORT=PORT)
    env.pop("SLURM_CONF", None)
    start = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=900)
    if start.returncode != 0:
        line = (start.stderr.strip().splitlines() or ["(no message)"])[-1]
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)
        if start.returncode == 2 and not os.environ.get("CI"):
            pytest.skip(line)
        pytest.fail(f"scripts/slurm_cluster.sh start failed ({start.returncode}): {line}\n{start.stdout[-2000:]}")
    yield env
    stop = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    status = subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert not re.search(r"^\w+ running", status.stdout, flags=re.M), status.stdout  # every daemon it started is gone


def slurm_profile(root: Path) -> Path:
    """workflow/profiles/slurm with only partition, cores (the node's CPUs) and memory changed."""
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    profile["cores"] = os.cpu_count()
    profile["default-resources"].update(slurm_partition="debug", mem_mb=1000)
    folder = root / "slurm-test-profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def snakemake_slurm(root: Path, *args: str, check=True, timeout=900) -> subprocess.CompletedProcess:
    # the plugin waits 40 s before its first status query by default; a tiny job takes about 20 s
    cmd = ["snakemake", "--workflow-profile", "slurm-test-profile", "--slurm-init-seconds-before-status-checks", "3"]
    return run([*cmd, *args], root, check=check, timeout=timeout)


def accounting(env) -> list[dict]:
    """Every job of the cluster's accounting (sacct: slurmdbd's database), oldest first."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-a", "-S", "2000-01-01", "-o", "JobID,JobName,State,Comment,ReqTRES"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys = ("id", "name", "state", "comment", "tres")
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line]


def planned(root: Path, *args: str) -> Counter:
    """The jobs per rule a call would run (Snakemake's dry run)."""
    out = run(["snakemake", "-n", "--cores", "1", *args], root).stdout
    table = out.split("Job stats:")[1].split("total")[0]
    return Counter({m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M)})


def rule_of(comment: str) -> str:
    """The rule of a job from the comment the plugin gives it: rule_<name>[_wildcards_<values>]."""
    return comment.removeprefix("rule_").split("_wildcards_")[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny grid's tables from one local run."""
    root = make_repo_copy(tmp_path_factory.mktemp("local"), params=tiny_full())
    run(["snakemake", "--cores", "2", TARGET], root)
    return tables(root)


def test_the_slurm_profile_runs_cancels_and_reruns_the_grid_on_a_real_slurm(tmp_path, cluster, reference):
    root = make_repo_copy(tmp_path, params=tiny_full())
    slurm_profile(root)
    plan = planned(root, TARGET)
    victim = "rule_train_wildcards_8_0"  # cancelled mid-run: train of B = 8, λ = 0
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        cmd = [
            "snakemake",
            "--workflow-profile",
            "slurm-test-profile",
            "--slurm-init-seconds-before-status-checks",
            "3",
        ]
        proc = subprocess.Popen([*cmd, TARGET], cwd=root, env=tool_env(), stdout=log, stderr=subprocess.STDOUT)
        cancelled, deadline = None, time.time() + 600
        while cancelled is None and time.time() < deadline and proc.poll() is None:
            queue = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k"], env=cluster, capture_output=True, text=True)
            for job_id, state, comment in (ln.split("|", 2) for ln in queue.stdout.splitlines()):
                if comment == victim and state == "RUNNING":
                    subprocess.run(["scancel", job_id], env=cluster, check=True)
                    cancelled = job_id
            time.sleep(0.3)
        first = proc.wait(timeout=900)
    text = log_path.read_text()
    assert cancelled, f"the job {victim} was never seen running:\n{text[-3000:]}"
    # the first call: the cancelled job is reported failed, every other job it could run went through sbatch
    assert first != 0, text[-3000:]
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in text, text[-3000:]
    first_jobs = accounting(cluster)
    assert any(j["id"] == cancelled and j["state"].startswith("CANCELLED") for j in first_jobs), first_jobs
    assert len(first_jobs) == text.count("has been submitted with SLURM jobid"), first_jobs
    # the next call redoes the cancelled job and what needs it, and nothing that finished
    snakemake_slurm(root, TARGET)
    seen = {j["id"] for j in first_jobs}
    again = [j for j in accounting(cluster) if j["id"] not in seen]
    assert victim in {j["comment"] for j in again} and all(j["state"] == "COMPLETED" for j in again), again
    finished_first = {j["comment"] for j in first_jobs if j["state"] == "COMPLETED"}
    assert finished_first and not finished_first & {j["comment"] for j in again}, (finished_first, again)
    dry = run(["snakemake", "-n", "--cores", "1", TARGET], root)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    # every job of the plan went through sbatch and completed there, once (the victim: once more)
    done = Counter(rule_of(j["comment"]) for j in accounting(cluster) if j["state"] == "COMPLETED")
    assert done == plan, (done, plan)
    assert_same_tables(tables(root), reference)


def test_with_train_device_cuda_the_jobs_that_compute_ask_slurm_for_a_gpu(tmp_path, cluster):
    """No GPU is needed: the node offers a GPU slot (gres gpu:1), SLURM schedules the request and
    records it; the job itself then fails where CUDA has no device, which is not what is checked."""
    params = tiny_full()
    params["train"]["device"] = "cuda"
    root = make_repo_copy(tmp_path, params=params)
    slurm_profile(root)
    before = {j["id"] for j in accounting(cluster)}
    one_cell = "results/cells/bs8_lam0/seed1/train.json"
    res = snakemake_slurm(root, one_cell, "--verbose", check=False)
    text = res.stdout + res.stderr
    calls = {}  # rule: the sbatch command the plugin ran (logged with --verbose)
    for line in text.splitlines():
        found = re.search(r"sbatch call: .*--comment '?(rule_[^' ]+)", line)
        if found:
            calls[rule_of(found.group(1))] = line
    jobs = {rule_of(j["comment"]): j for j in accounting(cluster) if j["id"] not in before}
    assert set(jobs) == {"download", "prepare", "train"}, (jobs, text[-3000:])
    assert "--gpus=1" in calls["train"] and "gres/gpu=1" in jobs["train"]["tres"], (calls, jobs)
    for rule in ("download", "prepare"):  # they compute nothing on the device: no GPU asked
        assert "--gpus" not in calls[rule] and "gres/gpu" not in jobs[rule]["tres"], (calls, jobs)
