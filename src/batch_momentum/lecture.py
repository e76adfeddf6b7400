"""The lecture's comparison table, filled from measurements, with a verdict per row.

Small batch = the smallest B of the grid, large batch = the largest. Each row says
what the lecture claims, what this run measured, whether the claim holds on this
device, and the evidence. Thresholds are stated in the evidence text.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

NOT_MEASURED = "not measured yet"
MARGIN = 0.01  # accuracy or cosine difference below which two cells count as equal
SAME = 2.0     # "same time": within this factor


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pct(v):
    return "n/a" if _nan(v) else f"{100 * v:.1f}%"


def secs(v):
    if _nan(v):
        return "n/a"
    return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"


def compare_extremes(table: pd.DataFrame, column: str, better="higher", only=None, margin=MARGIN):
    """Mean of `column` over seeds for the smallest and the largest batch, per λ.

    verdict: 'holds' when the small batch is better by more than `margin`, 'opposite'
    when the large one is, 'equal' otherwise, 'n/a' when a side has no finished cell.
    """
    small_b, large_b = table.batch_size.min(), table.batch_size.max()
    rows = []
    for lam, sub in table.groupby("momentum"):
        if only is not None:
            sub = sub[only(sub)]
        ok = sub[sub.status == "ok"]
        s = ok[ok.batch_size == small_b][column].mean()
        lg = ok[ok.batch_size == large_b][column].mean()
        if _nan(s) or _nan(lg):
            verdict = "n/a"
        else:
            diff = (s - lg) if better == "higher" else (lg - s)
            verdict = "holds" if diff > margin else ("opposite" if diff < -margin else "equal")
        rows.append(dict(momentum=lam, small=s, large=lg, verdict=verdict))
    return rows


def summarize(per_lam, expected="holds") -> str:
    verdicts = [r["verdict"] for r in per_lam if r["verdict"] != "n/a"]
    if not verdicts:
        return "cannot tell on this run"
    hits = [r["momentum"] for r in per_lam if r["verdict"] == expected]
    if len(hits) == len(verdicts):
        return "holds on this device"
    if not hits:
        return "does not hold on this run"
    return f"holds for λ ∈ {{{', '.join(map(str, hits))}}} only"


def _per_lam(rows, fmt) -> str:
    return "; ".join(f"λ={r['momentum']}: {fmt(r['small'])} vs {fmt(r['large'])}" for r in rows)


def _timing_rows(timing: pd.DataFrame, small_b: int, large_b: int) -> list[dict]:
    dev = f"{timing.device_name.iloc[0]} ({timing.device.iloc[0]}, {int(timing.threads.iloc[0])} thread(s))"
    t = timing.set_index("batch_size")
    sb = small_b if small_b in t.index else int(t.index.min())
    lb = large_b if large_b in t.index else int(t.index.max())
    seq_s, seq_l = t.at[sb, "sequential_median_s"], t.at[lb, "sequential_median_s"]
    par_s, par_l = t.at[sb, "parallel_median_s"], t.at[lb, "parallel_median_s"]
    base = t.parallel_median_s.iloc[0]
    same_up_to = int(max([b for b, v in t.parallel_median_s.items() if v <= SAME * base] or [t.index.min()]))
    extrap = " (extrapolated from fewer examples)" if bool(t.at[lb, "sequential_extrapolated"]) else ""
    rows = [dict(aspect="Speed for one update (no parallel computing)", small="Faster", large="Slower",
                 measured_small=secs(seq_s), measured_large=secs(seq_l),
                 verdict="holds on this device" if seq_l > SAME * seq_s else "does not hold on this device",
                 evidence=f"timing step on {dev}: one update with the batch's examples processed one after another "
                          f"takes {seq_l / seq_s:.0f}× longer at B={lb}{extrap} than at B={sb}")]
    ratio = par_l / par_s
    rows.append(dict(aspect="Speed for one update (with parallel computing)", small="Same",
                     large="Same (not too large)", measured_small=secs(par_s), measured_large=secs(par_l),
                     verdict="holds on this device" if ratio <= SAME else "does not hold on this device",
                     evidence=f"timing step on {dev}: one update with the whole batch in one call takes {ratio:.1f}× "
                              f"as long at B={lb} as at B={sb} ('same' = within {SAME:g}×); the time stays within "
                              f"{SAME:g}× of B={int(t.index.min())} up to B={same_up_to}"))
    ep = t.epoch_measured_s.where(t.epoch_measured_s.notna(), t.epoch_estimated_s)
    how = lambda b: "measured" if not _nan(t.at[b, "epoch_measured_s"]) else "updates × time per update"  # noqa: E731
    rows.append(dict(aspect="Time for one epoch", small="Slower", large="Faster",
                     measured_small=secs(ep[sb]), measured_large=secs(ep[lb]),
                     verdict="holds on this device" if ep[sb] > ep[lb] else "does not hold on this device",
                     evidence=f"timing step on {dev}: one epoch takes {ep[sb] / ep[lb]:.1f}× as long at B={sb} "
                              f"({how(sb)}) as at B={lb} ({how(lb)}): {int(t.at[sb, 'updates_per_epoch'])} vs "
                              f"{int(t.at[lb, 'updates_per_epoch'])} updates"))
    return rows


def _training_time_rows(ok: pd.DataFrame, small_b: int, large_b: int, device: str, threads: int) -> list[dict]:
    per_update = ok.assign(t=ok.epoch_wall_s / ok.updates_per_epoch).groupby("batch_size").t.median()
    ts, tl = per_update.get(small_b, np.nan), per_update.get(large_b, np.nan)
    ratio = tl / ts if ts else np.nan
    per_epoch = ok.groupby("batch_size").epoch_wall_s.median()
    es, el = per_epoch.get(small_b, np.nan), per_epoch.get(large_b, np.nan)
    return [
        dict(aspect="Speed for one update (no parallel computing)", small="Faster", large="Slower",
             measured_small=NOT_MEASURED, measured_large=NOT_MEASURED, verdict=NOT_MEASURED,
             evidence="needs the timing step (examples processed one after another)"),
        dict(aspect="Speed for one update (with parallel computing)", small="Same", large="Same (not too large)",
             measured_small=secs(ts), measured_large=secs(tl),
             verdict=("cannot tell on this run" if _nan(ratio) else
                      "holds on this device" if ratio <= SAME else "does not hold on this device"),
             evidence=f"median time per update during training on {device}, {threads} thread(s): B={large_b} takes "
                      f"{ratio:.1f}× the time of B={small_b} ('same' = within {SAME:g}×)"),
        dict(aspect="Time for one epoch", small="Slower", large="Faster",
             measured_small=secs(es), measured_large=secs(el),
             verdict="holds on this device" if es > el else "does not hold on this device",
             evidence=f"median training epoch on {device}: B={small_b} takes {es / el:.1f}× as long as B={large_b}"),
    ]


def lecture_table(table: pd.DataFrame, params: dict, timing: pd.DataFrame | None = None) -> list[dict]:
    small_b, large_b = int(table.batch_size.min()), int(table.batch_size.max())
    ok = table[table.status == "ok"]
    device = ", ".join(sorted(table.device_name.dropna().astype(str).unique())) or "unknown"
    if timing is not None and len(timing):
        rows = _timing_rows(timing, small_b, large_b)
    else:
        rows = _training_time_rows(ok, small_b, large_b, device, int(table.threads.max()))

    if "cosine_final" in table:
        cos = compare_extremes(table, "cosine_final", better="lower")
        nsr = compare_extremes(table, "nsr_final", better="higher", margin=0.0)
        rows.append(dict(aspect="Gradient", small="Noisy", large="Stable",
                         measured_small=f"cos {np.nanmean([r['small'] for r in cos]):.3f}",
                         measured_large=f"cos {np.nanmean([r['large'] for r in cos]):.3f}",
                         verdict=summarize(cos),
                         evidence="expected cosine between a batch gradient and the full gradient at the final weights "
                                  "(1 = the exact direction; lower = noisier), per λ: " + _per_lam(cos, "{:.3f}".format)
                                  + ". Noise-to-signal ratio B_simple/B, per λ: " + _per_lam(nsr, "{:.3g}".format)))
    else:
        rows.append(dict(aspect="Gradient", small="Noisy", large="Stable", measured_small=NOT_MEASURED,
                         measured_large=NOT_MEASURED, verdict=NOT_MEASURED, evidence="needs the gradient-noise measures"))

    opt = compare_extremes(table, "train_acc")
    rows.append(dict(aspect="Optimization", small="Better", large="Worse",
                     measured_small=pct(ok[ok.batch_size == small_b].train_acc.mean()),
                     measured_large=pct(ok[ok.batch_size == large_b].train_acc.mean()),
                     verdict=summarize(opt),
                     evidence="final training accuracy under the same epoch budget, per λ: " + _per_lam(opt, pct)))

    reached = compare_extremes(table, "test_acc", only=lambda s: s.reached_target.fillna(False).astype(bool))
    target = params["train"]["target_train_acc"]
    if target is not None and any(r["verdict"] != "n/a" for r in reached):
        gen, how = reached, f"test accuracy of cells that reached the training-accuracy target {target}"
    else:
        gen = compare_extremes(table, "test_acc")
        how = ("test accuracy after the same epoch budget (the large batch did not reach the training-accuracy "
               f"target {target} for any λ, so the two are not compared at equal training accuracy)")
    evidence = how + ", per λ: " + _per_lam(gen, pct)
    if "hessian_top" in table:
        sharp = compare_extremes(table, "hessian_top", better="lower", margin=0.0)
        evidence += (". Sharpness, top Hessian eigenvalue of the training loss at the final weights (higher = "
                     "sharper), per λ: " + _per_lam(sharp, "{:.3g}".format))
    rows.append(dict(aspect="Generalization", small="Better", large="Worse",
                     measured_small=pct(np.nanmean([r["small"] for r in gen])),
                     measured_large=pct(np.nanmean([r["large"] for r in gen])),
                     verdict=summarize(gen), evidence=evidence))
    for r in rows:
        r["css"] = ("ok" if r["verdict"].startswith("holds on") else
                    "todo" if r["verdict"] == NOT_MEASURED else "mixed")
    return rows
