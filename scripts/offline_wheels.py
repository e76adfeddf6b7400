"""Wheels for a machine without a network that already has Python with PyTorch and the
scientific stack (a GPU node, say): every package the pipeline needs beyond that stack, at the
versions installed in this .venv, for the target's Python version, into one folder.

    .venv/bin/python scripts/offline_wheels.py --python-version 3.12 --dest .whl
    # on the target:
    python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD/src

What the target is assumed to have (not fetched): torch, torchvision, numpy, scipy, pandas,
matplotlib and what they need; --also-skip names more. Packages with compiled code are fetched as
manylinux x86-64 wheels for that Python; packages published only as source are built into wheels
here (pure Python).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

NEEDED = ["snakemake", "snakemake-executor-plugin-cluster-generic", "mnist1d", "jsonschema", "pyyaml", "jinja2"]
STACK = ["torch", "torchvision", "numpy", "scipy", "pandas", "matplotlib"]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names, python_version: str, stop=frozenset()) -> dict[str, str]:
    """{name: installed version} of `names` and everything they require here, short of `stop`."""
    seen, todo = {}, [norm(n) for n in names]
    while todo:
        n = todo.pop()
        if n in seen or n in stop:
            continue
        try:
            dist = md.distribution(n)
        except md.PackageNotFoundError:
            raise SystemExit(
                f"offline_wheels: {n} is not installed in this environment; run scripts/setup.sh first"
            ) from None
        seen[n] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": "", "python_version": python_version}):
                todo.append(norm(req.name))
    return seen


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python-version", default="3.12", help="the target's Python, e.g. 3.12")
    ap.add_argument("--dest", default=".whl")
    ap.add_argument("--also-skip", nargs="*", default=[], help="more packages the target already has")
    args = ap.parse_args(argv)
    stop = frozenset(closure(STACK, args.python_version)) | {norm(n) for n in args.also_skip}
    wanted = closure(NEEDED, args.python_version, stop)
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    plat = [a for p in PLATFORMS for a in ("--platform", p)] + ["--platform", "any"]
    for name, version in sorted(wanted.items()):
        spec = f"{name}=={version}"
        got = subprocess.run(
            pip
            + [
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--implementation",
                "cp",
                "--python-version",
                args.python_version,
                *plat,
                "-d",
                str(dest),
                spec,
            ],
            capture_output=True,
            text=True,
        )
        if got.returncode:  # published as source only: build a (pure-Python) wheel here
            built = subprocess.run(
                pip + ["wheel", "-q", "--no-deps", "-w", str(dest), spec], capture_output=True, text=True
            )
            if built.returncode:
                raise SystemExit(
                    f"offline_wheels: could not fetch or build {spec}: {built.stderr.strip().splitlines()[-1:]}"
                )
    wheels = sorted(dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"{len(wanted)} packages, {len(wheels)} wheels, {size:.1f} MiB in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
