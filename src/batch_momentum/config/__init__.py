"""params.yaml: the typed sections, the one validation, and the grid of cells and runs.

from batch_momentum import config
params = config.load("params.yaml")      # validated, frozen: params.train.lr
for cell in config.cells(params): ...     # bs<B>_lam<λ>, one train job each
"""

from batch_momentum.config.grid import (
    Cell,
    Run,
    cells,
    check_cell,
    equal_cells,
    equal_runs,
    interpolation_pairs,
    learning_rate,
    noise_temperature,
    runs,
    seeds,
    stability_threshold,
)
from batch_momentum.config.sections import (
    FILES,
    OFFICIAL,
    REAL,
    SECTIONS,
    Data,
    Download,
    EqualAcc,
    Grid,
    Model,
    Momentum,
    Noise,
    Params,
    Report,
    Sharpness,
    Timing,
    Train,
    Verdict,
)
from batch_momentum.config.validation import ParamsError, load, overlay, schema, validate

__all__ = [
    "Cell",
    "Run",
    "cells",
    "check_cell",
    "equal_cells",
    "equal_runs",
    "interpolation_pairs",
    "learning_rate",
    "noise_temperature",
    "runs",
    "seeds",
    "stability_threshold",
    "FILES",
    "OFFICIAL",
    "REAL",
    "SECTIONS",
    "Data",
    "Download",
    "EqualAcc",
    "Grid",
    "Model",
    "Momentum",
    "Noise",
    "Params",
    "Report",
    "Sharpness",
    "Timing",
    "Train",
    "Verdict",
    "ParamsError",
    "load",
    "overlay",
    "schema",
    "validate",
]
