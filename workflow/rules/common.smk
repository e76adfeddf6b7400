# Validation and the cell list, shared by every rule file.
import os
import sys
from pathlib import Path

import yaml
from batch_momentum import config as bm

try:
    P = bm.validate(config, source="params (params.yaml and any --configfile)")
except bm.ParamsError as exc:
    sys.exit(f"error: {exc}")

# The steps read their settings from a file. When the merged config is params.yaml
# as written, the commands name params.yaml (and match dvc.yaml's exactly); after an
# override (--configfile params.yaml mine.yaml) they name the merged copy below.
PARAMS = "params.yaml"
if bm.validate(yaml.safe_load(Path("params.yaml").read_text())) != P:
    PARAMS = "results/params.merged.yaml"
    Path("results").mkdir(exist_ok=True)
    text = yaml.safe_dump(dict(config), sort_keys=False)
    if not Path(PARAMS).exists() or Path(PARAMS).read_text() != text:
        Path(PARAMS).write_text(text)

# Every rule runs `python -m batch_momentum`: make `python` the interpreter that runs
# Snakemake (and imports batch_momentum above), so `.venv/bin/snakemake` works without
# activating the virtual environment.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

DATA = f"data/prepared/{P['data']['dataset']}.pt"
CELLS = [c.name for c in bm.cells(P)]
SMALL = P["sharpness"]["interpolation_small"]
LARGE = P["sharpness"]["interpolation_large"]
PAIRS = bm.interpolation_pairs(P)


wildcard_constraints:
    bs=r"\d+",
    lam=r"[0-9.]+",
    seed=r"\d+",
