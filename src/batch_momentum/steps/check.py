"""check: validate params.yaml before any other DVC stage runs.

`dvc repro` removes a stage's outputs before it runs the stage's command, so a bad value
caught by the step itself would cost that stage's finished outputs. Every other stage of
dvc.yaml depends on this stage's output, and this stage depends on the whole of
params.yaml: after an edit it runs first, and a bad value stops `dvc repro` here, with
every finished output left in place. The output's content is fixed, so a valid edit
changes no other stage's dependency (only the params each stage tracks decide what reruns).
Snakemake needs no such step: the Snakefile validates the params when it is read.
"""

from __future__ import annotations

from batch_momentum import config
from batch_momentum.io import files
from batch_momentum.steps import parser

CONTENT = "params valid\n"  # never changes: see above


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--out", required=True, help="the marker file the other stages depend on")
    args = ap.parse_args(argv)
    config.load(args.params)
    files.write_text(args.out, CONTENT)
    print(f"{args.params}: valid -> {args.out}")
    return 0
