"""The benchmark: MACs counted from the layers (closed-form cases), and one real tiny run."""

import math

import pytest
import torch
import yaml
from torch import nn

from batch_momentum import cli, config
from batch_momentum.data import prepared
from batch_momentum.io import tables as T
from batch_momentum.training import bench, models
from conftest import tiny_full, tiny_with


@pytest.fixture
def one_thread():
    """One torch thread, as the bench runs (two on a busy 2-core machine: 10x slower); then
    the other tests get theirs back (main() too sets threads, to train.threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "model,input_shape,macs",
    [
        # MLP 40-256-256-10: 40*256 + 256*256 + 256*10
        (models.make_model("mlp", (40,), 10, [256, 256]), (40,), 78336),
        # the project's cnn, channels [4, 8], kernel 5, stride 2, padding 2: length 40 -> 20 -> 10;
        # conv1 4 out x 20 positions x (1 in x 5 taps) = 400, conv2 8 x 10 x (4 x 5) = 1600, head 80*10 = 800
        (models.make_model("cnn", (40,), 10, [4, 8]), (40,), 400 + 1600 + 800),
        # grouped Conv1d(4 -> 6, kernel 3, groups 2) on length 10 -> 8: 6 x 8 x (4/2 x 3) = 288; head 48*10 = 480
        (nn.Sequential(nn.Conv1d(4, 6, 3, groups=2), nn.Flatten(), nn.Linear(48, 10)), (4, 10), 288 + 480),
        # Conv2d(3 -> 8, 3x3, padding 1) on 5x5: 8 x 25 x (3 x 9) = 5400 (bias is not a MAC)
        (nn.Sequential(nn.Conv2d(3, 8, 3, padding=1)), (3, 5, 5), 5400),
    ],
)
def test_forward_macs_closed_form(model, input_shape, macs):
    assert bench.forward_macs(model, input_shape) == macs
    assert not model._forward_hooks and not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_tiny_run_writes_one_consistent_row_per_batch_size(tmp_path, one_thread):
    params = tiny_full()  # n_train 200, MLP 40-32-10, seeds [1, 2]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = tmp_path / "bench.csv"
    assert (
        bench.main(
            [
                "--params",
                str(tmp_path / "params.yaml"),
                "--batch-sizes",
                "200",
                "1",
                "8",
                "--epochs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = T.BENCH.read(out)
    assert list(table.columns) == list(T.BENCH.columns)  # the schema's columns, in its order
    assert table[T.BATCH_SIZE].tolist() == [1, 8, 200]
    assert table[T.UPDATES_PER_EPOCH].tolist() == [200, 25, 1]
    for _, r in table.iterrows():
        t = {k: r[bench.EPOCH_S[k]] for k in bench.LOOPS if k != "graph"}
        assert all(v > 0 for v in t.values()), r
        # CUDA graphs exist on CUDA only: on the CPU that loop's columns are empty
        assert r[T.DEVICE] == "cpu" and all(
            math.isnan(r[c]) for c in (T.GRAPH_S, T.STACKED_OVER_GRAPH, T.GRAPH_OVER_BOUND)
        )
        assert r[T.EXAMPLES_OVER_STACKED] == pytest.approx(t["examples"] / t["stacked"], rel=1e-12)
        assert r[T.EXAMPLES_OVER_ALONE] == pytest.approx(t["examples"] / t["alone"], rel=1e-12)
        bound = r[T.BOUND_S]
        assert r[T.MACS_PER_EXAMPLE] == 40 * 32 + 32 * 10
        assert bound == pytest.approx(6 * 1600 * 200 / (r[T.PEAK_GFLOPS] * 1e9), rel=1e-12)
        for k in t:
            assert r[bench.OVER_BOUND[k]] == pytest.approx(t[k] / bound, rel=1e-12)
        assert not r[T.EXAMPLES_SCALED]  # 200 updates at most: every epoch timed whole
        assert r[T.STACKED_MODELS] == 2 and r[T.THREADS] == 1 and r[T.EPOCHS] == 1
        assert 0 < r[T.LR] <= 0.05 and r[T.MOMENTUM] == 0.9


def test_examples_loop_scales_a_long_epoch(tiny_params, one_thread):
    p = config.validate(tiny_params)
    blob = prepared.prepare(p.data)
    p = bench.cell_params(p, 0.01, epochs=1)
    t_scaled, scaled = bench.examples_epoch_s(p, blob, 1, 0.9, 1, cap=50)  # 50 of 200 updates, x4
    torch.use_deterministic_algorithms(True, warn_only=True)  # as train_cell leaves it
    t_whole, whole = bench.examples_epoch_s(p, blob, 1, 0.9, 1)
    # the examples loop ran as the usual loop does, and the project's setting is back
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert scaled and not whole and t_scaled > 0 and t_whole > 0


def test_a_diverging_lr_is_halved_until_the_project_loop_trains(one_thread):
    # B=1, lambda 0.9, eta 2 at every lambda: the loss blows up (> status.DIVERGED_LOSS) in the first epoch
    p = tiny_with(train={"lr": 2.0, "lr_momentum": "constant"})
    blob = prepared.prepare(p.data)
    lines = []
    cell, t = bench.project_times(p, blob, 1, 0.9, [1, 2], epochs=1, log=lines.append)
    halvings = len(lines)
    assert halvings >= 1 and all("diverged" in line for line in lines)
    assert cell.train.lr == 2.0 / 2**halvings and t["stacked"] > 0 and t["alone"] > 0


def test_batch_size_outside_the_data_is_a_one_line_error(tmp_path, one_thread, capsys):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_full(), sort_keys=False))
    rc = cli.main(
        [
            "bench",
            "--params",
            str(tmp_path / "params.yaml"),
            "--batch-sizes",
            "8",
            "201",
            "--out",
            str(tmp_path / "b.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "1..200" in err and "[8, 201]" in err
    assert not (tmp_path / "b.csv").exists()
