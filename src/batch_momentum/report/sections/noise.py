"""The gradient-noise section: noisy small batches, stable large ones."""

from __future__ import annotations

import pandas as pd

from batch_momentum.report.plots import noise as noise_plots


def noise_section(table: pd.DataFrame) -> dict:
    return dict(
        id="noise",
        title="Gradient noise: noisy small batches, stable large ones",
        text="Per-example gradients on a fixed subset of the training set give the gradient noise scale "
        "B_simple = tr(Σ)/|G|² (McCandlish et al. 2018), at the initial and the final weights. From it, "
        "the expected cosine between the gradient of a batch of B examples drawn from the whole training "
        "set and the full gradient is 1/√(1 + B_simple(1/B − 1/N)); batches sampled from the subset "
        "check it where B is smaller than the subset. The noise-to-signal ratio of a batch gradient is "
        "B_simple/B.",
        html="",
        figures=[
            dict(
                name="gradient_noise",
                fig=noise_plots.plot_noise_vs_batch(table),
                caption="Gradient noise against batch size, one line per λ. What to see: the cosine "
                "rises towards 1 and the noise-to-signal ratio falls as B grows.",
            )
        ],
    )
