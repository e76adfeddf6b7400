# Validation, the cell list, and what each rule tracks, shared by every rule file.
# Commands, params and code dependencies come from the stage table that also generates
# dvc.yaml (src/batch_momentum/pipeline.py); a test checks the rules against it.
import sys
from pathlib import Path

import yaml
from batch_momentum import config as bm
from batch_momentum.io.files import write_text
from batch_momentum.pipeline import TABLES, code, gpus, tracked  # what each rule tracks, as dvc.yaml does
from batch_momentum.pipeline import REPORT_CATEGORIES as CAT, figure_category  # snakemake --report

# The config is params.yaml with any --configfile laid over it (Snakemake merges them;
# config.overlay does the same, so an override file may name only the keys it changes).
# P is the validated, typed config every rule reads (P.train.threads).
BASE = yaml.safe_load(Path("params.yaml").read_text())
try:
    P = bm.validate(bm.overlay(BASE, config), source="params (params.yaml and any --configfile)")
except bm.ParamsError as exc:
    sys.exit(f"error: {exc}")

# The steps read their settings from a file. When the config is params.yaml as written,
# the commands name params.yaml (and match dvc.yaml's exactly); after an override
# (--configfile params.yaml mine.yaml) they name the merged copy, written when the run
# starts (onstart below; a dry run writes nothing). The shell commands name it as {PARAMS},
# not as a rule param: Snakemake reruns a job when one of its params changes, and the
# file's name is not a setting (each rule's `tracked` param holds the values it reads), so
# an override that changes only the report's title reruns only the report.
PARAMS = "params.yaml" if P.as_dict() == BASE else "results/params.merged.yaml"


onstart:
    if PARAMS != "params.yaml":
        text = yaml.safe_dump(P.as_dict(), sort_keys=False)
        merged = Path(PARAMS)
        if not merged.exists() or merged.read_text() != text:
            write_text(merged, text)  # under a temporary name, renamed when complete


# Every rule runs `python -m batch_momentum`: that `python` is the interpreter running
# Snakemake (which imported batch_momentum above), so `.venv/bin/snakemake` works without
# activating the virtual environment. A prefix of each job's shell, not a change of this
# process's environment.
shell.prefix(f'PATH="{Path(sys.executable).parent}":"$PATH"; ')


# The jobs that compute on train.device ask for one GPU when it is one. The default profile
# offers one (resources: gpu=1), so locally they run one at a time and none shares the GPU's
# clock (`--resources gpu=N`: N side by side). The scope is local: submitted to a cluster,
# each job gets a GPU of its own (--gpus) and they are not held to one at a time.
GPU = gpus(P.train.device)


resource_scopes:
    gpu="local",


RAW = f"data/raw/{P.data.dataset}"  # the download step's folder; DVC tracks it whole, Snakemake its manifest
DATA = f"data/prepared/{P.data.dataset}.pt"
CELLS = [c.name for c in bm.cells(P)]  # bs<B>_lam<λ>: one train and one evaluate job each
RUNS = [r.name for r in bm.runs(P)]     # bs<B>_lam<λ>/seed<s>: one row of the tables each
SEEDS = list(P.grid.seed)  # the grid's cells train these together ...
EQUAL_SEEDS = list(P.equal_acc.seed)  # ... and the equal-accuracy protocol's cells these
SMALL, LARGE = P.equal_acc.batch_size  # Keskar's protocol: the small and the large batch
EQUAL = [c.name for c in bm.equal_cells(P)]   # bs<B>_lam<λ> of the protocol: one train_equal and one evaluate_equal job each
EQUAL_RUNS = [r.name for r in bm.equal_runs(P)]
PAIRS = bm.interpolation_pairs(P)


wildcard_constraints:
    bs=r"\d+",
    lam=r"[0-9.]+",


# `snakemake --report report.html`: the results tagged with report() in the rules, grouped by the
# rows of the lecture's table (categories and the figures' mapping in batch_momentum.pipeline), each
# with a caption from workflow/report/ (paths in report() are relative to the rule file).
CAPTIONS = "../report"
