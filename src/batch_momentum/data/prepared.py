"""The datasets: made once by the prepare step, loaded whole onto the device by every other step.

The file holds float32 inputs and int64 labels for three disjoint splits (train, val,
test) plus a small meta dict. Training and evaluation load it whole onto the device;
batches are index slices, never a DataLoader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from batch_momentum import config
from batch_momentum.training import device as devices

SPLITS = ("train", "val", "test")
# the shape of one example of each dataset, as prepare writes it
INPUT_SHAPE = {"mnist1d": [40], "mnist": [1, 28, 28], "fashion_mnist": [1, 28, 28], "cifar10": [3, 32, 32]}


def make_mnist1d(n_train: int, n_val: int, n_test: int, seed: int) -> dict:
    """MNIST-1D (Greydanus & Kobak) generated offline; deterministic in `seed`.

    mnist1d makes the same number of examples per class, so it is asked for the total
    rounded up to a multiple of 10; a seeded permutation then picks the three splits.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    total = n_train + n_val + n_test
    args = get_dataset_args()
    args.num_samples = -(-total // 10) * 10
    args.train_split = 1.0
    args.seed = seed
    state = np.random.get_state()  # mnist1d seeds numpy's global generator; restore it after
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(state)
    x = torch.as_tensor(raw["x"], dtype=torch.float32)
    y = torch.as_tensor(raw["y"], dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:total]
    x, y = x[order], y[order]
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, total)}
    out = {}
    for split, (lo, hi) in bounds.items():
        out[f"x_{split}"] = x[lo:hi].clone()
        out[f"y_{split}"] = y[lo:hi].clone()
    out["meta"] = {
        "dataset": "mnist1d",
        "n_classes": 10,
        "input_shape": [x.shape[1]],
        "seed": seed,
        "generator": f"mnist1d.data.make_dataset with num_samples={args.num_samples}",
        "normalization": "none (mnist1d's own scale)",
    }
    return out


def split_real(images: dict[str, np.ndarray], d: config.Data) -> dict:
    """Train and validation drawn (seeded, disjoint) from the official training set, test from the
    official test set. Inputs scaled to [0, 1], then standardized per channel with the mean and
    std of the training split: float32 (N, C, H, W)."""
    n_official, n_test = len(images["y_train"]), len(images["y_test"])
    if d.n_train + d.n_val > n_official or d.n_test > n_test:
        raise ValueError(
            f"{d.dataset}: the files hold {n_official} training and {n_test} test examples; params ask "
            f"data.n_train + data.n_val = {d.n_train + d.n_val} and data.n_test = {d.n_test}: lower them"
        )
    gen = torch.Generator().manual_seed(d.seed)
    train_order = torch.randperm(n_official, generator=gen)
    test_order = torch.randperm(n_test, generator=gen)[: d.n_test].numpy()
    picks = {
        "train": ("train", train_order[: d.n_train].numpy()),
        "val": ("train", train_order[d.n_train : d.n_train + d.n_val].numpy()),
        "test": ("test", test_order),
    }
    out = {}
    for split, (source, idx) in picks.items():
        out[f"x_{split}"] = torch.as_tensor(images[f"x_{source}"][np.sort(idx)], dtype=torch.float32) / 255.0
        out[f"y_{split}"] = torch.as_tensor(images[f"y_{source}"][np.sort(idx)], dtype=torch.int64)
    mean = out["x_train"].mean(dim=(0, 2, 3), keepdim=True)
    std = out["x_train"].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    for split in SPLITS:
        out[f"x_{split}"] = ((out[f"x_{split}"] - mean) / std).contiguous()
    m, sd = [round(v, 4) for v in mean.flatten().tolist()], [round(v, 4) for v in std.flatten().tolist()]
    out["meta"] = {
        "dataset": d.dataset,
        "n_classes": 10,
        "input_shape": list(out["x_train"].shape[1:]),
        "seed": d.seed,
        "normalization": f"x/255, then (x - mean)/std per channel with the training split's mean {m} and std {sd}",
    }
    return out


def prepare(d: config.Data, images: dict[str, np.ndarray] | None = None) -> dict:
    """The dataset params' data section names: mnist1d generated here, a real one split from
    `images`, its official sets as batch_momentum.data.raw.read returns them."""
    if d.dataset == "mnist1d":
        return make_mnist1d(d.n_train, d.n_val, d.n_test, d.seed)
    if images is None:
        raise ValueError(f"data.dataset = {d.dataset!r} needs its files: run the download step first")
    return split_real(images, d)


def load_prepared(path: str | Path, device: str | torch.device, d: config.Data) -> dict:
    """Load a prepared file; a missing or damaged one, or one of other sizes than params' data
    section `d` says, gets a one-line error saying how to remake it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: prepared data not found; run `python -m batch_momentum prepare --out {path}` "
            f"(or let snakemake/dvc run the prepare step)"
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        missing = [f"{k}_{s}" for s in SPLITS for k in ("x", "y") if f"{k}_{s}" not in blob]
    except Exception as exc:  # torch raises several types for a truncated or foreign file
        raise ValueError(
            f"{path}: not a readable prepared-data file ({type(exc).__name__}); delete it and rerun prepare"
        ) from None
    if missing:
        raise ValueError(f"{path}: prepared-data file lacks {', '.join(missing)}; delete it and rerun prepare")
    meta = blob.get("meta") or {}
    made_from = meta.get("dataset", "an unnamed dataset")
    if made_from != d.dataset or list(meta.get("input_shape", [])) != INPUT_SHAPE[d.dataset]:
        raise ValueError(
            f"{path}: made from {made_from} with examples of shape {meta.get('input_shape')}, but params "
            f"say data.dataset = {d.dataset} (shape {INPUT_SHAPE[d.dataset]}); delete it and rerun "
            f"prepare"
        )
    for split in SPLITS:
        x, y = blob[f"x_{split}"], blob[f"y_{split}"]
        if x.shape[0] != y.shape[0] or list(x.shape[1:]) != list(meta.get("input_shape", x.shape[1:])):
            raise ValueError(
                f"{path}: x_{split} has shape {tuple(x.shape)} for {y.shape[0]} labels and input shape "
                f"{meta.get('input_shape')}; the file is damaged: delete it and rerun prepare"
            )
        if y.shape[0] != getattr(d, f"n_{split}"):
            raise ValueError(
                f"{path}: holds {y.shape[0]} {split} examples but params say data.n_{split} = "
                f"{getattr(d, f'n_{split}')}; rerun prepare (snakemake and dvc do so when params change)"
            )
    return to_device(blob, device)


def to_device(blob: dict, device: str | torch.device) -> dict:
    """Every tensor of a prepared-data dict moved to `device` (the meta stays as it is)."""
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in blob.items()}


def load_on_device(path: str | Path, params: config.Params, threads: int | None) -> tuple[torch.device, dict]:
    """The device params' train.device names, with `threads` torch CPU threads (None: torch's
    default), and the prepared data loaded whole onto it: how every step that computes starts."""
    device = devices.setup(params.train.device, threads)
    return device, load_prepared(path, device, params.data)
