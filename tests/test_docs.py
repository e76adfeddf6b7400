"""Every shell command in README.md and docs/*.md still runs or at least parses, every link between
them lands on a file, and the README's test command is the one CI runs.

A command is checked by the tool it calls, without running anything long:
- snakemake: a dry run (-n) of the same arguments in a copy of the repository;
- dvc: DVC's own argument parser, the stages named exist in dvc.yaml, the keys of `-S` in params.yaml;
- python -m batch_momentum <step> (or batch-momentum): the step's own argparse parser parses the
  arguments (the step does not run); python scripts/x.py likewise; python -c: the code compiles;
- bash scripts/x.sh: the script exists and `bash -n` accepts it;
- python -m pytest: the test files named exist;
- a few plain tools (git, tail, pip install, ...) are accepted as they are.
Anything else is an error, so a command the docs gain must be taught here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from unittest import mock

import pytest
import yaml

from conftest import REPO, make_repo_copy, run

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Linked from the README but written on other branches: a link to them may dangle until they merge.
ELSEWHERE = {"docs/cluster.md", "docs/reviewing.md"}
FENCE = re.compile(r"^([ \t]*)```(\w*)[ \t]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
SHELL = {"bash", "sh", "shell"}
SEPARATORS = {"&&", "||", ";", "|", "&"}
# Plain tools, and a scheduler's own commands (cluster.md), accepted as they are.
PLAIN = {"git", "tail", "cat", "ls", "cd", "open", "xdg-open", "pip", "pip3", "echo", "mkdir", "cp"}
PLAIN |= {"sbatch", "squeue", "sacct", "scancel", "srun", "sinfo"}
REPO_PATHS = ("configs/", "tests/", "scripts/", "workflow/", "src/", "docs/")


def shell_blocks(text: str) -> list[str]:
    """The bodies of the ```bash (sh, shell) blocks, indented ones (inside a list) dedented."""
    out = []
    for m in FENCE.finditer(text):
        if m.group(2) in SHELL:
            indent = len(m.group(1))
            out.append("\n".join(line[indent:] for line in m.group(3).splitlines()))
    return out


def _tokens(line: str) -> list[str]:
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    return list(lex)


def commands(block: str) -> list[list[str]]:
    """The simple commands of a shell block: a line goes on while a quote is open or it ends in a
    backslash; comments are dropped; a line is split at && || ; | &."""
    out, buf = [], ""
    for line in block.splitlines():
        buf += line + "\n"
        if line.rstrip().endswith("\\"):
            buf = buf.rstrip()[:-1] + " "
            continue
        try:
            tokens = _tokens(buf)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        buf = ""
        cmd = []
        for tok in [*tokens, ";"]:
            if tok in SEPARATORS:
                if cmd:
                    out.append(cmd)
                cmd = []
            else:
                cmd.append(tok)
    if buf.strip():
        raise ValueError(f"unterminated command: {buf.strip()[:80]}")
    return out


class _Parsed(BaseException):
    """Raised right after argparse parsed the arguments, so that the command itself never runs."""


@contextlib.contextmanager
def _stop_after_parsing():
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_then_stop):
        yield


def parse_only(call) -> str | None:
    """Run `call` until its argparse parser has parsed the command line; None when it parsed, else
    what went wrong (argparse's message, or that nothing parsed at all)."""
    err = io.StringIO()
    with _stop_after_parsing(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = call()
        except _Parsed:
            return None
        except SystemExit as exc:  # --help exits 0 once it parsed; an error exits 2
            if exc.code == 0:
                return None
            return f"exit {exc.code}: {err.getvalue().strip()[-300:]}"
    return f"no arguments were parsed (returned {rc}): {err.getvalue().strip()[-300:]}"


def check_step(argv: list[str]) -> str | None:
    from batch_momentum import cli

    return parse_only(lambda: cli.main(argv))


def check_python_script(path: str, args: list[str]) -> str | None:
    script = REPO / path
    if not script.is_file():
        return f"{path} does not exist"

    def call():
        with mock.patch.object(sys, "argv", [str(script), *args]):
            runpy.run_path(str(script), run_name="__main__")

    return parse_only(call)


def check_dvc(args: list[str]) -> str | None:
    from dvc.cli import parse_args

    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
        try:
            ns = parse_args(args)
        except BaseException as exc:  # DvcParserError, or SystemExit from argparse
            return f"dvc cannot parse it ({type(exc).__name__}): {out.getvalue().strip()[-300:]}"
    stages = set(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    for target in getattr(ns, "targets", None) or []:
        if target.split("@", 1)[0] not in stages:
            return f"no stage {target!r} in dvc.yaml"
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for setting in getattr(ns, "set_param", None) or []:
        node = params
        for key in setting.split("=", 1)[0].split("."):
            if not isinstance(node, dict) or key not in node:
                return f"-S {setting}: no such key in params.yaml"
            node = node[key]
    return None


def check_bash_script(path: str) -> str | None:
    if not (REPO / path).is_file():
        return f"{path} does not exist"
    res = subprocess.run(["bash", "-n", str(REPO / path)], capture_output=True, text=True)
    return None if res.returncode == 0 else f"bash -n {path}: {res.stderr.strip()}"


def missing_paths(args: list[str]) -> str | None:
    """A file of the repository that an argument names (configs/..., workflow/profiles/...) and that
    does not exist. Snakemake, for one, ignores a --workflow-profile folder that is not there."""
    for arg in args:
        if arg.startswith(REPO_PATHS) and "<" not in arg and not (REPO / arg).exists():
            return f"{arg} does not exist"
    return None


def check(cmd: list[str]) -> str | None:
    """The error of one simple command other than snakemake's (those are dry-run together), or None."""
    while cmd and (re.fullmatch(r"\w+=.*", cmd[0]) or cmd[0] == "sudo"):  # VAR=value or sudo before the command
        cmd = cmd[1:]
    prog, args = cmd[0].removeprefix(".venv/bin/"), cmd[1:]
    missing = missing_paths(args)
    if missing:
        return missing
    if prog in (".", "source"):
        return None if args[0] == ".venv/bin/activate" or (REPO / args[0]).is_file() else f"no file {args[0]}"
    if prog in ("bash", "sh"):
        return check_bash_script(args[0])
    if prog.startswith("scripts/") and prog.endswith(".sh"):
        return check_bash_script(prog)
    if prog == "dvc":
        return check_dvc(args)
    if prog == "batch-momentum":
        return check_step(args)
    if prog in ("python", "python3"):
        if args[:2] == ["-m", "batch_momentum"]:
            return check_step(args[2:])
        if args[:2] == ["-m", "pytest"]:
            return None  # the paths it names were checked above
        if args[:2] == ["-m", "pip"]:
            return None if args[2:3] == ["install"] else f"pip {args[2:3]}: only pip install is expected"
        if args[:1] == ["-c"]:
            try:
                compile(args[1], "<python -c>", "exec")
            except SyntaxError as exc:
                return f"python -c does not compile: {exc}"
            return None
        if args and args[0].endswith(".py"):
            return check_python_script(args[0], args[1:])
        return f"python {' '.join(args[:2])}: not a form this test knows"
    if prog in PLAIN:
        return None
    if prog == "snakemake":
        return None  # its paths exist (above); the dry runs check the rest
    return f"{prog}: not a command this test knows how to check (teach tests/test_docs.py)"


def snakemake_errors(cmds: list[list[str]], root: Path) -> dict[str, str]:
    """Dry-run each distinct snakemake command in the repository copy `root`; their errors."""
    errors = {}
    for args in dict.fromkeys(tuple(c[1:]) for c in cmds):
        argv = ["snakemake", *args]
        if "--report" in argv:  # builds from a finished run, ignoring -n: dry-run the same workflow without it
            i = argv.index("--report")
            argv = argv[:i] + argv[i + 2 :]
        if "-n" not in args and "--dry-run" not in args:
            argv.append("-n")
        res = run(argv, root, check=False, timeout=300)
        out = (res.stdout + res.stderr).strip()
        plugin = re.search(r"argument --executor/-e: invalid choice: '([\w-]+)'", out)
        if res.returncode != 0 and plugin and not _executor_installed(plugin.group(1)):
            # A cluster's executor plugin (pip install snakemake-executor-plugin-<name>) is not
            # in the test extras: the command cannot be dry-run here, which is not an error of the docs.
            warnings.warn(f"not dry-run, its executor plugin is not installed: {shlex.join(argv)}", stacklevel=1)
            continue
        if res.returncode != 0:
            errors[shlex.join(["snakemake", *args])] = out[-600:]
    return errors


def _executor_installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"snakemake_executor_plugin_{name.replace('-', '_')}") is not None


def repo_copy(dest: Path) -> Path:
    """A copy of the pipeline with the files the docs' commands name (configs/, tests/tiny.yaml)."""
    root = make_repo_copy(dest)
    shutil.copytree(REPO / "configs", root / "configs")
    (root / "tests").mkdir()
    shutil.copy2(REPO / "tests" / "tiny.yaml", root / "tests" / "tiny.yaml")
    return root


def all_errors(docs: dict[str, str]) -> tuple[dict[str, str], dict[tuple, str]]:
    """Every command of every doc (name -> text) but snakemake's checked: 'doc: command' -> what is
    wrong; and the snakemake commands (argv -> the doc naming it), to be dry-run."""
    errors, snakemake = {}, {}
    for name, text in docs.items():
        for block in shell_blocks(text):
            try:
                cmds = commands(block)
            except ValueError as exc:
                errors[f"{name}: {block[:60]}"] = str(exc)
                continue
            for cmd in cmds:
                if cmd[0].removeprefix(".venv/bin/") == "snakemake" and not missing_paths(cmd[1:]):
                    snakemake.setdefault(tuple(cmd), name)
                    continue
                err = check(cmd)
                if err:
                    errors[f"{name}: {shlex.join(cmd)}"] = err
    return errors, snakemake


def dry_run_errors(snakemake: dict[tuple, str], root: Path) -> dict[str, str]:
    """Each distinct snakemake command dry-run in `root`: 'doc: command' -> its error."""
    found = snakemake_errors([list(c) for c in snakemake], root)
    errors = {}
    for cmd, err in found.items():
        names = {n for c, n in snakemake.items() if shlex.join(["snakemake", *c[1:]]) == cmd}
        errors[f"{', '.join(sorted(names))}: {cmd}"] = err
    return errors


def _docs() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text() for p in DOCS}


def _report(errors: dict[str, str]) -> str:
    return "\n\n".join(f"{k}\n  {v}" for k, v in errors.items())


def test_every_command_in_the_readme_and_docs_parses():
    docs = _docs()
    n = sum(len(commands(b)) for t in docs.values() for b in shell_blocks(t))
    assert n >= 25, f"only {n} commands found: is the fence parsing broken?"
    errors, snakemake = all_errors(docs)
    assert len(snakemake) >= 4, snakemake
    assert not errors, _report(errors)


@pytest.mark.e2e
def test_every_snakemake_command_in_the_readme_and_docs_dry_runs(tmp_path):
    """A dry run each (half a minute or more on a busy two-core machine, so e2e)."""
    _, snakemake = all_errors(_docs())
    errors = dry_run_errors(snakemake, repo_copy(tmp_path))
    assert not errors, _report(errors)


BAD = [
    "dvc repro --no-such-flag",
    "dvc repro no_such_stage",
    "dvc exp run -S 'grid.no_such_key=[1]'",
    "python -m batch_momentum train --no-such-option 1",
    "python -m batch_momentum no_such_step",
    "batch-momentum stages --no-such",
    "bash scripts/no_such.sh",
    "snakemake --workflow-profile workflow/profiles/no_such -n",
    "python scripts/offline_wheels.py --no-such",
    'python -c "print(("',
    "make all",
]
GOOD = [
    "dvc repro check",
    "python -m batch_momentum train --data d.pt --batch-size 8 --momentum 0.9 --out o",
    "python -m batch_momentum evaluate --help",
    "bash scripts/setup.sh",
]
BAD_SNAKEMAKE = [
    "snakemake --cores all --configfile params.yaml configs/nosuch.yaml",  # caught before the dry run
    "snakemake --cores all --no-such-option",
    "snakemake --cores all no_such_target",
]
GOOD_SNAKEMAKE = ["snakemake --cores all --configfile params.yaml tests/tiny.yaml"]


def _planted(lines: list[str]) -> str:
    return "\n".join(f"```bash\n{c}\n```\n" for c in lines)


def _caught(errors: dict[str, str]) -> set[str]:
    return {key.split(": ", 1)[1] for key in errors}


def test_a_planted_bad_command_of_each_kind_is_caught():
    """The checker must fail on each of these and pass the good ones beside them."""
    errors, _ = all_errors({"planted.md": _planted(BAD + GOOD)})
    assert _caught(errors) == {shlex.join(c) for b in BAD for c in commands(b)}, errors


@pytest.mark.e2e
def test_a_planted_bad_snakemake_command_is_caught(tmp_path):
    errors, snakemake = all_errors({"planted.md": _planted(BAD_SNAKEMAKE + GOOD_SNAKEMAKE)})
    errors |= dry_run_errors(snakemake, repo_copy(tmp_path))
    assert _caught(errors) == set(BAD_SNAKEMAKE), errors


def test_commands_are_split_as_the_shell_splits_them():
    block = (
        ". .venv/bin/activate && dvc repro   # a comment\n"
        'python -c "import sys\nprint(sys.argv)" configs/mnist.yaml\n'
        "snakemake --cores all \\\n  -n\n"
    )
    assert commands(block) == [
        [".", ".venv/bin/activate"],
        ["dvc", "repro"],
        ["python", "-c", "import sys\nprint(sys.argv)", "configs/mnist.yaml"],
        ["snakemake", "--cores", "all", "-n"],
    ]
    with pytest.raises(ValueError, match="unterminated"):
        commands('python -c "never closed')
    text = "text\n```bash\nls\n```\n  ```sh\n  tail -f x\n  ```\n```\nnot shell\n```\n"
    assert shell_blocks(text) == ["ls", "tail -f x"]


def test_every_relative_link_lands_on_a_file_and_every_anchor_on_a_heading():
    """Links between the README and docs/ (the two files other branches write may be missing)."""

    def anchors(path: Path) -> set[str]:
        heads = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.M)
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}

    broken = []
    for doc in DOCS:
        text = FENCE.sub("", doc.read_text())
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+://", target):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
            if not path.exists():
                if rel not in ELSEWHERE:
                    broken.append(f"{doc.name}: {target}")
            elif anchor and anchor not in anchors(path):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_readme_test_command_is_the_one_ci_runs():
    ci = (REPO / ".ci" / "run").read_text()
    cmd = re.search(r"&& (\.venv/bin/python -m pytest)\s*$", ci, flags=re.M).group(1)
    readme = (REPO / "README.md").read_text()
    assert any(cmd in block.splitlines() for block in shell_blocks(readme)), cmd


def test_the_readme_is_short_and_its_lines_are_short():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 180, len(lines)
    long = [(i, len(line)) for i, line in enumerate(lines, 1) if len(line) > 100 and "http" not in line]
    assert not long, long


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_the_screenshot_script_renders_a_page_at_1400_by_900(tmp_path):
    from PIL import Image

    page = tmp_path / "index.html"
    page.write_text("<html><body style='background:#fff'><h1>report</h1></body></html>")
    png = tmp_path / "shot.png"
    res = subprocess.run(
        ["bash", str(REPO / "scripts/screenshot.sh"), str(page), str(png)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    with Image.open(png) as im:
        assert im.size == (1400, 900)
        assert im.convert("L").getextrema()[0] < 128  # the heading's text was drawn
    res = subprocess.run(
        ["bash", str(REPO / "scripts/screenshot.sh"), str(tmp_path / "missing.html"), str(png)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "snakemake" in res.stderr, res.stderr
