"""Tests of batch_momentum.stats on cell tables whose answer is known: y an exact function of g, or not of g."""
import numpy as np
import pandas as pd
import pytest

from batch_momentum.config import noise_temperature
from batch_momentum.stats import collapse_stats


def test_noise_temperature():
    assert noise_temperature(0.1, 1000, 10, 0.9) == pytest.approx(100.0)
    np.testing.assert_allclose(noise_temperature(0.1, 1000, np.array([10, 100]), 0.0), [10.0, 1.0])


def _grid():
    rows = [{"batch_size": b, "momentum": lam, "temperature": float(noise_temperature(0.05, 4000, b, lam))}
            for b in (8, 16, 32, 64, 128, 256, 512, 1024) for lam in (0.0, 0.5, 0.9)]
    return pd.DataFrame(rows)


def _exact(df):
    return 0.5 + 0.3 * np.tanh((np.log(df["temperature"]) - 2.5) / 2)


def test_collapse_stats_exact_function_of_g():
    df = _grid()
    df["test_acc"] = _exact(df)
    df.loc[0, "test_acc"] = np.nan  # dropped
    s = collapse_stats(df)
    assert s["n"] == len(df) - 1 and s["n_dropped"] == 1
    assert s["collapse_score"] > 0.99 and abs(s["group_gain"]) < 0.01
    assert s["spearman"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in s["spearman_by_group"].values())
    assert s["interpretation"].startswith("collapses")


def test_collapse_stats_separate_lambda_effect():
    df = _grid()
    df["test_acc"] = 0.9 - 0.05 * np.log2(df["batch_size"])  # lambda moves g but not y
    s = collapse_stats(df)
    exact = _grid()
    exact["test_acc"] = _exact(exact)
    assert s["collapse_score"] < collapse_stats(exact)["collapse_score"] - 0.1
    assert s["group_gain"] > 0.1
    assert s["interpretation"].startswith("does not collapse")


def test_collapse_stats_too_few_cells():
    s = collapse_stats(_grid().assign(test_acc=1.0).head(2))
    assert s["interpretation"] == "too few cells" and np.isnan(s["collapse_score"])


def test_collapse_stats_constant_y():
    s = collapse_stats(_grid().assign(test_acc=0.5))
    assert s["interpretation"].startswith("y is constant") and np.isnan(s["collapse_score"])
    assert np.isnan(s["spearman"])
