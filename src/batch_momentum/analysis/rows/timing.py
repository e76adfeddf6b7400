"""The three timing rows: time per update with and without parallel computing, time per epoch."""

from __future__ import annotations

import pandas as pd

from batch_momentum.analysis.formats import missing as _nan
from batch_momentum.analysis.formats import secs, timing_device
from batch_momentum.analysis.verdicts import INCONCLUSIVE, yes
from batch_momentum.io import tables as T


def timing_rows(timing: pd.DataFrame, small_b: int, large_b: int, same: float) -> list[dict]:
    """The three timing rows from the timing step's medians; `same` (verdict.margin_ratio) is the factor
    within which two times count as the same."""
    dev = timing_device(timing)
    t = timing.set_index(T.BATCH_SIZE).sort_index()
    sb = small_b if small_b in t.index else int(t.index.min())
    lb = large_b if large_b in t.index else int(t.index.max())
    if sb == lb:
        return [
            dict(
                aspect=a,
                small=sm,
                large=lg,
                measured_small="n/a",
                measured_large="n/a",
                verdict=INCONCLUSIVE,
                evidence=f"the timing step measured one batch size only (B={sb})",
            )
            for a, sm, lg in (
                ("Speed for one update (no parallel computing)", "Faster", "Slower"),
                ("Speed for one update (with parallel computing)", "Same", "Same (not too large)"),
                ("Time for one epoch", "Slower", "Faster"),
            )
        ]
    seq_s, seq_l = t.at[sb, T.SEQUENTIAL_MEDIAN_S], t.at[lb, T.SEQUENTIAL_MEDIAN_S]
    par_s, par_l = t.at[sb, T.PARALLEL_MEDIAN_S], t.at[lb, T.PARALLEL_MEDIAN_S]
    base = t[T.PARALLEL_MEDIAN_S].iloc[0]
    same_up_to = int(t.index.min())
    for b, v in t[T.PARALLEL_MEDIAN_S].sort_index().items():  # up to the first batch size beyond the limit
        if v > same * base:
            break
        same_up_to = int(b)
    extrap = " (extrapolated from fewer examples)" if bool(t.at[lb, T.SEQUENTIAL_EXTRAPOLATED]) else ""
    rows = [
        dict(
            aspect="Speed for one update (no parallel computing)",
            small="Faster",
            large="Slower",
            measured_small=secs(seq_s),
            measured_large=secs(seq_l),
            verdict=yes(seq_l > same * seq_s),
            evidence=f"timing step on {dev}: one update with the batch's examples processed one after another "
            f"takes {seq_l / seq_s:.0f}× longer at B={lb}{extrap} than at B={sb}",
        )
    ]
    ratio = par_l / par_s
    rows.append(
        dict(
            aspect="Speed for one update (with parallel computing)",
            small="Same",
            large="Same (not too large)",
            measured_small=secs(par_s),
            measured_large=secs(par_l),
            verdict=yes(ratio <= same),
            evidence=f"timing step on {dev}: one update with the whole batch in one call takes {ratio:.1f}× "
            f"as long at B={lb} as at B={sb} ('same' = within {same:g}×); the time stays within "
            f"{same:g}× of B={int(t.index.min())} up to B={same_up_to}",
        )
    )
    ep = t[T.EPOCH_MEASURED_S].where(t[T.EPOCH_MEASURED_S].notna(), t[T.EPOCH_ESTIMATED_S])
    how = lambda b: "measured" if not _nan(t.at[b, T.EPOCH_MEASURED_S]) else "updates × time per update"  # noqa: E731
    rows.append(
        dict(
            aspect="Time for one epoch",
            small="Slower",
            large="Faster",
            measured_small=secs(ep[sb]),
            measured_large=secs(ep[lb]),
            verdict=yes(ep[sb] > ep[lb]),
            evidence=f"timing step on {dev}: one epoch takes {ep[sb] / ep[lb]:.1f}× as long at B={sb} "
            f"({how(sb)}) as at B={lb} ({how(lb)}): {int(t.at[sb, T.UPDATES_PER_EPOCH])} vs "
            f"{int(t.at[lb, T.UPDATES_PER_EPOCH])} updates",
        )
    )
    return rows
