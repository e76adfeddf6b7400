"""The CUDA path, on a GPU only (skipped where torch sees none; scripts/gpu_check.sh runs these on
a lent GPU machine): training on the device, the CUDA-graph update against the eager one, and
the device recorded in every result."""

import dataclasses

import pytest
import torch

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.training import device as devices
from batch_momentum.training import loop
from conftest import tiny_with

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")
QUIET = dict(log=lambda s: None)


def _cell(name, hidden, **train_keys):
    p = tiny_with(train=dict(device="cuda", **train_keys))
    return dataclasses.replace(p, model=config.Model(name, tuple(hidden), ()))


def _close(a: list[dict], b: list[dict], rtol: float):
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b]
    for ra, rb in zip(a, b):
        for k in ("train_loss", "val_loss"):
            assert ra[k] == pytest.approx(rb[k], rel=rtol, abs=1e-6), (k, ra, rb)
        for k in ("train_acc", "val_acc"):
            assert abs(ra[k] - rb[k]) <= 0.02, (k, ra, rb)


@pytest.mark.parametrize("name,hidden", [("mlp", [32]), ("cnn", [4])])
@pytest.mark.parametrize("batch_size,epochs", [(1, 2), (16, 12)])
def test_cuda_graph_updates_are_the_eager_updates(name, hidden, batch_size, epochs):
    """B = 16: a short last batch (200 = 12*16 + 8) and seeds that stop at the target while the
    others go on (the stack shrinks and is captured again); one eta per model."""
    devices.setup("cuda", None)
    p = _cell(name, hidden, max_epochs=epochs, target_train_acc=0.6)
    blob = prepared.to_device(prepared.prepare(p.data), CUDA)
    # B = 1 at these etas stays finite (at 0.1 two seeds diverge, and a blowing-up run checks little)
    kw = dict(lrs=[0.02, 0.05, 0.05] if batch_size == 1 else [0.05, 0.1, 0.1], **QUIET)
    eager = loop.train_cell(
        dataclasses.replace(p, train=dataclasses.replace(p.train, cuda_graph="never")),
        blob,
        batch_size,
        0.5,
        [1, 2, 3],
        CUDA,
        **kw,
    )
    graphed = loop.train_cell(p, blob, batch_size, 0.5, [1, 2, 3], CUDA, **kw)
    for e, g in zip(eager, graphed):
        assert e["summary"]["status"] != "diverged"
        assert e["summary"]["update_path"] == "eager" and g["summary"]["update_path"] == "cuda graph"
        assert g["summary"]["status"] == e["summary"]["status"] and g["summary"]["epochs"] == e["summary"]["epochs"]
        _close(g["curve"], e["curve"], rtol=1e-5)
        for key in e["state"]:
            assert torch.allclose(g["state"][key], e["state"][key], atol=1e-5, rtol=1e-4), key
        assert g["summary"]["device_name"] == torch.cuda.get_device_name(CUDA)
    if batch_size == 16:
        assert len({r["summary"]["epochs"] for r in eager}) > 1  # the stack shrank


@pytest.mark.parametrize("name,hidden", [("mlp", [32]), ("cnn", [4])])
def test_training_on_cuda_agrees_with_the_cpu(name, hidden):
    """Same seeds, same shuffles (drawn on the CPU): the two devices differ by float rounding only
    (convolutions in full float32, not TF32: device.full_float32)."""
    devices.setup("cuda", None)
    p = _cell(name, hidden, max_epochs=3, target_train_acc=None)
    blob = prepared.prepare(p.data)
    cpu = loop.train_cell(p, blob, 8, 0.9, [1, 2], torch.device("cpu"), **QUIET)
    gpu = loop.train_cell(p, prepared.to_device(blob, CUDA), 8, 0.9, [1, 2], CUDA, **QUIET)
    for c, g in zip(cpu, gpu):
        _close(g["curve"], c["curve"], rtol=1e-3)
        assert g["summary"]["device"].startswith("cuda") and c["summary"]["device"] == "cpu"


def test_auto_picks_cuda_and_the_data_lives_there(tmp_path):
    p = tiny_with(train=dict(device="auto"))
    path = tmp_path / "mnist1d.pt"
    torch.save(prepared.prepare(p.data), path)
    device, blob = prepared.load_on_device(path, p, None)
    assert device.type == "cuda" and blob["x_train"].is_cuda and blob["y_val"].is_cuda
