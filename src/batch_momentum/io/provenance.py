"""Where a result came from: the code (package version, git commit and whether the tree
differed from it), the interpreter, torch and the device. Every training summary records
it; the report prints one line of it.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def code_version() -> dict:
    """Package version, git commit of the working directory (None outside a git checkout), and
    `git_dirty`: whether a tracked file differs from that commit (dvc.lock, which `dvc repro`
    rewrites, is left out; untracked files such as results are not counted)."""
    try:
        version = metadata.version("batch_momentum")
    except metadata.PackageNotFoundError:
        version = None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    changed = [line[3:] for line in (status or "").splitlines() if line[3:].strip() != "dvc.lock"]
    return dict(
        package_version=version,
        git_commit=commit.strip() if commit else None,
        git_dirty=bool(changed) if commit else None,
        python=platform.python_version(),
    )


def describe(rows) -> str:
    """One line from records with the keys code_version() gives plus torch_version and device
    (e.g. the rows of reports/tables/cells.csv as dicts); several values are listed."""

    def values(key):
        return sorted({str(r.get(key)) for r in rows if r.get(key) is not None and r.get(key) == r.get(key)})

    def one(key, missing="unknown"):
        found = values(key)
        return ", ".join(found) if found else missing

    commits = values("git_commit")
    dirty = any(str(r.get("git_dirty")).lower() == "true" for r in rows)
    tree = " with uncommitted changes" if dirty else " (clean tree)"
    code = f"git commit {', '.join(c[:12] for c in commits)}{tree}" if commits else "not a git checkout"
    return (
        f"Code: batch_momentum {one('package_version')}, {code}; Python {one('python')}, "
        f"torch {one('torch_version')}, device {one('device')}."
    )
