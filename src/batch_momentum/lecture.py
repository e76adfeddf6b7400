"""The lecture's comparison table, filled from measurements, with a verdict per row.

Small batch = the smallest B of the grid, large batch = the largest. Each row says
what the lecture claims, what this run measured, whether the claim holds on this
device, and the evidence. Thresholds are stated in the evidence text.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

# The fixed set of verdicts; a row's `scope` says where a partial verdict applies.
HOLDS, PARTLY, DOES_NOT_HOLD, CANNOT_TELL, NOT_MEASURED = (
    "holds", "partly holds", "does not hold", "cannot tell", "not measured")
VERDICTS = (HOLDS, PARTLY, DOES_NOT_HOLD, CANNOT_TELL, NOT_MEASURED)
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


def _verdict(small: float, large: float, better: str, margin: float) -> str:
    """'holds' when the small batch is better by more than margin, 'opposite' when the large one is."""
    diff = (small - large) if better == "higher" else (large - small)
    return "holds" if diff > margin else ("opposite" if diff < -margin else "equal")


def compare_extremes(table: pd.DataFrame, column: str, better="higher", only=None, margin=MARGIN,
                     diverged_is_worse=False):
    """Mean of `column` over seeds for the smallest and the largest batch, per λ.

    verdict: 'holds' when the small batch is better by more than `margin`, 'opposite'
    when the large one is, 'equal' otherwise, 'n/a' when a side has no finished cell or
    the grid has one batch size. With diverged_is_worse (accuracies), a side whose cells
    all diverged counts as the worse one: a small batch that diverges did not optimize better.
    """
    small_b, large_b = table.batch_size.min(), table.batch_size.max()
    rows = []
    for lam, sub in table.groupby("momentum"):
        if only is not None:
            sub = sub[only(sub)]
        ok = sub[sub.status == "ok"]
        s = ok[ok.batch_size == small_b][column].mean()
        lg = ok[ok.batch_size == large_b][column].mean()
        lost = {side: bool(len(sub[sub.batch_size == b])) and not len(ok[ok.batch_size == b])
                for side, b in (("small", small_b), ("large", large_b))}
        if small_b == large_b:
            verdict = "n/a"
        elif diverged_is_worse and lost["small"] != lost["large"] and (lost["small"] or lost["large"]):
            verdict = "opposite" if lost["small"] else "holds"
        elif _nan(s) or _nan(lg):
            verdict = "n/a"
        else:
            verdict = _verdict(s, lg, better, margin)
        used = ok[ok.batch_size.isin([small_b, large_b])].cell
        rows.append(dict(momentum=lam, small=s, large=lg, verdict=verdict, small_diverged=lost["small"],
                         large_diverged=lost["large"], cells=sorted(used)))
    return rows


def compare_reached(table: pd.DataFrame, column: str, better="higher", margin=MARGIN, pairs=None):
    """Per λ, the smallest against the largest batch size among the cells that reached the
    training-accuracy target (means over the seeds that reached it): generalization at equal
    training accuracy. 'n/a' where fewer than two batch sizes reached it. `pairs` (a
    previous result) fixes the two batch sizes per λ, to read another column on them."""
    done = table[(table.status == "ok") & table.reached_target.fillna(False).astype(bool)]
    fixed = {r["momentum"]: (r["b_small"], r["b_large"]) for r in pairs} if pairs else {}
    rows = []
    for lam in sorted(table.momentum.unique()):
        means = done[done.momentum == lam].groupby("batch_size")[column].mean()
        bs, bl = fixed.get(lam, (means.index.min(), means.index.max()) if len(means) else (np.nan, np.nan))
        if len(means) < 2 or _nan(bs) or bs == bl:
            rows.append(dict(momentum=lam, b_small=bs, b_large=bl, small=np.nan, large=np.nan, verdict="n/a"))
            continue
        s, lg = means.get(bs, np.nan), means.get(bl, np.nan)
        verdict = "n/a" if _nan(s) or _nan(lg) else _verdict(s, lg, better, margin)
        pair = done[(done.momentum == lam) & done.batch_size.isin([bs, bl])]
        rows.append(dict(momentum=lam, b_small=int(bs), b_large=int(bl), small=s, large=lg, verdict=verdict,
                         cells=sorted(pair.cell)))
    return rows


def _per_lam_pairs(rows, fmt) -> str:
    return "; ".join(f"λ={r['momentum']}: B={r['b_small']} {fmt(r['small'])} vs B={r['b_large']} {fmt(r['large'])}"
                     for r in rows if r["verdict"] != "n/a")


def summarize(per_lam, expected="holds") -> tuple[str, str]:
    """One (verdict, scope) over the λ rows: HOLDS only when it holds for every λ; PARTLY with
    the scope 'for λ ∈ {…} only' when it holds for some."""
    verdicts = [r["verdict"] for r in per_lam if r["verdict"] != "n/a"]
    if not verdicts:
        return CANNOT_TELL, ""
    hits = [r["momentum"] for r in per_lam if r["verdict"] == expected]
    if len(hits) == len(per_lam):
        return HOLDS, ""
    if not hits:
        return DOES_NOT_HOLD, ""
    return PARTLY, f"for λ ∈ {{{', '.join(map(str, hits))}}} only"


def _yes(holds: bool) -> str:
    return HOLDS if holds else DOES_NOT_HOLD


def _per_lam(rows, fmt) -> str:
    def show(r, side):
        return "diverged" if r.get(f"{side}_diverged") else fmt(r[side])

    return "; ".join(f"λ={r['momentum']}: {show(r, 'small')} vs {show(r, 'large')}" for r in rows)


def _timing_rows(timing: pd.DataFrame, small_b: int, large_b: int) -> list[dict]:
    dev = f"{timing.device_name.iloc[0]} ({timing.device.iloc[0]}, {int(timing.threads.iloc[0])} thread(s))"
    t = timing.set_index("batch_size").sort_index()
    sb = small_b if small_b in t.index else int(t.index.min())
    lb = large_b if large_b in t.index else int(t.index.max())
    if sb == lb:
        return [dict(aspect=a, small=sm, large=lg, measured_small="n/a", measured_large="n/a",
                     verdict=CANNOT_TELL, evidence=f"the timing step measured one batch size only (B={sb})")
                for a, sm, lg in (("Speed for one update (no parallel computing)", "Faster", "Slower"),
                                  ("Speed for one update (with parallel computing)", "Same", "Same (not too large)"),
                                  ("Time for one epoch", "Slower", "Faster"))]
    seq_s, seq_l = t.at[sb, "sequential_median_s"], t.at[lb, "sequential_median_s"]
    par_s, par_l = t.at[sb, "parallel_median_s"], t.at[lb, "parallel_median_s"]
    base = t.parallel_median_s.iloc[0]
    same_up_to = int(t.index.min())
    for b, v in t.parallel_median_s.sort_index().items():  # up to the first batch size beyond the limit
        if v > SAME * base:
            break
        same_up_to = int(b)
    extrap = " (extrapolated from fewer examples)" if bool(t.at[lb, "sequential_extrapolated"]) else ""
    rows = [dict(aspect="Speed for one update (no parallel computing)", small="Faster", large="Slower",
                 measured_small=secs(seq_s), measured_large=secs(seq_l),
                 verdict=_yes(seq_l > SAME * seq_s),
                 evidence=f"timing step on {dev}: one update with the batch's examples processed one after another "
                          f"takes {seq_l / seq_s:.0f}× longer at B={lb}{extrap} than at B={sb}")]
    ratio = par_l / par_s
    rows.append(dict(aspect="Speed for one update (with parallel computing)", small="Same",
                     large="Same (not too large)", measured_small=secs(par_s), measured_large=secs(par_l),
                     verdict=_yes(ratio <= SAME),
                     evidence=f"timing step on {dev}: one update with the whole batch in one call takes {ratio:.1f}× "
                              f"as long at B={lb} as at B={sb} ('same' = within {SAME:g}×); the time stays within "
                              f"{SAME:g}× of B={int(t.index.min())} up to B={same_up_to}"))
    ep = t.epoch_measured_s.where(t.epoch_measured_s.notna(), t.epoch_estimated_s)
    how = lambda b: "measured" if not _nan(t.at[b, "epoch_measured_s"]) else "updates × time per update"  # noqa: E731
    rows.append(dict(aspect="Time for one epoch", small="Slower", large="Faster",
                     measured_small=secs(ep[sb]), measured_large=secs(ep[lb]),
                     verdict=_yes(ep[sb] > ep[lb]),
                     evidence=f"timing step on {dev}: one epoch takes {ep[sb] / ep[lb]:.1f}× as long at B={sb} "
                              f"({how(sb)}) as at B={lb} ({how(lb)}): {int(t.at[sb, 'updates_per_epoch'])} vs "
                              f"{int(t.at[lb, 'updates_per_epoch'])} updates"))
    return rows


def momentum_rows(result: dict) -> list[dict]:
    """The lecture's momentum claims, answered from the momentum step's results.

    Here "small" stands for plain gradient descent (λ = 0) or the smallest batch, "large"
    for momentum (λ > 0) or the full batch; each row's aspect names which."""
    rows = result["summary"]
    base = next((r for r in rows if r["momentum"] == 0.0), None)
    moving = [r for r in rows if r["momentum"] > 0]
    out = []
    if base is not None and moving:
        deep = [r for r in moving if r["reached_deep_min_1d"]]
        best = deep[0] if deep else max(moving, key=lambda r: r["final_1d"])
        holds = not base["reached_deep_min_1d"] and bool(deep)
        out.append(dict(
            aspect="Critical point: gradient descent (λ = 0) vs momentum (λ > 0)", small="Stops there",
            large="Rolls on, may reach a better minimum",
            measured_small=f"x = {base['final_1d']:.3g} ({base['nearest_1d']})",
            measured_large=f"λ = {best['momentum']:g}: x = {best['final_1d']:.3g} ({best['nearest_1d']})",
            verdict=_yes(holds),
            evidence="1-D surface with a flat saddle at x = 0, a shallow minimum at 1, a hill at 1.5 and a deeper "
                     "minimum at 3, same start and η for every λ: " + "; ".join(
                         f"λ = {r['momentum']:g} ends nearest the {r['nearest_1d']}" for r in rows)
                     + ". On the 2-D saddle, started on its stable manifold, no λ moves off it (max |x| "
                     f"{max(r['on_manifold_max_abs_x'] for r in rows):.1g}): momentum needs speed or noise."))
    fs = result["finite_sum"]
    cells = pd.DataFrame(fs["cells"])
    if len(cells):
        b_small, b_full = min(fs["batch_sizes"]), max(fs["batch_sizes"])
        by_b = cells.groupby("batch_size").escape_fraction.mean()
        holds = b_full == fs["n"] and by_b[b_small] > by_b[b_full]
        out.append(dict(
            aspect="Escaping a critical point: small batch vs full batch", small="Escapes (noisy gradient)",
            large="Stays (zero gradient)", measured_small=f"B = {b_small}: {by_b[b_small]:.0%} escape",
            measured_large=f"B = {b_full}: {by_b[b_full]:.0%} escape",
            verdict=_yes(holds),
            evidence=f"finite sums of N = {fs['n']} losses started at a critical point of their mean (cases: "
                     f"{', '.join(fs['cases'])}), share of {fs['seeds']} seeds that escape, mean over cases and λ, "
                     "by batch size: " + ", ".join(f"B={b}: {v:.0%}" for b, v in by_b.items())))
        by_lam = cells[cells.batch_size < fs["n"]].groupby("momentum").escape_fraction.mean()
        if len(by_lam) > 1:
            lo, hi = by_lam.index.min(), by_lam.index.max()
            out.append(dict(
                aspect="Escaping a critical point: no momentum vs momentum", small="Stays more often",
                large="Escapes more often", measured_small=f"λ = {lo:g}: {by_lam[lo]:.0%} escape",
                measured_large=f"λ = {hi:g}: {by_lam[hi]:.0%} escape",
                verdict=_yes(by_lam[hi] > by_lam[lo]),
                evidence="the same finite-sum runs, share that escape over every minibatch size B < N, by λ: "
                         + ", ".join(f"λ={k:g}: {v:.0%}" for k, v in by_lam.items())))
    ws = result["weighted_sum_check"]
    diff = max(ws["max_abs_diff"].values()) if ws["max_abs_diff"] else float("nan")
    out.append(dict(
        aspect="mᵗ is the weighted sum of all earlier gradients", small="m = −η Σ λ^(t−1−i) gⁱ", large="—",
        measured_small=f"largest difference {diff:.1e}", measured_large="—",
        verdict=_yes(diff <= 1e-12),
        evidence=f"the recursion mᵗ = λmᵗ⁻¹ − ηgᵗ⁻¹ and the closed-form sum on {ws['steps']} random 3-D gradients, "
                 f"η = {ws['lr']}, for every λ of the grid (equal = within 1e-12)"))
    return out


def lecture_table(table: pd.DataFrame, params, timing: pd.DataFrame, momentum: dict) -> list[dict]:
    """Every row of the lecture's table: from the aggregated runs (`table`), the timing step's
    rows and the momentum step's result; params is the config.Params of the run."""
    small_b, large_b = int(table.batch_size.min()), int(table.batch_size.max())
    ok = table[table.status == "ok"]
    rows = _timing_rows(timing, small_b, large_b)

    if "cosine_final" in table:
        col = "cosine_expected_final" if "cosine_expected_final" in table else "cosine_final"
        cos = compare_extremes(table, col, better="lower")
        nsr = compare_extremes(table, "nsr_final", better="higher", margin=0.0)
        how = ("expected cosine between a batch gradient of B examples drawn from the whole training set and the full "
               "gradient, from the gradient noise scale at the final weights" if col == "cosine_expected_final" else
               "cosine between a batch gradient and the full gradient at the final weights, sampled on the subset")
        evidence = (how + " (1 = the exact direction; lower = noisier), per λ: " + _per_lam(cos, "{:.3f}".format)
                    + ". Noise-to-signal ratio B_simple/B, per λ: " + _per_lam(nsr, "{:.3g}".format))
        if col != "cosine_final":
            sampled = compare_extremes(table, "cosine_final", better="lower")
            evidence += (". Cosine sampled from the measured subset, per λ (n/a: B is at least the subset, which has "
                         "no batches that large): " + _per_lam(sampled, "{:.3f}".format))
        rows.append(dict(aspect="Gradient", small="Noisy", large="Stable",
                         measured_small=f"cos {np.nanmean([r['small'] for r in cos]):.3f}",
                         measured_large=f"cos {np.nanmean([r['large'] for r in cos]):.3f}",
                         verdict=summarize(cos), evidence=evidence, per_lambda=cos))
    else:
        rows.append(dict(aspect="Gradient", small="Noisy", large="Stable", measured_small=NOT_MEASURED,
                         measured_large=NOT_MEASURED, verdict=NOT_MEASURED, evidence="needs the gradient-noise measures"))

    target = params.train.target_train_acc
    opt = compare_extremes(table, "train_acc", diverged_is_worse=True)
    rows.append(dict(aspect="Optimization", small="Better", large="Worse",
                     measured_small=pct(ok[ok.batch_size == small_b].train_acc.mean()),
                     measured_large=pct(ok[ok.batch_size == large_b].train_acc.mean()),
                     verdict=summarize(opt), per_lambda=opt,
                     evidence="final training accuracy under the same epoch budget" + (
                         f" (a cell stops early once it reaches {target}, so values near it mean 'reached')"
                         if target is not None else "") + ", per λ: " + _per_lam(opt, pct)))

    budget = compare_extremes(table, "test_acc", diverged_is_worse=True)
    budget_text = ("test accuracy after the same epoch budget, smallest vs largest B of the grid, per λ: "
                   + _per_lam(budget, pct))
    reached = compare_reached(table, "test_acc") if target is not None else []
    skipped = [r["momentum"] for r in reached if r["verdict"] == "n/a"]
    if any(r["verdict"] != "n/a" for r in reached):
        gen = [r for r in reached if r["verdict"] != "n/a"]
        evidence = (f"test accuracy at equal training accuracy: the smallest vs the largest B that reached the "
                    f"training-accuracy target {target}, per λ: " + _per_lam_pairs(gen, pct)
                    + (f" (for λ ∈ {{{', '.join(map(str, skipped))}}} fewer than two batch sizes reached it)"
                       if skipped else "") + ". Also " + budget_text)
        measured = [f"λ={r['momentum']}, B={r['b_small']}: {pct(r['small'])}" for r in gen], \
            [f"λ={r['momentum']}, B={r['b_large']}: {pct(r['large'])}" for r in gen]
        if "hessian_top" in table:
            sharp = compare_reached(table, "hessian_top", better="lower", margin=0.0, pairs=gen)
            evidence += (". Sharpness on the same pairs, top Hessian eigenvalue of the training loss (higher = "
                         "sharper), per λ: " + _per_lam_pairs(sharp, "{:.3g}".format))
    else:
        gen = budget
        measured = [pct(np.nanmean([r["small"] for r in gen]))], [pct(np.nanmean([r["large"] for r in gen]))]
        evidence = budget_text + (f" (fewer than two batch sizes reached the training-accuracy target {target} "
                                  "for every λ, so none is compared at equal training accuracy)" if target is not None
                                  else " (no training-accuracy target is set, so none is compared at equal training "
                                       "accuracy)")
        if "hessian_top" in table:
            sharp = compare_extremes(table, "hessian_top", better="lower", margin=0.0)
            evidence += (". Sharpness, top Hessian eigenvalue of the training loss at the final weights (higher = "
                         "sharper; a cell far from a minimum is not comparable), per λ: "
                         + _per_lam(sharp, "{:.3g}".format))
    verdict = summarize(gen)
    if gen is not budget and skipped and verdict[0] == HOLDS:
        verdict = (PARTLY, f"for λ ∈ {{{', '.join(str(r['momentum']) for r in gen)}}}, the only λ compared at equal "
                           "training accuracy")
    rows.append(dict(aspect="Generalization", small="Better", large="Worse",
                     measured_small="; ".join(measured[0]), measured_large="; ".join(measured[1]),
                     verdict=verdict, evidence=evidence, per_lambda=gen))
    rows += momentum_rows(momentum)
    for r in rows:  # (verdict, scope) from summarize, a bare verdict elsewhere
        r["verdict"], r["scope"] = r["verdict"] if isinstance(r["verdict"], tuple) else (r["verdict"], "")
        if r["verdict"] not in VERDICTS:
            raise ValueError(f"lecture row {r['aspect']!r}: verdict {r['verdict']!r} is not one of {VERDICTS}")
        r["cells"] = sorted({c for p in r.get("per_lambda", []) for c in p.get("cells", [])})
    return rows
