"""params.yaml's sections as frozen dataclasses, one per section: what every step reads
(`params.train.lr`), never a default of its own. Units are in the comments."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass


@dataclass(frozen=True)
class Data:
    """data: the dataset and its three disjoint splits (sizes in examples)."""

    dataset: str  # mnist1d (generated offline) | mnist | fashion_mnist | cifar10 (fetched by download)
    n_train: int  # examples trained on: the full batch
    n_val: int  # held out; the training curves report it
    n_test: int  # held out; reported once per run after training
    seed: int  # seed of the generator and of the split


REAL = ("mnist", "fashion_mnist", "cifar10")  # fetched by the download step; sources in params' download section
_IDX = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FILES = {"mnist": _IDX, "fashion_mnist": _IDX, "cifar10": ("cifar-10-python.tar.gz",)}  # download.md5 lists these
# examples in the official training and test sets: train and validation are drawn from the first, test from the second
OFFICIAL = {"mnist": (60_000, 10_000), "fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000)}


@dataclass(frozen=True)
class Download:
    """download: where the real datasets' files come from (per dataset), and their checksums."""

    url: dict[str, str]  # base URL (mirror) ending in /: a file is fetched from url + name
    local_dir: dict[str, str | None]  # a folder holding the files (copied, not fetched); None: fetch
    md5: dict[str, dict[str, str]]  # file name -> md5 of every file of the dataset (mnist1d: none)


@dataclass(frozen=True)
class Model:
    """model: the architecture of every cell."""

    name: str  # linear | mlp | cnn
    hidden: tuple[int, ...]  # widths of the hidden layers (mlp), or channels (cnn)
    head: tuple[int, ...]  # widths of the dense layers after the convolutions (cnn only)


@dataclass(frozen=True)
class Train:
    """train: the optimizer and the budget of every cell."""

    lr: float  # eta at base_batch_size (parameter units per gradient unit)
    lr_rule: str  # constant | linear (eta*B/B0) | sqrt (eta*sqrt(B/B0))
    lr_momentum: (
        str  # step: eta*(1-lambda), the same step eta/(1-lambda) at every lambda | constant: eta at every lambda
    )
    base_batch_size: int  # B0 of the linear and sqrt rules (examples)
    max_epochs: int  # epoch budget, the same for every cell
    target_train_acc: float | None  # stop a seed once its training accuracy reaches this; None: never
    device: str  # auto | cpu | cuda
    threads: int  # CPU cores per job: processes over a step's dense models (a CNN: torch threads)
    cuda_graph: str  # auto (replay a captured CUDA graph of the update on CUDA) | never


@dataclass(frozen=True)
class Grid:
    """grid: one training job per (batch size, momentum) cell, its seeds trained together."""

    batch_size: tuple[int, ...]  # B (examples per update); B = data.n_train is full-batch GD
    momentum: tuple[float, ...]  # lambda of m_t = lambda*m_{t-1} - eta*g_{t-1}, as written (0 stays 0)
    seed: tuple[int, ...]  # model init and shuffling


@dataclass(frozen=True)
class EqualAcc:
    """equal_acc: Keskar et al.'s protocol. Per lambda of the grid, a small and a large batch each
    trained until its training accuracy reaches the target; eta per batch size chosen from a short
    list by validation accuracy among the candidates whose every seed reached the target."""

    batch_size: tuple[int, int]  # (small, large)
    target_train_acc: float  # a run trains until its training accuracy reaches this ...
    max_epochs: int  # ... within this many epochs ...
    patience: int  # ... or stops as "stalled" once this many epochs add < 0.005 to it
    step_small: tuple[float, ...]  # candidate steps eta/(1-lambda) of the small batch: eta = step*(1-lambda)
    step_large: tuple[float, ...]  # and of the large batch (both: the start of the sweep, trained first)
    extend_factor: float  # the ladder: neighbouring steps this factor apart; an extension adds the next one
    extend_cap: int  # steps added per side at most, where the best eta is not yet bracketed (0: never)
    seed: tuple[int, ...]  # the protocol's seeds, trained together: its verdicts need more than the grid's

    def lrs(self, batch_size: int, momentum: float) -> list[float]:
        """The candidate eta of a batch size at a momentum (rounded to 12 significant digits)."""
        steps = self.step_small if batch_size == self.batch_size[0] else self.step_large
        return [float(f"{s * (1 - momentum):.12g}") for s in steps]


@dataclass(frozen=True)
class Sharpness:
    """sharpness: the measures at every run's final weights, on the first `subset` training examples."""

    subset: int  # examples of the training loss f of every measure
    epsilons: tuple[float, ...]  # box sizes of Keskar's epsilon-sharpness (relative)
    adaptive_rho: float  # adaptive sharpness: the box |δ_i| ≤ ρ|w_i| (Kwon et al. 2021; Andriushchenko et al. 2023)
    lbfgs_iters: int  # L-BFGS-B iterations for the box maximum
    subspace_dim: int  # p, columns of the random subspace A
    hessian_tol: float  # relative change of the eigenvalue (and trace) that stops
    hessian_max_iter: int  # Hessian-vector products of the power iteration at most
    trace_samples: int  # Rademacher vectors of Hutchinson's trace at most
    direction_points: int  # points of the 1-D curve along a filter-normalized direction
    direction_span: float  # the curve runs over t in [-span, span] (units of the direction)
    interpolation_points: int  # points of theta(alpha), alpha in [-1, 2]


@dataclass(frozen=True)
class Noise:
    """noise: gradient noise at the start of training and at the final weights."""

    subset: int  # examples whose per-example gradients are taken
    cosine_batches: int  # random batches sampled for the cosine with the full gradient


@dataclass(frozen=True)
class Timing:
    """timing: time per update and per epoch against batch size (one exclusive job; times in seconds)."""

    batch_sizes: tuple[int, ...]  # B timed, each 1..data.n_train
    warmup: int  # untimed updates first
    repeats: int  # timed updates per batch size
    epoch_budget_s: float  # measure a real epoch only where it should take less than this (s)
    sequential_cap: int  # one-by-one passes timed at most; beyond, scaled to B
    threads: int | None  # torch CPU threads; None: torch's default (all cores)


@dataclass(frozen=True)
class Momentum:
    """momentum: the critical-point experiments on surfaces with known answers (x, y dimensionless;
    learning rates in x per unit gradient; steps are updates)."""

    start_1d: float  # x0 on the 1-D surface
    lr_1d: float  # eta of the 1-D runs
    steps_1d: int  # updates of the 1-D runs
    start_2d: tuple[float, float]  # (x0, y0) on the 2-D surface
    lr_2d: float  # eta of the 2-D runs
    steps_2d: int  # updates of the 2-D runs
    noise_2d: float  # std of the Gaussian gradient noise of the noisy 2-D runs
    noise_seeds_2d: int  # noisy runs per lambda, seeds 0..n-1
    escape_radius: float  # off the 2-D saddle once |x| >= this
    finite_n: int  # N examples of the finite sums (even)
    finite_batch_sizes: tuple[int, ...]  # minibatch sizes B, each 1..finite_n
    finite_seeds: int  # runs per (case, lambda, B)
    finite_offset_seed: int  # seed of the offsets a_n
    saddle_lr: float  # eta of the 'saddle' case
    saddle_steps: int  # updates per run of the 'saddle' case
    saddle_offset_scale: float  # |c a_n| at most (gradient units), 'saddle' case
    minimum_lr: float  # eta of the 'minimum' case
    minimum_steps: int  # updates per run of the 'minimum' case
    minimum_offset_scale: float  # |c a_n| at most (gradient units), 'minimum' case
    weighted_sum_steps: int  # length of the random gradient sequence of the weighted-sum check
    weighted_sum_seed: int  # its seed


@dataclass(frozen=True)
class Report:
    """report: the page's title, and the training and validation accuracies of time to accuracy."""

    title: str
    train_acc_levels: tuple[float, ...]
    val_acc_levels: tuple[float, ...]


@dataclass(frozen=True)
class Verdict:
    """verdict: the smallest differences that matter, set before any run, and the power asked of seed counts."""

    margin_accuracy: float  # accuracy (fraction: 0.01 = 1 point)
    margin_cosine: float  # the expected cosine of a batch gradient with the full gradient
    margin_ratio: float  # factor > 1 for ratios of sharpness and of times
    power: float  # the chance that a run with the seeds the report asks for decides
    sharpness_primary: str  # the sharpness measure that decides the sharp-vs-flat row (the others agree or not)
    margin_tau: float  # the smallest Kendall τ that matters for the mechanism row, in (0, 1)
    bootstrap: int  # seed-bootstrap resamples of the mechanism row's τ interval (generator seed 0)


@dataclass(frozen=True)
class Params:
    """Every setting of the pipeline, validated: one frozen dataclass per section of params.yaml."""

    data: Data
    download: Download
    model: Model
    train: Train
    grid: Grid
    equal_acc: EqualAcc
    sharpness: Sharpness
    noise: Noise
    timing: Timing
    momentum: Momentum
    report: Report
    verdict: Verdict

    def as_dict(self) -> dict:
        """The plain dict params.yaml holds (lists, not tuples): for YAML, torch.save, dotted keys."""
        return _thaw(dataclasses.asdict(self))


SECTIONS: dict[str, type] = typing.get_type_hints(Params)  # section name -> its dataclass


def _thaw(v):
    if isinstance(v, dict):
        return {k: _thaw(x) for k, x in v.items()}
    return [_thaw(x) for x in v] if isinstance(v, (list, tuple)) else v
