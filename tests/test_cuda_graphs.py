"""The update path of train_cell: eager, or replayed from captured CUDA graphs (batch_momentum.graphs).

On the CPU the graphs' bookkeeping is checked with a backend that runs the captured function
again where CUDA would replay it: the batch must come from the static index buffer, the
warm-up updates before a capture must leave no trace, and a stack that shrinks must be
captured again. tests/test_gpu.py checks the real capture on a GPU.
"""

import dataclasses

import pytest
import torch
import yaml

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.training import cuda_graphs, loop
from batch_momentum.training.stacked import StackedNet, trainer
from conftest import tiny_full, tiny_with

CPU = torch.device("cpu")
QUIET = dict(log=lambda s: None)


class Rerun:
    """Capture = keep the function; replay = call it again. Counts what it was asked to do."""

    def __init__(self):
        self.warmups = self.captures = self.replays = 0

    def warm_up(self, fn, times):
        self.warmups += 1
        for _ in range(times):
            fn()

    def capture(self, fn):
        self.captures += 1

        def replay():
            self.replays += 1
            fn()

        return replay


def graph_with(monkeypatch, backend):
    """From here on, train_cell replays graphs through `backend` whatever the device."""
    monkeypatch.setattr(cuda_graphs, "updater", lambda opt, x, y, *args: cuda_graphs.Graphed(opt, x, y, backend))


@pytest.mark.parametrize("name,hidden", [("mlp", [32]), ("cnn", [4])])
def test_graphed_updates_are_the_eager_updates(name, hidden, monkeypatch):
    """Same curves and weights, number for number, with a short last batch (200 = 12*16 + 8), one
    eta per model, and seeds that stop at the target while the others go on (a recapture)."""
    p = tiny_with(train=dict(max_epochs=25, target_train_acc=0.6))
    p = dataclasses.replace(p, model=config.Model(name, tuple(hidden), ()))
    blob = prepared.prepare(p.data)
    kw = dict(lrs=[0.05, 0.1, 0.1], **QUIET)
    eager = loop.train_cell(p, blob, 16, 0.5, [1, 2, 3], CPU, **kw)
    backend = Rerun()
    graph_with(monkeypatch, backend)
    graphed = loop.train_cell(p, blob, 16, 0.5, [1, 2, 3], CPU, **kw)
    epochs = [r["summary"]["epochs"] for r in eager]
    assert len(set(epochs)) > 1, epochs  # the stack shrank at least once
    strip = lambda curve: [{k: v for k, v in row.items() if k != "wall_s"} for row in curve]  # noqa: E731
    for e, g in zip(eager, graphed):
        assert strip(g["curve"]) == strip(e["curve"])
        for key in e["state"]:
            assert torch.equal(g["state"][key], e["state"][key]), key
        assert e["summary"]["update_path"] == "eager" and g["summary"]["update_path"] == "cuda graph"
    # two shapes (16 and the last 8) per stack size; each stack size after a shrink is captured again
    stacks = len(set(epochs))
    assert backend.captures == 2 * stacks and backend.warmups == backend.captures
    assert backend.replays == 13 * max(epochs)  # 13 updates per epoch until the last seed stops


def test_warm_up_before_a_capture_leaves_no_trace(monkeypatch):
    """The warm-up runs WARMUP real updates; the state after the first graphed update must be
    that of one eager update from the same start."""
    p = tiny_with(train=dict(max_epochs=1, target_train_acc=None))
    blob = prepared.prepare(p.data)
    eager = loop.train_cell(p, blob, 200, 0.9, [1], CPU, **QUIET)  # full batch: one update per epoch
    rerun = Rerun()
    graph_with(monkeypatch, rerun)
    graphed = loop.train_cell(p, blob, 200, 0.9, [1], CPU, **QUIET)
    assert rerun.warmups == 1 and rerun.replays == 1
    for key in eager[0]["state"]:
        assert torch.equal(graphed[0]["state"][key], eager[0]["state"][key])


def test_auto_is_eager_on_the_cpu_and_never_is_eager_everywhere():
    p = tiny_with(train=dict(max_epochs=1))
    assert p.train.cuda_graph == "auto"
    blob = prepared.prepare(p.data)
    res = loop.train_cell(p, blob, 50, 0.0, [1], CPU, **QUIET)
    assert res[0]["summary"]["update_path"] == "eager"
    cuda = torch.device("cuda")
    assert type(cuda_graphs.updater(None, None, None, cuda, "never", 8)) is cuda_graphs.Eager
    assert type(cuda_graphs.updater(None, None, None, cuda, "auto", 8)) is cuda_graphs.Graphed
    # beyond MAX_BATCH an update is arithmetic, not launches: eager, without a graph's memory
    assert type(cuda_graphs.updater(None, None, None, cuda, "auto", cuda_graphs.MAX_BATCH)) is cuda_graphs.Graphed
    assert type(cuda_graphs.updater(None, None, None, cuda, "auto", cuda_graphs.MAX_BATCH + 1)) is cuda_graphs.Eager


class Uncapturable(Rerun):
    """A capture that fails as CUDA does when an op syncs with the host during capture."""

    def capture(self, fn):
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")


def test_a_failed_capture_stops_the_run_in_one_line_naming_the_way_on(monkeypatch):
    """Not an eager fallback in the same process: after a failed capture PyTorch's allocator is not
    reliably usable. CaptureError is a ValueError, which every step prints as one line."""
    p = tiny_with(train=dict(max_epochs=2, target_train_acc=None))
    blob = prepared.prepare(p.data)
    graph_with(monkeypatch, Uncapturable())
    with pytest.raises(cuda_graphs.CaptureError) as info:
        loop.train_cell(p, blob, 16, 0.9, [1, 2], CPU, **QUIET)
    msg = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in msg
    assert "operation not permitted when stream is capturing" in msg and "(2, 16)" in msg
    assert "train.cuda_graph: never" in msg


class FailingWarmUp(Rerun):
    """A warm-up that runs two updates and then fails (out of memory, say)."""

    def warm_up(self, fn, times):
        fn()
        fn()
        raise RuntimeError("CUDA out of memory")


def test_a_failed_warm_up_leaves_the_weights_as_they_were():
    p = tiny_with(train=dict(max_epochs=1, target_train_acc=None))
    blob = prepared.prepare(p.data)
    net = StackedNet(loop.init_models(p, blob["meta"], [1, 2]), blob["meta"]["input_shape"])
    opt = trainer(net, 0.05, 0.9)
    before = [t.detach().clone() for t in net.params]
    step = cuda_graphs.Graphed(opt, blob["x_train"], blob["y_train"], FailingWarmUp())
    with pytest.raises(RuntimeError, match="out of memory"):
        step(torch.zeros(2, 16, dtype=torch.long))
    assert all(torch.equal(a, b) for a, b in zip(net.params, before))
    assert all(not m.any() for m in opt.m)  # the momentum buffers too


def test_a_bad_cuda_graph_value_is_one_line(tmp_path):
    bad = tmp_path / "params.yaml"
    full = tiny_full()
    full["train"]["cuda_graph"] = False  # what YAML makes of an unquoted `off`
    bad.write_text(yaml.safe_dump(full))
    with pytest.raises(config.ParamsError) as err:
        config.load(bad)
    msg = str(err.value)
    assert "\n" not in msg and "train.cuda_graph" in msg and "never" in msg, msg


def test_setup_asks_for_full_float32_convolutions_on_cuda():
    """cuDNN defaults to TF32 convolutions; the project's numbers are float32 on every device."""
    from batch_momentum.training import device

    device.setup("cpu", None)
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision"):
        assert conv.fp32_precision == "ieee"
    # the legacy flag agrees, so code that still reads it (cudnn.flags(), torch's own
    # compilers) does not stop on "a mix of the legacy and new APIs"
    assert torch.backends.cudnn.allow_tf32 is False
    with torch.backends.cudnn.flags(enabled=True):
        pass


def test_captures_happen_before_the_clock_starts(monkeypatch):
    """A capture is set-up, not training: the clock train_cell reads must not run while the graphs
    are captured (6 captures here: 2 batch shapes x 3 stack sizes as seeds stop). Each capture
    moves train_cell's clock on by an hour, so a capture inside the timed region shows."""
    import time

    hours = [0.0]

    class SlowRerun(Rerun):
        def warm_up(self, fn, times):
            hours[0] += 3600.0
            super().warm_up(fn, times)

    class Clock:
        @staticmethod
        def perf_counter():
            return time.perf_counter() + hours[0]

    p = tiny_with(train=dict(max_epochs=25, target_train_acc=0.6))
    blob = prepared.prepare(p.data)
    backend = SlowRerun()
    graph_with(monkeypatch, backend)
    monkeypatch.setattr(loop, "time", Clock)
    res = loop.train_cell(p, blob, 16, 0.5, [1, 2, 3], CPU, lrs=[0.05, 0.1, 0.1], **QUIET)
    assert backend.captures == 6 and hours[0] == 6 * 3600.0
    assert max(r["curve"][-1]["wall_s"] for r in res) < 3600.0
