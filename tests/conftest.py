import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def merged(base: dict, override: dict) -> dict:
    """`override` laid over `base` key by key, as snakemake --configfile base override does."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def tiny_full() -> dict:
    """params.yaml with tests/tiny.yaml laid over it: what a DVC user edits params.yaml into."""
    return merged(load_yaml(REPO / "params.yaml"), load_yaml(REPO / "tests" / "tiny.yaml"))


@pytest.fixture
def default_params():
    from batch_momentum import config
    return config.load(REPO / "params.yaml")


@pytest.fixture
def tiny_params():
    return load_yaml(REPO / "tests" / "tiny.yaml")


def make_repo_copy(dest: Path, params: dict | None = None, git: bool = False) -> Path:
    """A copy of the pipeline's files (not its outputs) in `dest`, optionally with other params."""
    for name in ("Snakefile", "dvc.yaml", "params.yaml", ".dvcignore", "pyproject.toml"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "workflow", dest / "workflow", symlinks=True)
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / ".dvc", dest / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(copy.deepcopy(params), sort_keys=False))
    if git:
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
            run(cmd, dest)
    return dest
