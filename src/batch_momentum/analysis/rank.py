"""Rank correlation between a measure and test accuracy over many runs: Kendall's τ-b, its 95% interval by
a seed bootstrap, the verdict an interval gives the claim "the flatter run tests better", and Jiang et al.
2019's granulated τ (one hyperparameter varying at a time).

Kendall's τ-b over n runs: (concordant − discordant pairs) / √((n0 − n1)(n0 − n2)), n0 = n(n − 1)/2 pairs,
n1 the pairs tied in x, n2 the pairs tied in y. The seed bootstrap draws the seeds with replacement, each
drawn seed bringing all of its runs (runs of one seed share their initial weights and data order, so they
are not independent); a seed drawn twice brings its runs twice, and those copies are pairs tied in both x
and y. The interval is the 2.5% and 97.5% percentiles of the resampled τ."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batch_momentum.analysis.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NO_DIFFERENCE, Verdict
from batch_momentum.io import tables as T

LEVEL = 0.95


def _signs(v: np.ndarray) -> np.ndarray:
    """sign(v_j − v_i) for every pair (n, n)."""
    return np.sign(v[None, :] - v[:, None])


def _weighted_tau(sx: np.ndarray, sy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """τ-b of the multisets in which run i appears w[k, i] times, one τ per row k of w (k, n); sx, sy the
    pair signs (n, n). Copies of one run are pairs tied in x and in y."""
    w = np.atleast_2d(w).astype(float)
    pairs = lambda m: np.einsum("ki,ij,kj->k", w, m, w) / 2  # noqa: E731  (ordered pairs counted twice)
    self_pairs = (w * (w - 1) / 2).sum(axis=1)
    total = w.sum(axis=1)
    n0 = total * (total - 1) / 2
    n1 = pairs((sx == 0).astype(float) - np.eye(len(sx))) + self_pairs
    n2 = pairs((sy == 0).astype(float) - np.eye(len(sy))) + self_pairs
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = pairs(sx * sy) / np.sqrt((n0 - n1) * (n0 - n2))
    return np.where((n0 - n1 > 0) & (n0 - n2 > 0), tau, np.nan)


def kendall_tau(x, y) -> float:
    """Kendall's τ-b of the pairs (x[i], y[i]): +1 when y rises with x, −1 when it falls, ties counted as
    τ-b does; NaN with fewer than two runs or when x or y is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"kendall_tau: x has {len(x)} values, y has {len(y)}")
    if len(x) < 2:
        return float("nan")
    return float(_weighted_tau(_signs(x), _signs(y), np.ones(len(x)))[0])


def seed_bootstrap(x, y, seeds, resamples: int, rng_seed: int = 0, level: float = LEVEL) -> dict:
    """τ-b of (x, y) over every run and its percentile interval over `resamples` seed bootstrap draws (the
    seeds drawn with replacement, each with all its runs; generator numpy default_rng(rng_seed)): tau, lo,
    hi, n_runs, n_seeds. Draws whose τ is undefined (x or y constant) are left out of the percentiles."""
    x, y, seeds = (np.asarray(v) for v in (x, y, seeds))
    unique, index = np.unique(seeds, return_inverse=True)
    out = dict(tau=kendall_tau(x, y), lo=float("nan"), hi=float("nan"), n_runs=int(len(x)), n_seeds=len(unique))
    if len(x) < 2:
        return out
    draws = np.random.default_rng(rng_seed).integers(0, len(unique), size=(resamples, len(unique)))
    counts = np.stack([np.bincount(d, minlength=len(unique)) for d in draws])  # (resamples, seeds)
    taus = _weighted_tau(_signs(x.astype(float)), _signs(y.astype(float)), counts[:, index])
    taus = taus[np.isfinite(taus)]
    if taus.size:
        tail = (1 - level) / 2
        out["lo"], out["hi"] = (float(v) for v in np.quantile(taus, [tail, 1 - tail]))
    return out


def tau_verdict(lo: float, hi: float, margin: float) -> Verdict:
    """The claim "the flatter run tests better" (τ between sharpness and test accuracy below zero) from τ's
    interval and the margin m, the smallest |τ| that matters: holds when hi < −m, does not hold when
    lo > +m, no difference when the interval lies inside [−m, m], inconclusive otherwise (or with a NaN end)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return INCONCLUSIVE
    if hi < -margin:
        return HOLDS
    if lo > margin:
        return DOES_NOT_HOLD
    if -margin <= lo and hi <= margin:
        return NO_DIFFERENCE
    return INCONCLUSIVE


def granulated(runs: pd.DataFrame, x: str, y: str, within: str) -> list[dict]:
    """Jiang et al.'s granulated τ: per value of `within` (a batch size, or an η), τ-b of x and y over the
    runs that share it, so that only the other hyperparameter (and the seed) varies: one dict per value
    (value, tau, n_runs, n_seeds), in order of value."""
    return [
        dict(value=float(v), tau=kendall_tau(g[x], g[y]), n_runs=int(len(g)), n_seeds=int(g[T.SEED].nunique()))
        for v, g in runs.groupby(within, sort=True)
    ]


def mean_tau(groups: list[dict]) -> float:
    """The mean τ over the groups whose τ is defined (NaN when none is): Jiang et al.'s average over the
    settings of the fixed hyperparameters."""
    taus = [g["tau"] for g in groups if np.isfinite(g["tau"])]
    return float(np.mean(taus)) if taus else float("nan")
