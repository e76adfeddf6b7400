"""Gradient: noisy for small batches, stable for large ones."""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis.compare import compare, comparison_row, describe
from batch_momentum.io import tables as T


def gradient_row(table: pd.DataFrame, sizes: tuple[int, int], params) -> dict:
    """Gradient: noisy for small batches, stable for large ones (the grid's smallest vs largest B)."""
    v = params.verdict
    cos = compare(table, T.NOISE_FINAL.cosine_expected, "larger", sizes, v.margin_cosine, power=v.power)
    g = "{:.3f}".format
    return comparison_row(
        "Gradient",
        "noise",
        ("Noisy", "Stable"),
        cos,
        g,
        "expected cosine between a batch gradient of B examples drawn from the training set and "
        "the full gradient (1 = the exact direction; lower = noisier), from the gradient noise "
        "scale at each run's final weights, the grid's smallest vs largest B, per λ: " + describe(cos, g),
        margin_text=f"a cosine difference within ±{v.margin_cosine:g} is no difference",
    )
