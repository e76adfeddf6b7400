"""Statistics over the cell table: pure functions of a DataFrame (one row per cell) to plain dicts.

Each function drops the rows it cannot use, says how many it dropped, and returns NaN (never
raises) where there are too few rows for its answer; the caller writes NaN as null.
"""

from __future__ import annotations

import numpy as np

from batch_momentum.io import tables as T
from batch_momentum.io.status import Status


def at_target(table):
    """reached_target as booleans (missing: False), one per row of a run table."""
    return table[T.REACHED_TARGET].fillna(False).astype(bool)


def counted(table):
    """The runs every verdict counts: status ok and, where the table says, at the target."""
    good = table[T.STATUS] == Status.OK
    return good & at_target(table) if T.REACHED_TARGET in table else good


def _r2(design: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """R^2 and residuals (n,) of the least-squares fit of y (n,) on the columns of design (n, k)."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    res = y - design @ coef
    return 1.0 - float(np.sum(res**2)) / float(np.sum((y - y.mean()) ** 2)), res


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN for fewer than 3 points or a constant column."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    from scipy.stats import spearmanr  # here: scipy.stats costs the report step 0.4 s of start-up it never uses

    return float(spearmanr(a, b).statistic)


def collapse_stats(df, x: str = T.TEMPERATURE, y: str = T.TEST_ACC, group: str = T.MOMENTUM, degree: int = 3) -> dict:
    """Does y collapse onto one curve of the noise temperature g = df[x]?

    Rows with NaN x or y, or x <= 0, are dropped. With u = log g:
    - spearman: Spearman rank correlation of y with u over all rows; spearman_by_group: the
      same within each value of `group` (NaN where a group has < 3 rows or a constant column);
    - collapse_score = R^2 = 1 - SS_res / SS_tot of one least-squares polynomial in
      (standardised) u of degree k = min(degree, #distinct u - 1, n - 2) over all cells: the
      share of the variance of y that one smooth curve of g explains. Near 1: batch size and
      lambda act through g only. Clearly below 1: cells with equal g differ, or y is noisy
      (compare residual_std with the seed-to-seed spread);
    - group_gain: R^2 of the same polynomial plus one dummy per extra `group` value, minus
      collapse_score, the variance lambda explains beyond g. Near 0 supports the collapse.
    Scores are NaN where n < 3 or y is constant; `interpretation` says the verdict in a line
    (collapses: score >= 0.9 and gain < 0.05; does not collapse: gain >= 0.05; else weak).
    """
    d = df.dropna(subset=[x, y])
    d = d[d[x] > 0]
    n = len(d)
    out = {
        "n": int(n),
        "n_dropped": int(len(df) - n),
        "degree": None,
        "spearman": float("nan"),
        "spearman_by_group": {},
        "collapse_score": float("nan"),
        "group_gain": float("nan"),
        "residual_std": float("nan"),
        "interpretation": "too few cells",
    }
    if n < 3:
        return out
    u = np.log(d[x].to_numpy(dtype=np.float64))
    yv = d[y].to_numpy(dtype=np.float64)
    out["spearman"] = _spearman(u, yv)
    gv = d[group].to_numpy()
    levels = sorted(set(gv.tolist()))
    out["spearman_by_group"] = {str(v): _spearman(u[gv == v], yv[gv == v]) for v in levels}
    if np.ptp(yv) == 0:
        out["interpretation"] = "y is constant: nothing to explain"
        return out
    k = int(max(0, min(degree, len(np.unique(u)) - 1, n - 2)))
    z = (u - u.mean()) / (u.std() or 1.0)  # standardised: a well-conditioned Vandermonde
    poly = np.vander(z, k + 1, increasing=True)  # (n, k+1)
    score, res = _r2(poly, yv)
    dummies = (
        np.stack([(gv == v).astype(np.float64) for v in levels[1:]], axis=1) if len(levels) > 1 else np.zeros((n, 0))
    )  # (n, #levels - 1)
    gain = _r2(np.hstack([poly, dummies]), yv)[0] - score
    out.update(degree=k, collapse_score=float(score), group_gain=float(gain), residual_std=float(np.std(res)))
    if score >= 0.9 and gain < 0.05:
        out["interpretation"] = (
            f"collapses: one curve of g explains {score:.0%} of the variance; {group} adds {gain:.0%}"
        )
    elif gain >= 0.05:
        out["interpretation"] = f"does not collapse: g explains {score:.0%}, {group} adds {gain:.0%} beyond g"
    else:
        out["interpretation"] = (
            f"weak: g explains {score:.0%} and {group} adds {gain:.0%}; "
            f"the rest is scatter (compare with the seed spread)"
        )
    return out


# ----------------------------------------------------------------------------- intervals and verdicts
LEVEL = 0.95  # every interval of the report is a two-sided 95% interval


def _clean(values) -> np.ndarray:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    return v[np.isfinite(v)]


def mean_interval(values, level: float = LEVEL) -> dict:
    """Mean of the values (seeds) and its Student-t interval, mean ± t_{(1+level)/2, n-1} · s/√n
    (s the sample standard deviation). NaN ends for fewer than 2 values."""
    from scipy.stats import t

    v = _clean(values)
    n = len(v)
    mean = float(v.mean()) if n else float("nan")
    sd = float(v.std(ddof=1)) if n >= 2 else float("nan")
    half = float(t.ppf((1 + level) / 2, n - 1) * sd / np.sqrt(n)) if n >= 2 else float("nan")
    return {"n": n, "mean": mean, "std": sd, "lo": mean - half, "hi": mean + half}


def difference_interval(a, b, level: float = LEVEL) -> dict:
    """mean(b) - mean(a) with Welch's interval: d ± t_{(1+level)/2, ν} · √(s_a²/n_a + s_b²/n_b), ν from the
    Welch–Satterthwaite equation. The two groups need not have the same size (a seed that diverged is left
    out). NaN ends when a side has fewer than 2 values; a difference with zero spread on both sides is exact."""
    from scipy.stats import t

    x, y = _clean(a), _clean(b)
    na, nb = len(x), len(y)
    d = float(y.mean() - x.mean()) if na and nb else float("nan")
    out = {"n_a": na, "n_b": nb, "diff": d, "lo": float("nan"), "hi": float("nan")}
    if na < 2 or nb < 2:
        return out
    va, vb = x.var(ddof=1) / na, y.var(ddof=1) / nb
    se = float(np.sqrt(va + vb))
    if se == 0:
        out.update(lo=d, hi=d)
        return out
    dof = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = float(t.ppf((1 + level) / 2, dof) * se)
    out.update(lo=d - half, hi=d + half)
    return out


def ratio_interval(a, b, level: float = LEVEL) -> dict:
    """The ratio of geometric means, gm(b) / gm(a), with the Welch interval of the difference of mean logs
    carried back by exp: for times and sharpness, which are positive and compared as multiples."""
    la = [np.log(x) for x in _clean(a) if x > 0]
    lb = [np.log(x) for x in _clean(b) if x > 0]
    d = difference_interval(la, lb, level)
    return {
        "n_a": d["n_a"],
        "n_b": d["n_b"],
        "ratio": float(np.exp(d["diff"])),
        "lo": float(np.exp(d["lo"])),
        "hi": float(np.exp(d["hi"])),
    }


POWER = 0.8  # the power of the seed counts the report asks for: 4 runs in 5 decide


def _quantiles(dof, level: float, power: float):
    """t_{(1+level)/2, dof} + t_{power, dof}: standard errors between a true difference and the near end
    of an interval that, with probability `power`, still excludes it."""
    from scipy.stats import t

    return t.ppf((1 + level) / 2, dof) + t.ppf(power, dof)


def detectable(se: float, dof: float, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest true difference this run detects with the given power: (t_{(1+level)/2} + t_{power})·se.
    With many degrees of freedom it is (1.960 + 0.842)·se = 2.80·se at 95% and 80% power."""
    if not (np.isfinite(se) and np.isfinite(dof)) or dof < 1:
        return float("nan")
    return float(_quantiles(dof, level, power) * se)


def seeds_needed(
    diff: float,
    sd: float,
    margin: float,
    paired: bool,
    level: float = LEVEL,
    power: float = POWER,
    most: int = 10_000,
) -> int | None:
    """Seeds per side for a verdict, if the true difference were `diff` and one seed's spread `sd` (paired:
    the sd of per-seed differences; unpaired: √(s_a² + s_b²), so se = sd/√n either way): the smallest n whose
    interval, with probability `power`, excludes 0 (half-width < |diff|) or fits inside ±margin (half-width
    < margin − |diff|). dof: n − 1 paired, 2n − 2 unpaired. None when even `most` seeds would not do."""
    if not (np.isfinite(diff) and np.isfinite(sd)):
        return None
    goal = max(abs(diff), margin - abs(diff))
    if sd == 0:
        return 2
    if goal <= 0:
        return None
    n = np.arange(2, most + 1)  # every candidate at once: one vectorised quantile call, not one per n
    ok = _quantiles(n - 1 if paired else 2 * n - 2, level, power) * sd / np.sqrt(n) < goal
    return int(n[ok.argmax()]) if ok.any() else None


def paired_interval(a, b, level: float = LEVEL) -> dict:
    """mean(b − a) over pairs (a_k, b_k) with both finite, with its Student-t interval over the per-pair
    differences, and the correlation of the two sides (NaN for fewer than 3 pairs or a constant side).
    For runs that share their initial weights (seed k of the small and the large batch): what the two
    sides have in common cancels in b_k − a_k."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    m = mean_interval(y - x, level)
    corr = float(np.corrcoef(x, y)[0, 1]) if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
    return {"n": m["n"], "diff": m["mean"], "sd": m["std"], "lo": m["lo"], "hi": m["hi"], "correlation": corr}
