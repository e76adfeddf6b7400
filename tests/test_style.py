"""The code's style is checked, not hoped for: ruff's linter and formatter (pyproject.toml
[tool.ruff]: pycodestyle, pyflakes, import order, bugbear, pyupgrade; lines of at most 120
characters) pass on the package, the tests and the scripts."""

import subprocess
import sys

from conftest import REPO

PATHS = ["src", "tests", "scripts"]


def ruff(*args):
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)


def test_the_tree_is_clean_under_ruff_check():
    res = ruff("check", "--no-cache", *PATHS)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_the_tree_is_formatted_by_ruff():
    res = ruff("format", "--check", "--no-cache", *PATHS)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_the_checks_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nx = ( 1,2 )\n" + "y = '" + "a" * 130 + "'\n")
    checked = ruff("check", "--no-cache", "--config", str(REPO / "pyproject.toml"), str(bad))
    assert checked.returncode == 1 and "F401" in checked.stdout and "E501" in checked.stdout
    formatted = ruff("format", "--check", "--no-cache", "--config", str(REPO / "pyproject.toml"), str(bad))
    assert formatted.returncode == 1
