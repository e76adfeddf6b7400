"""The pipeline's steps described once: dvc.yaml is generated from this table, and a test
checks the Snakefile's rules against it (commands, inputs, outputs, params, code).

    python -m batch_momentum stages           # print dvc.yaml
    python -m batch_momentum stages --write   # write dvc.yaml
    python -m batch_momentum stages --check   # exit 1 if dvc.yaml differs from the table

Paths and commands use DVC's templating (`${data.dataset}`, `${item.bs}` for matrix
stages); the Snakefile's rules spell the same paths with wildcards. Code dependencies
are not written by hand: they are the files of the step module's import closure inside
the package, the __init__.py of every subpackage it passes through, plus the params schema
every step validates against, so an edit of any module a stage runs makes `dvc status`
report that stage as changed.
"""

from __future__ import annotations

import argparse
import ast
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml

from batch_momentum.io import tables as T
from batch_momentum.io.tables import REPORT_TABLES

PACKAGE = Path(__file__).resolve().parent
SRC = "src/batch_momentum"  # the package as the repository names it
DATASET = "${data.dataset}"
RAW = f"data/raw/{DATASET}"  # the download step's folder (files + manifest.json)
DATA = "data/prepared/${data.dataset}.pt"
CELL = "bs${item.bs}_lam${item.lam}"
GRID = {"bs": "${grid.batch_size}", "lam": "${grid.momentum}"}
EQUAL = {"bs": "${equal_acc.batch_size}", "lam": "${grid.momentum}"}  # Keskar's protocol: small and large, per λ
SMALL_EQ = "results/equal/bs${equal_acc.batch_size[0]}_lam${item.lam}"
LARGE_EQ = "results/equal/bs${equal_acc.batch_size[1]}_lam${item.lam}"
CHECKED = "results/params.valid"  # the check stage's output; every other DVC stage depends on it
TABLES = tuple(t.name for t in REPORT_TABLES)
# the keys of equal_acc both sides' train_equal stages track (each adds its own step_small or step_large)
EQUAL_SHARED = (
    "batch_size",
    "target_train_acc",
    "max_epochs",
    "patience",
    "extend_factor",
    "extend_cap",
    "seed",
)  # reports/tables/<t>.csv


@dataclass(frozen=True)
class Stage:
    name: str
    module: str  # the step's module (steps.<name>); its imports are the code deps
    cmd: str
    deps: tuple = ()  # data the step reads
    # (path, cached) pairs; a path may be a folder. Every output is cached: `dvc push` then carries a whole run
    # to a remote, and a clone's `dvc pull` gets the page without running a stage (docs/reviewing.md)
    outs: tuple = ()
    # folders or files of metrics: a path (not cached: DVC reads it from the workspace only) or (path, True):
    # cached, so every experiment and commit keeps its own copy for `dvc exp show` and `dvc metrics diff`
    # (reports/ is git-ignored, so an uncached file is in no experiment)
    metrics: tuple = ()
    params: tuple = ()  # sections or keys of params.yaml the step's results depend on
    matrix: dict = field(default_factory=dict)
    dvc_only: bool = False  # no Snakemake rule (the Snakefile does this itself)
    persist: tuple = ()  # outs DVC keeps on disk while the stage reruns (the step reuses them)
    # a step that trains or measures models: under DVC, which runs one stage at a time, its command asks for
    # every core (DVC_THREADS) and deals its models over them as processes; Snakemake runs such jobs side by
    # side with train.threads each
    all_cores: bool = False


# What DVC adds to the command of a stage with all_cores: the only difference between a DVC stage's command and
# its Snakemake rule's. The step then deals its dense models (seeds, candidates, seed pairs) over one process per
# core, one torch thread each (training.parallel): every model's numbers are bit for bit those of one process,
# where torch threads moved the subspace epsilon-sharpness, an L-BFGS-B maximum, by up to 1e-3 relative and
# saved 3% (docs/performance.md).
DVC_THREADS = " --threads all"


def shared_cmd(cmd: str) -> str:
    """A DVC stage's command as its Snakemake rule spells it (without DVC_THREADS)."""
    return cmd.replace(DVC_THREADS, "")


def _cmd(step: str, args: str) -> str:
    return f"python -m batch_momentum {step} --params params.yaml {args}"


STAGES = (
    # DVC only: validates the whole of params.yaml before any stage can lose its outputs (check.py)
    Stage(
        "check",
        "steps.check",
        _cmd("check", f"--out {CHECKED}"),
        params=("params.yaml",),
        outs=((CHECKED, True),),
        dvc_only=True,
    ),
    # Only the md5 are tracked (what the files are, not where from). The raw folder persists: on a
    # rerun the step keeps the files whose md5 match.
    Stage(
        "download",
        "steps.download",
        _cmd("download", f"--out {RAW}"),
        params=("data.dataset", f"download.md5.{DATASET}"),
        outs=((RAW, True),),
        persist=(RAW,),
    ),
    Stage(
        "prepare",
        "steps.prepare",
        _cmd("prepare", f"--raw {RAW} --out {DATA}"),
        deps=(RAW,),
        params=("data", f"download.md5.{DATASET}"),
        outs=((DATA, True),),
    ),
    Stage(
        "train",
        "steps.train",
        _cmd("train", f"--data {DATA} --batch-size ${{item.bs}} --momentum ${{item.lam}} --out results/cells/{CELL}"),
        deps=(DATA,),
        params=("data", "model", "train", "grid.seed"),
        matrix=GRID,
        outs=((f"results/cells/{CELL}", True),),
        all_cores=True,
    ),
    Stage(
        "evaluate",
        "steps.evaluate",
        _cmd(
            "evaluate",
            f"--data {DATA} --cell results/cells/{CELL} --out results/metrics/{CELL} "
            f"--landscape results/landscape/{CELL}",
        ),
        deps=(DATA, f"results/cells/{CELL}"),
        params=("grid.seed", "sharpness", "noise"),
        matrix=GRID,
        metrics=((f"results/metrics/{CELL}", True),),
        outs=((f"results/landscape/{CELL}", True),),
        all_cores=True,
    ),
    Stage(
        "timing",
        "steps.timing",
        _cmd("timing", f"--data {DATA} --out results/timing/timing.csv"),
        deps=(DATA,),
        params=("model", "timing", "train.device", "train.lr"),
        outs=(("results/timing/timing.csv", True),),
    ),
    # Keskar's protocol, one stage per batch size, each a matrix over λ: a side's results depend on its own
    # step list only, so editing equal_acc.step_large reruns the large batch's cells and not the small's (a
    # matrix stage's params cannot name a key by ${item}: DVC's templating fills values, not key choices)
    *(
        Stage(
            f"train_equal_{side}",
            "steps.train",
            _cmd(
                "train",
                f"--data {DATA} --batch-size ${{equal_acc.batch_size[{i}]}} --momentum ${{item.lam}} "
                f"--protocol equal_acc --out {eq}",
            ),
            deps=(DATA,),
            params=("data", "model", "train.device", "train.threads", *(f"equal_acc.{k}" for k in EQUAL_SHARED))
            + (f"equal_acc.step_{side}",),
            matrix={"lam": "${grid.momentum}"},
            outs=((eq, True),),
            all_cores=True,
        )
        for i, (side, eq) in enumerate((("small", SMALL_EQ), ("large", LARGE_EQ)))
    ),
    Stage(
        "evaluate_equal",
        "steps.evaluate",
        _cmd(
            "evaluate",
            f"--data {DATA} --cell results/equal/{CELL} --protocol equal_acc --out results/equal_metrics/{CELL} "
            f"--landscape results/equal_landscape/{CELL} --eta-out results/equal_eta/{CELL}.csv "
            f"--rescaling-out results/equal_rescaling/{CELL}.csv",
        ),
        deps=(DATA, f"results/equal/{CELL}"),
        # no gradient noise for the protocol's runs; verdict.sharpness_primary: the candidates' primary measure
        params=("equal_acc.seed", "sharpness", "verdict.sharpness_primary"),
        matrix=EQUAL,
        metrics=((f"results/equal_metrics/{CELL}", True),),
        outs=(
            (f"results/equal_landscape/{CELL}", True),
            (f"results/equal_eta/{CELL}.csv", True),
            (f"results/equal_rescaling/{CELL}.csv", True),
        ),
        all_cores=True,
    ),
    Stage(
        "interpolate",
        "steps.interpolate",
        _cmd(
            "interpolate",
            f"--data {DATA} --small {SMALL_EQ} --large {LARGE_EQ} --out results/interpolation/lam${{item.lam}}",
        ),
        deps=(DATA, SMALL_EQ, LARGE_EQ),
        params=("equal_acc.seed", "sharpness.interpolation_points"),
        matrix={"lam": "${grid.momentum}"},
        outs=(("results/interpolation/lam${item.lam}", True),),
        all_cores=True,
    ),
    Stage(
        "momentum",
        "steps.momentum",
        _cmd("momentum", "--out results/momentum/critical.json"),
        params=("momentum", "grid.momentum"),
        outs=(("results/momentum/critical.json", True),),
    ),
    Stage(
        "aggregate",
        "steps.aggregate",
        _cmd("aggregate", "--results results --out-dir reports/tables"),
        deps=(
            "results/cells",
            "results/metrics",
            "results/landscape",
            "results/equal",
            "results/equal_metrics",
            "results/equal_landscape",
            "results/equal_eta",
            "results/equal_rescaling",
        ),
        params=("data", "grid", "equal_acc.batch_size", "report.train_acc_levels", "report.val_acc_levels"),
        # cached: the tables are what `dvc plots show/diff` draw, and each experiment keeps its own
        outs=tuple((f"reports/tables/{t}.csv", True) for t in TABLES),
    ),
    Stage(
        "analyze",
        "steps.analyze",
        _cmd(
            "analyze",
            "--tables reports/tables --timing results/timing/timing.csv "
            "--momentum results/momentum/critical.json --out reports/lecture.json --metrics reports/verdicts.json",
        ),
        deps=(
            "reports/tables/cells.csv",
            "reports/tables/equal.csv",
            "reports/tables/candidates.csv",
            "reports/tables/brackets.csv",
            "reports/tables/time_to_accuracy.csv",
            "results/timing/timing.csv",
            "results/momentum/critical.json",
        ),
        params=("train.target_train_acc", "train.lr_momentum", "sharpness.epsilons", "equal_acc", "verdict"),
        metrics=(("reports/lecture.json", True), ("reports/verdicts.json", True)),
    ),
    Stage(
        "report",
        "steps.report",
        _cmd(
            "report",
            "--tables reports/tables --figures reports/figures --timing results/timing/timing.csv "
            "--interpolation-dir results/interpolation --momentum results/momentum/critical.json "
            "--lecture reports/lecture.json --out reports/index.html",
        ),
        deps=tuple(f"reports/tables/{t}.csv" for t in TABLES)
        + (
            "results/timing/timing.csv",
            "results/interpolation",
            "results/momentum/critical.json",
            "reports/lecture.json",
        ),
        params=("data", "model", "train", "grid", "sharpness", "noise", "timing", "momentum", "report", "verdict"),
        outs=(("reports/index.html", True), ("reports/figures", True)),
    ),
)


# DVC's plots (`dvc plots show`, `dvc plots diff`) drawn from the tables aggregate writes, one row per run
# or per epoch. The two templates are Vega-Lite files of this repository (paths from the repository root):
# curves.json draws a line per run, coloured by B, one panel per λ; by_batch.json draws each run against B
# (log scale) with the mean over seeds as a line, coloured by λ, one panel per column. Both tell the
# revisions of a diff apart by dash and marker.
TEMPLATES = "workflow/dvc"
PLOTS = {
    "curves_train_acc": dict(
        title="training accuracy of every run, per epoch",
        template=f"{TEMPLATES}/curves.json",
        x=T.EPOCH,
        y={"reports/tables/curves.csv": T.TRAIN_ACC},
        x_label="epoch",
        y_label="training accuracy",
    ),
    "curves_train_loss": dict(
        title="training loss of every run, per epoch",
        template=f"{TEMPLATES}/curves.json",
        x=T.EPOCH,
        y={"reports/tables/curves.csv": T.TRAIN_LOSS},
        x_label="epoch",
        y_label="training loss",
    ),
    "accuracy_vs_batch": dict(
        title="accuracy against B after the same epoch budget",
        template=f"{TEMPLATES}/by_batch.json",
        x=T.BATCH_SIZE,
        y={"reports/tables/cells.csv": [T.TRAIN_ACC, T.TEST_ACC]},
        x_label="batch size B",
        y_label="accuracy",
    ),
    "sharpness_vs_batch": dict(
        title="Hessian top eigenvalue and trace against B after the same epoch budget",
        template=f"{TEMPLATES}/by_batch.json",
        x=T.BATCH_SIZE,
        y={"reports/tables/cells.csv": [T.HESSIAN_TOP, T.HESSIAN_TRACE]},
        x_label="batch size B",
        y_label="Hessian at the final weights",
    ),
    "equal_accuracy": dict(
        title="small vs large batch at equal training accuracy (Keskar et al.)",
        template=f"{TEMPLATES}/by_batch.json",
        x=T.BATCH_SIZE,
        y={"reports/tables/equal.csv": [T.TEST_ACC, T.HESSIAN_TOP, T.EPOCHS]},
        x_label="batch size B",
        y_label="value at equal training accuracy",
    ),
}


class ReportCategories(NamedTuple):
    """The categories of `snakemake --report`, one per row of the lecture's table (the report lists them in
    alphabetical order, hence the numbers)."""

    lecture: str = "0. The lecture's table"
    timing: str = "1. Timing"
    noise: str = "2. Gradient noise"
    optimization: str = "3. Optimization"
    generalization: str = "4. Generalization"
    sharpness: str = "5. Sharp vs flat minima"
    momentum: str = "6. Momentum"
    other: str = "7. Other figures"


REPORT_CATEGORIES = ReportCategories()
# The report step's figures (reports/figures/<name>.png) by name: the first prefix that matches; then any
# <measure>_vs_batch is a sharpness measure against B.
FIGURE_CATEGORIES = (
    ("time_to_accuracy", REPORT_CATEGORIES.optimization),
    ("timing", REPORT_CATEGORIES.timing),
    ("time_per", REPORT_CATEGORIES.timing),
    ("gradient_noise", REPORT_CATEGORIES.noise),
    ("accuracy_vs_batch", REPORT_CATEGORIES.optimization),
    ("curves", REPORT_CATEGORIES.optimization),
    ("equal_accuracy", REPORT_CATEGORIES.generalization),
    ("eta_view", REPORT_CATEGORIES.generalization),
    ("temperature", REPORT_CATEGORIES.generalization),
    ("mechanism", REPORT_CATEGORIES.sharpness),  # flat minimum -> better testing, the row after sharp vs flat
    ("interpolation", REPORT_CATEGORIES.sharpness),
    ("directions", REPORT_CATEGORIES.sharpness),
    ("sharpness", REPORT_CATEGORIES.sharpness),
    ("momentum", REPORT_CATEGORIES.momentum),
)


def figure_category(name: str) -> str:
    """The `snakemake --report` category of a figure by its name; "7. Other figures" when none matches
    (the end-to-end test fails then, so a new figure gets its lecture row)."""
    found = next((cat for prefix, cat in FIGURE_CATEGORIES if name.startswith(prefix)), None)
    if found is None and name.endswith("_vs_batch"):
        found = REPORT_CATEGORIES.sharpness
    return found or REPORT_CATEGORIES.other


def by_name(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


def module_file(module: str) -> Path | None:
    """The file of a module of the package by its dotted name inside it ("training.loop", "config"):
    the module's .py, or a subpackage's __init__.py; None when there is no such module."""
    base = PACKAGE.joinpath(*module.split(".")) if module else PACKAGE
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _parents(module: str) -> list[str]:
    """The subpackages importing `module` runs first: "training.loop" -> ["", "training"]."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(len(parts))]


def imports(module: str) -> set[str]:
    """Modules of the package (dotted names inside it) that `module` imports, at top level or inside
    functions, in every form: `import batch_momentum.a.b`, `from batch_momentum.a import b` (b a module
    or a name in a), `from batch_momentum import a`, and the relative `from . import b`, `from ..a import b`."""
    path = module_file(module)
    return {m for m in _targets(path, path.stat().st_mtime_ns, module) if module_file(m) is not None}


@functools.cache
def _targets(path: Path, mtime_ns: int, module: str) -> frozenset[str]:
    """What `imports` finds in one file, each import's module and each imported name as a possible
    submodule. Cached by file and modification time: every stage's closure reads the same files, and
    the Snakefile asks for all of them at start-up."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package if module else []
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("batch_momentum.")]
            found.update(n.split(".", 1)[1] for n in names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module == "batch_momentum" or (node.module or "").startswith("batch_momentum."):
                target = node.module.partition(".")[2]
            else:
                continue
            found.add(target)  # `from pkg import name`: name may be a module of pkg
            found.update(f"{target}.{a.name}" if target else a.name for a in node.names)
    return frozenset(found)


def import_closure(module: str) -> set[str]:
    """Every module of the package that running `module` imports, directly or not, with the
    subpackages (their __init__.py) Python runs on the way."""
    todo, seen = [module], set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(i for i in imports(m) | set(_parents(m)) if i not in seen)
    return seen


def code_deps(module: str) -> list[str]:
    """Repository paths of every package file a step runs: the step module's import closure, the
    entry point (cli, __main__), the params schema, and the templates when the step renders them."""
    seen = import_closure(module) | import_closure("cli") | {"__main__"}
    paths = sorted(f"{SRC}/{module_file(m).relative_to(PACKAGE).as_posix()}" for m in seen)
    paths.append(f"{SRC}/config/params.schema.yaml")
    if "report.page" in seen:
        paths += [f"{SRC}/report/templates/{p.name}" for p in sorted((PACKAGE / "report/templates").glob("*.j2"))]
    return paths


def code(stage: str) -> list[str]:
    """The package files a stage runs, by stage name (the Snakefile's rules list them as inputs)."""
    return code_deps(by_name(stage).module)


def param_keys(params, stage: str) -> list[str]:
    """The params keys a stage tracks, with ${data.dataset} filled in (download.md5.mnist), as DVC
    resolves them: a stage tracks only the checksums of the dataset in use."""
    return [k.replace(DATASET, params.data.dataset) for k in by_name(stage).params]


def tracked(params, stage: str) -> dict:
    """{key: value} of the params (a config.Params) a stage's results depend on, as dvc.yaml
    lists them; a Snakemake rule holds this as a param, so a change of any of them reruns the rule."""
    plain, out = params.as_dict(), {}
    for key in param_keys(params, stage):
        value = plain
        for part in key.split("."):
            value = value[part]
        out[key] = value
    return out


GPU_DRIVERS = ("/proc/driver/nvidia/version", "/dev/kfd", "/dev/dxg")  # NVIDIA's, AMD's ROCm, WSL2's


def gpus(device: str) -> int:
    """The GPUs a Snakemake job that computes on train.device asks for: 1 for cuda, and for auto
    where torch sees one. torch is imported to find out only where a GPU driver is loaded: on
    other machines it would cost every snakemake call about a second."""
    if device == "cuda":
        return 1
    if device != "auto" or not any(Path(p).exists() for p in GPU_DRIVERS):
        return 0
    import torch

    return int(torch.cuda.is_available())


def dvc_stage(s: Stage) -> dict:
    out: dict = {}
    if s.matrix:
        out["matrix"] = dict(s.matrix)
    out["cmd"] = s.cmd + (DVC_THREADS if s.all_cores else "")
    out["deps"] = list(s.deps) + ([] if s.dvc_only else [CHECKED]) + code_deps(s.module)
    if s.params == ("params.yaml",):  # the whole file, every key (DVC's `- params.yaml:`)
        out["params"] = [{"params.yaml": None}]
    elif s.params:
        out["params"] = list(s.params)
    if s.metrics:
        out["metrics"] = [{m: {"cache": False}} if isinstance(m, str) else m[0] for m in s.metrics]
    out["outs"] = [
        {path: ({} if cached else {"cache": False}) | ({"persist": True} if path in s.persist else {})}
        if not cached or path in s.persist
        else path
        for path, cached in s.outs
    ]
    return out


HEADER = """\
# batch_momentum under DVC: `dvc repro`. GENERATED from src/batch_momentum/pipeline.py by
# `python -m batch_momentum stages --write`; edit that table, not this file (a test fails
# when the two differ). The same steps and commands as the Snakefile; matrix stages expand
# the grid of params.yaml over (B, lambda) cells (train@8-0.9), each doing every seed.
# DVC runs the stages one after another, so those that train or measure models take every core
# (--threads all: a cell's models dealt over one process per core); use snakemake for parallel cells. `plots:` are drawn
# from the tables by `dvc plots show` / `dvc plots diff` (templates in workflow/dvc/); the
# verdicts' numbers (reports/verdicts.json) are metrics for `dvc exp show` / `dvc metrics diff`.
"""


def dvc_yaml() -> str:
    doc = {"stages": {s.name: dvc_stage(s) for s in STAGES}, "plots": [{k: v} for k, v in PLOTS.items()]}
    body = yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="batch_momentum stages", description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write dvc.yaml")
    ap.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is not what the table generates")
    ap.add_argument("--file", default="dvc.yaml")
    args = ap.parse_args(argv)
    text = dvc_yaml()
    path = Path(args.file)
    if args.check:
        if not path.exists() or path.read_text() != text:
            print(
                f"error: {path} differs from src/batch_momentum/pipeline.py; run "
                f"`python -m batch_momentum stages --write`",
                file=sys.stderr,
            )
            return 1
        print(f"{path} matches the stage table")
        return 0
    if args.write:
        path.write_text(text)
        print(f"wrote {path} ({len(STAGES)} stages)")
        return 0
    sys.stdout.write(text)
    return 0
