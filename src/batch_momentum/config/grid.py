"""The grid of params.yaml: its (batch size, momentum) cells and their runs, with the names every
file and table uses, and the learning rate and noise temperature of a cell."""

from __future__ import annotations

import math
from dataclasses import dataclass

from batch_momentum.config.sections import Params, Train
from batch_momentum.config.validation import ParamsError
from batch_momentum.io.tables import EQUAL_EPOCHS


# Names render a grid value as DVC renders `${item.x}` in a path: str() of the YAML value (0 stays 0).
@dataclass(frozen=True)
class Cell:
    """One (batch size, momentum) cell of the grid: one train job, its seeds trained together."""

    batch_size: int
    momentum: float

    @property
    def name(self) -> str:
        return f"bs{self.batch_size}_lam{self.momentum}"


@dataclass(frozen=True)
class Run:
    """One seed of a cell: the unit of every result file and of every table row."""

    batch_size: int
    momentum: float
    seed: int

    @property
    def cell(self) -> Cell:
        return Cell(self.batch_size, self.momentum)

    @property
    def name(self) -> str:
        """The run's folder under results/cells/, e.g. bs64_lam0.9/seed1."""
        return f"{self.cell.name}/seed{self.seed}"


def cells(params: Params) -> list[Cell]:
    """Every (batch size, momentum) cell of the grid, in grid order."""
    return [Cell(b, m) for b in params.grid.batch_size for m in params.grid.momentum]


def runs(params: Params) -> list[Run]:
    """Every (batch size, momentum, seed) run of the grid, in grid order."""
    return [Run(c.batch_size, c.momentum, s) for c in cells(params) for s in params.grid.seed]


def equal_cells(params: Params) -> list[Cell]:
    """The equal-accuracy protocol's cells: equal_acc's small and large batch at every momentum of the grid."""
    return [Cell(b, m) for b in params.equal_acc.batch_size for m in params.grid.momentum]


def equal_runs(params: Params) -> list[Run]:  # every seed of equal_acc.seed in every equal_cells
    return [Run(c.batch_size, c.momentum, s) for c in equal_cells(params) for s in params.equal_acc.seed]


def seeds(params: Params, protocol: str = EQUAL_EPOCHS) -> tuple[int, ...]:
    """The seeds a cell of a protocol trains together: grid.seed (equal_epochs) or equal_acc.seed."""
    return params.grid.seed if protocol == EQUAL_EPOCHS else params.equal_acc.seed


def check_cell(params: Params, batch_size: int, momentum: float, protocol: str = EQUAL_EPOCHS) -> None:
    """A cell on a step's command line is the grid's (equal_epochs) or equal_acc's at a grid λ (equal_acc)."""
    g = params.grid
    sizes, where = (
        (g.batch_size, "grid.batch_size")
        if protocol == EQUAL_EPOCHS
        else (params.equal_acc.batch_size, "equal_acc.batch_size")
    )
    if batch_size not in sizes or momentum not in [float(m) for m in g.momentum]:
        raise ParamsError(
            f"cell B={batch_size}, lambda={momentum} is not in the grid of params "
            f"({where} {list(sizes)}, grid.momentum {list(g.momentum)}); "
            f"name a cell of the grid or add it to params.yaml"
        )


LR_RULES = {"constant": lambda ratio: 1.0, "linear": lambda ratio: ratio, "sqrt": math.sqrt}  # factor of B/B0


def learning_rate(train: Train, batch_size: int, momentum: float) -> float:
    """eta for a cell: lr under the batch-size rule (constant, linear eta*B/B0 or sqrt eta*sqrt(B/B0)),
    times (1 - lambda) under lr_momentum "step", so that the step eta/(1 - lambda) that momentum takes in
    a steady gradient is the same at every lambda (else lambda = 0.9 moves ten times as far per update)."""
    eta = float(train.lr) * LR_RULES[train.lr_rule](batch_size / train.base_batch_size)
    return eta * (1.0 - float(momentum)) if train.lr_momentum == "step" else eta


def noise_temperature(lr, n_train, batch_size, momentum):
    """SGD noise temperature g = eta*N / (B*(1-lambda)) (Smith & Le 2018), for numbers or numpy arrays."""
    return lr * n_train / (batch_size * (1.0 - momentum))


def stability_threshold(lr, momentum):
    """2(1 + λ)/η: the largest curvature at which gradient descent with heavy-ball momentum
    (m = λ·m − η·g, θ = θ + m, 0 <= λ < 1) is stable. On f = h·θ²/2 the update is
    θ' = θ + λ(θ − θ_prev) − η·h·θ, whose characteristic roots z² − (1 + λ − ηh)·z + λ = 0 lie inside the
    unit circle iff 0 < ηh < 2(1 + λ). Above it, training cannot stay in a region this sharp (Cohen et al.
    2021, "Gradient descent on neural networks typically occurs at the edge of stability"). Numbers or
    numpy arrays and pandas columns alike."""
    return 2.0 * (1.0 + momentum) / lr


def interpolation_pairs(params: Params) -> list[str]:
    """Names of the small-vs-large interpolation files, lam<λ>/seed<s>: one job per λ, a file per seed."""
    return [f"lam{lam}/seed{s}" for lam in params.grid.momentum for s in params.equal_acc.seed]
