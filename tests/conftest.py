import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from batch_momentum import config

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool_env() -> dict:
    """The environment for workflow subprocesses: this interpreter's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def run(cmd, cwd, check=True, timeout=600):
    res = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )
    return res


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def tiny_full() -> dict:
    """params.yaml with tests/tiny.yaml laid over it (a plain dict): what
    `snakemake --configfile params.yaml tests/tiny.yaml` runs, and what a DVC user edits params.yaml into."""
    return config.overlay(load_yaml(REPO / "params.yaml"), load_yaml(REPO / "tests" / "tiny.yaml"))


def tiny_with(**sections) -> config.Params:
    """The tiny params, validated, with some keys changed: tiny_with(train={"lr": 1e6})."""
    return config.validate(config.overlay(tiny_full(), sections))


@pytest.fixture
def default_params():
    return config.load(REPO / "params.yaml")


@pytest.fixture
def tiny_params() -> dict:
    """params.yaml with tests/tiny.yaml laid over it: a whole params dict, for config.validate."""
    return tiny_full()


def make_repo_copy(dest: Path, params: dict | None = None, git: bool = False) -> Path:
    """A copy of the pipeline's files (not its outputs) in `dest`, optionally with other params."""
    for name in ("Snakefile", "dvc.yaml", "params.yaml", ".dvcignore", "pyproject.toml"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "workflow", dest / "workflow", symlinks=True)
    (dest / "profiles").symlink_to("workflow/profiles")  # where snakemake finds profiles/default itself
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / ".dvc", dest / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(copy.deepcopy(params), sort_keys=False))
    if git:
        for cmd in (
            ["git", "init", "-q"],
            ["git", "add", "-A"],
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
        ):
            run(cmd, dest)
    return dest


def curve_frame(loss, acc, cell="bs8_lam0.9/seed1", b=8, lam=0.9, seed=1, per_epoch=500):
    """A run's curve as aggregate reads it: one row per epoch with its key, updates and wall time;
    the validation accuracy 0.1 below the training accuracy."""
    n = len(loss)
    return pd.DataFrame(
        dict(
            cell=cell,
            batch_size=b,
            momentum=lam,
            seed=seed,
            epoch=range(n),
            updates=[per_epoch * e for e in range(n)],
            wall_s=[0.5 * e for e in range(n)],
            train_loss=loss,
            train_acc=acc,
            val_acc=[a - 0.1 for a in acc],
        )
    )
