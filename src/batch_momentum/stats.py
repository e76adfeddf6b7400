"""Statistics over the cell table: pure functions of a DataFrame (one row per cell) to plain dicts.

Each function drops the rows it cannot use, says how many it dropped, and returns NaN (never
raises) where there are too few rows for its answer; the caller writes NaN as null.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def _r2(design: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """R^2 and residuals (n,) of the least-squares fit of y (n,) on the columns of design (n, k)."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    res = y - design @ coef
    return 1.0 - float(np.sum(res**2)) / float(np.sum((y - y.mean()) ** 2)), res


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN for fewer than 3 points or a constant column."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def collapse_stats(df, x: str = "temperature", y: str = "test_acc", group: str = "momentum",
                   degree: int = 3) -> dict:
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
    out = {"n": int(n), "n_dropped": int(len(df) - n), "degree": None, "spearman": float("nan"),
           "spearman_by_group": {}, "collapse_score": float("nan"), "group_gain": float("nan"),
           "residual_std": float("nan"), "interpretation": "too few cells"}
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
    dummies = np.stack([(gv == v).astype(np.float64) for v in levels[1:]], axis=1) if len(levels) > 1 \
        else np.zeros((n, 0))  # (n, #levels - 1)
    gain = _r2(np.hstack([poly, dummies]), yv)[0] - score
    out.update(degree=k, collapse_score=float(score), group_gain=float(gain), residual_std=float(np.std(res)))
    if score >= 0.9 and gain < 0.05:
        out["interpretation"] = (f"collapses: one curve of g explains {score:.0%} of the variance; "
                                 f"{group} adds {gain:.0%}")
    elif gain >= 0.05:
        out["interpretation"] = f"does not collapse: g explains {score:.0%}, {group} adds {gain:.0%} beyond g"
    else:
        out["interpretation"] = (f"weak: g explains {score:.0%} and {group} adds {gain:.0%}; "
                                 f"the rest is scatter (compare with the seed spread)")
    return out
