"""The timing section: time per update and per epoch against the batch size."""
from __future__ import annotations

import pandas as pd

from batch_momentum.analysis.formats import secs
from batch_momentum.report.sections.common import html_table
from batch_momentum.report.plots import timing as timing_plots


def timing_section(timing: pd.DataFrame) -> dict:
    t = timing.sort_values("batch_size")
    ext = t.sequential_extrapolated.astype(str).str.lower().eq("true")
    frame = pd.DataFrame({
        "B": t.batch_size, "updates / epoch": t.updates_per_epoch,
        "one update, parallel": t.parallel_median_s.map(secs),
        "one update, sequential": [secs(v) + (" *" if e else "") for v, e in zip(t.sequential_median_s, ext)],
        "epoch, measured": t.epoch_measured_s.map(secs),
        "epoch, updates × update time": t.epoch_estimated_s.map(secs)})
    dev = f"{t.device_name.iloc[0]} ({t.device.iloc[0]}, {int(t.threads.iloc[0])} thread(s), " \
          f"torch {t.torch_version.iloc[0]})"
    return dict(id="timing", title="Parallel computing: time per update and per epoch",
                text=f"Measured by the timing step on {dev}, with no other job running; medians of "
                     f"{int(t.repeats.iloc[0])} timed updates. * = extrapolated from fewer examples one after "
                     "another (the sequential time grows linearly with B). A measured epoch is the real loop: it "
                     "agrees with updates × time per update when the step has its cores to itself; with more "
                     "threads than free cores (timing.threads: null while other jobs run) the threads wait on "
                     "each other and the epoch can take many times the estimate.",
                html=html_table(frame),
                figures=[dict(name="timing", fig=timing_plots.plot_timing(timing),
                              caption="Left: one update with the whole batch in one call (parallel) and with the "
                                      "examples one after another; band: min–max over repeats. Right: one epoch. "
                                      "What to see: the parallel line stays flat while the hardware has room, then "
                                      "grows with B; the epoch gets faster as B grows.")],
                extra=[dict(name="time_per_update", fig=timing_plots.plot_time_per_update(timing)),
                       dict(name="time_per_epoch", fig=timing_plots.plot_time_per_epoch(timing))])
