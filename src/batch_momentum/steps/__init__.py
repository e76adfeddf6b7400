"""The pipeline's steps: one module per `python -m batch_momentum <step>`, each parsing its
arguments and calling the library once. Nothing in the library imports a step."""

import argparse
import os


def parser(doc: str) -> argparse.ArgumentParser:
    """A step's argument parser from its module docstring ("<step>: what it does ..."), with the
    --params option every step has."""
    ap = argparse.ArgumentParser(prog=f"batch_momentum {doc.split(':', 1)[0]}", description=doc.splitlines()[0])
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return ap


ALL = "all"  # --threads all: every core this process may run on


def cores() -> int:
    """The cores this process may run on (its CPU affinity, as a scheduler or taskset sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _threads(text: str) -> int:
    if text == ALL:
        return cores()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"--threads {text!r}: give a whole number >= 1, or {ALL!r} for every core")


def add_threads(ap: argparse.ArgumentParser) -> None:
    """--threads N|all: the CPU cores of a step that computes, over params' train.threads. The step deals its
    dense models (seeds, candidates, seed pairs) over that many processes, one torch thread each
    (training.parallel: the numbers of one process); convolutional models take them as torch threads.
    Snakemake runs jobs side by side, one core each (train.threads); DVC runs one stage at a time, so its
    stages pass `--threads all` (pipeline.DVC_THREADS) and the one running stage has every core."""
    ap.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help=f"CPU cores: a number, or {ALL!r} for every core (default: params' train.threads); the step deals "
        "its dense models over that many processes, one torch thread each",
    )
