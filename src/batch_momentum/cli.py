"""python -m batch_momentum <step> [options]: one command per pipeline step.

Snakemake rules and DVC stages call only these commands. Each step validates
params.yaml first and stops with a one-line error on a bad value or a missing file.
"""

from __future__ import annotations

import importlib
import os
import sys

# step name -> module with a main(argv) function
STEPS = {
    "check": "steps.check",  # DVC only: validates params.yaml before any other stage runs
    "download": "steps.download",
    "prepare": "steps.prepare",
    "train": "steps.train",
    "evaluate": "steps.evaluate",
    "timing": "steps.timing",
    "interpolate": "steps.interpolate",
    "momentum": "steps.momentum",
    "aggregate": "steps.aggregate",
    "analyze": "steps.analyze",
    "report": "steps.report",
    "stages": "pipeline",  # not a step: prints, writes or checks dvc.yaml from the stage table
    "replicate": "analysis.replication",  # not a step: two runs' lecture.json side by side (other seeds)
    "bench": "training.bench",  # not a step: times the project's training loop against the PyTorch-examples loop
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STEPS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown step {argv[0]!r}; steps: {', '.join(STEPS)}", file=sys.stderr)
        print(
            f"usage: python -m batch_momentum {{{','.join(STEPS)}}} [options]  (--help after a step for its options)",
            file=sys.stderr,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from batch_momentum.config import ParamsError

    # torch's OpenMP threads sleep when they have nothing to do instead of spinning (read once, when torch
    # loads: before the step's imports). A spinning thread holds a core that another process needs: with
    # --threads all on a machine where another job runs, a training step took 2-4 times as long spinning,
    # and the same as one thread sleeping (docs/performance.md). One thread (Snakemake's jobs) never waits.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    module = importlib.import_module(f"batch_momentum.{STEPS[argv[0]]}")
    try:
        return module.main(argv[1:]) or 0
    except (ParamsError, OSError, ValueError) as exc:  # OSError: a file missing or not writable
        print(f"error: {exc}", file=sys.stderr)
        return 2
