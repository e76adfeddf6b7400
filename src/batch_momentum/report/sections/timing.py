"""The timing section: time per update and per epoch against the batch size."""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis.formats import secs
from batch_momentum.io import tables as T
from batch_momentum.report.plots import timing as timing_plots
from batch_momentum.report.sections.common import html_table


def timing_section(timing: pd.DataFrame) -> dict:
    t = timing.sort_values(T.BATCH_SIZE)
    ext = t[T.SEQUENTIAL_EXTRAPOLATED]  # booleans: tables.read_timing
    frame = pd.DataFrame(
        {
            "B": t[T.BATCH_SIZE],
            "updates / epoch": t[T.UPDATES_PER_EPOCH],
            "one update, parallel": t[T.PARALLEL_MEDIAN_S].map(secs),
            "one update, sequential": [secs(v) + (" *" if e else "") for v, e in zip(t[T.SEQUENTIAL_MEDIAN_S], ext)],
            "epoch, measured": t[T.EPOCH_MEASURED_S].map(secs),
            "epoch, updates × update time": t[T.EPOCH_ESTIMATED_S].map(secs),
        }
    )
    first = t.iloc[0]
    dev = (
        f"{first[T.DEVICE_NAME]} ({first[T.DEVICE]}, {int(first[T.THREADS])} thread(s), torch {first[T.TORCH_VERSION]})"
    )
    return dict(
        id="timing",
        title="Parallel computing: time per update and per epoch",
        text=f"Measured by the timing step on {dev}, with no other job running; medians of "
        f"{int(first[T.REPEATS])} timed updates. * = extrapolated from fewer examples one after "
        "another (the sequential time grows linearly with B). A measured epoch is the real loop: it "
        "agrees with updates × time per update when the step has its cores to itself; with more "
        "threads than free cores (timing.threads: null while other jobs run) the threads wait on "
        "each other and the epoch can take many times the estimate.",
        html=html_table(frame),
        figures=[
            dict(
                name="timing",
                fig=timing_plots.plot_timing(timing),
                caption="Left: one update with the whole batch in one call (parallel) and with the "
                "examples one after another; band: min–max over repeats. Right: one epoch. "
                "What to see: the parallel line stays flat while the hardware has room, then "
                "grows with B; the epoch gets faster as B grows.",
            )
        ],
        extra=[
            dict(name="time_per_update", fig=timing_plots.plot_time_per_update(timing)),
            dict(name="time_per_epoch", fig=timing_plots.plot_time_per_epoch(timing)),
        ],
    )
