"""Timing step: equal gradients both ways, rows and CSV, figures."""

import math

import matplotlib
import pandas as pd
import pytest
import torch

from batch_momentum import config
from batch_momentum.io import tables
from batch_momentum.measures import timing
from batch_momentum.report.plots import timing as plots_timing
from batch_momentum.training.models import make_model
from batch_momentum.training.optim import LectureMomentum


def small_model():
    torch.manual_seed(0)
    return make_model("mlp", (40,), 10, hidden=(16, 16))


def test_gradients_both_ways_equal_float64():
    model = small_model().double()
    x = torch.randn(33, 40, dtype=torch.float64)
    y = torch.randint(0, 10, (33,))
    g_par, g_seq = timing.gradients_both_ways(model, x, y)
    assert g_par.dtype == torch.float64 and g_par.shape == g_seq.shape
    torch.testing.assert_close(g_par, g_seq, rtol=1e-12, atol=1e-14)
    assert all(p.grad is None for p in model.parameters())


def test_update_parallel_is_one_step_of_the_lectures_rule():
    x = torch.randn(10, 40, dtype=torch.float64)
    y = torch.randint(0, 10, (10,))
    model = small_model().double()
    before = [p.detach().clone() for p in model.parameters()]
    g, _ = timing.gradients_both_ways(model, x, y)
    loss = timing.update_parallel(model, LectureMomentum(model.parameters(), lr=0.1, momentum=0.9), x, y)
    assert loss.dim() == 0 and loss.requires_grad is False
    after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(after, torch.cat([p.reshape(-1) for p in before]) - 0.1 * g, rtol=1e-12, atol=1e-14)


@pytest.fixture(scope="module")
def rows():
    torch.manual_seed(0)
    x = torch.randn(200, 40)
    y = torch.randint(0, 10, (200,))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the timing step runs by default: no thread waits on a busy core
    try:
        cfg = config.Timing(
            batch_sizes=(1, 8, 200), warmup=1, repeats=5, epoch_budget_s=0.5, sequential_cap=16, threads=1
        )
        return timing.run_timing(small_model, x, y, cfg, lr=0.05, momentum=0.0, device="cpu")
    finally:
        torch.set_num_threads(threads)


def test_run_timing_rows(rows):
    assert [r["batch_size"] for r in rows] == [1, 8, 200]
    for r in rows:
        assert list(r) == list(tables.TIMING.columns)
        assert r["device"] == "cpu" and r["n_train"] == 200 and r["repeats"] == 5
        assert r["updates_per_epoch"] == math.ceil(200 / r["batch_size"])
        for mode in ("parallel", "sequential"):
            assert 0 < r[f"{mode}_min_s"] <= r[f"{mode}_median_s"] <= r[f"{mode}_max_s"]
        assert r["epoch_estimated_s"] == pytest.approx(r["updates_per_epoch"] * r["parallel_median_s"])
        if r["epoch_estimated_s"] <= 0.5:
            assert r["epoch_measured_s"] > 0
        else:
            assert math.isnan(r["epoch_measured_s"])
    assert [r["sequential_extrapolated"] for r in rows] == [False, False, True]
    # one example one after another costs about B single-example passes (the fastest repeats: a busy
    # machine delays single repeats, never speeds them up)
    assert rows[2]["sequential_min_s"] > 5 * rows[2]["parallel_min_s"]


def test_epoch_budget_zero_gives_nan():
    x, y = torch.randn(20, 40), torch.randint(0, 10, (20,))
    cfg = config.Timing(batch_sizes=(20,), warmup=0, repeats=1, epoch_budget_s=0.0, sequential_cap=8, threads=1)
    r = timing.run_timing(small_model, x, y, cfg, lr=0.05, momentum=0.0, device="cpu")[0]
    assert math.isnan(r["epoch_measured_s"]) and r["epoch_estimated_s"] > 0


def test_csv_round_trip(rows, tmp_path):
    path = tables.write_timing(rows, tmp_path / "sub" / "t.csv")
    df = tables.read_timing(path)
    assert list(df.columns) == list(tables.TIMING.columns)
    assert df["batch_size"].tolist() == [1, 8, 200]
    assert df["sequential_extrapolated"].dtype == bool


def test_read_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="rerun the timing step"):
        tables.read_timing(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("batch_size,parallel_median_s\n1,0.1\n")
    with pytest.raises(ValueError, match="rerun the timing step") as exc:
        tables.read_timing(bad)
    msg = str(exc.value)
    assert "\n" not in msg and str(bad) in msg and "sequential_median_s" in msg
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="rerun the timing step"):
        tables.read_timing(empty)


def test_the_timing_frame_holds_each_ways_medians_against_batch_size(rows):
    df = pd.DataFrame(rows)
    frame = plots_timing.timing_frame(df)
    at = frame.set_index([plots_timing.WAY, plots_timing.X])
    for way, col in ((plots_timing.PARALLEL, "parallel_median_s"), (plots_timing.SEQUENTIAL, "sequential_median_s")):
        assert list(at.loc[way, plots_timing.Y]) == list(df[col]) and list(at.loc[way].index) == [1, 8, 200]
    assert list(at.loc[plots_timing.PARALLEL, plots_timing.LO]) == list(df.parallel_min_s)
    extrapolated = frame[frame[plots_timing.MARK] == plots_timing.EXTRAPOLATED]  # only B = 200: beyond sequential_cap
    assert list(extrapolated[plots_timing.X]) == [200] and set(extrapolated[plots_timing.WAY]) == {
        plots_timing.SEQUENTIAL
    }
    assert list(at.loc[plots_timing.ESTIMATED, plots_timing.Y]) == list(df.epoch_estimated_s)
    measured = df.epoch_measured_s.dropna()
    assert list(at.loc[plots_timing.MEASURED, plots_timing.Y]) == list(measured)  # not measured: left out
    fig = plots_timing.plot_time_per_update(df)
    assert df["device_name"].iloc[0] in fig.get_suptitle() and [ax.get_title() for ax in fig.axes] == [
        plots_timing.UPDATE
    ]
    matplotlib.pyplot.close(fig)
    fig = plots_timing.plot_timing(df)
    assert [ax.get_title() for ax in fig.axes] == [
        plots_timing.UPDATE,
        f"{plots_timing.EPOCH} (N = {df.n_train.iloc[0]})",
    ]
    matplotlib.pyplot.close(fig)
