"""batch_momentum.training.parallel: a stack's models dealt over processes train, model by model, bit for
bit as in one stack, however the stack is split and whenever its models stop; the plan and the split on
cases whose answer is known; an error in another process reaches the caller."""

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from batch_momentum import config
from batch_momentum.data import prepared
from batch_momentum.training import loop, parallel
from conftest import tiny_with

CPU = torch.device("cpu")


def test_plan_gives_one_process_per_core_up_to_one_per_model_and_the_rest_as_threads():
    assert parallel.plan(2, 40, CPU) == (2, 1)
    assert parallel.plan(8, 3, CPU) == (3, 2)  # 3 models: 3 processes, 8 // 3 = 2 threads each
    assert parallel.plan(4, 1, CPU) == (1, 4)  # one model: its threads
    assert parallel.plan(1, 40, CPU) == (1, 1)
    assert parallel.plan(0, 5, CPU) == (1, 1)
    assert parallel.plan(16, 40, torch.device("cuda")) == (1, 16)  # one GPU: one process


def test_split_deals_round_robin_so_every_part_gets_every_eta():
    assert parallel.split(5, 2) == [[0, 2, 4], [1, 3]]
    assert parallel.split(2, 4) == [[0], [1]]
    assert parallel.split(6, 1) == [[0, 1, 2, 3, 4, 5]]
    # 3 eta x 4 seeds in the order of train_equal_acc (eta by eta): each part holds all 3 eta
    members = [(lr, s) for lr in (0.1, 0.2, 0.4) for s in (1, 2, 3, 4)]
    for part in parallel.split(len(members), 2):
        assert {members[i][0] for i in part} == {0.1, 0.2, 0.4}
    assert sorted(i for part in parallel.split(12, 5) for i in part) == list(range(12))


def _same(a: list[dict], b: list[dict]) -> None:
    """Model by model the same weights, curves and summaries, bit for bit (NaN where both diverged to NaN)."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for key in ("state", "init_state"):
            assert ra[key].keys() == rb[key].keys()
            for k in ra[key]:
                torch.testing.assert_close(ra[key][k], rb[key][k], rtol=0, atol=0, equal_nan=True)
        curves = [pd.DataFrame(r["curve"]).drop(columns="wall_s") for r in (ra, rb)]
        pd.testing.assert_frame_equal(*curves, check_exact=True)
        sa, sb = ({k: v for k, v in r["summary"].items() if not k.endswith("wall_s")} for r in (ra, rb))
        assert sa.pop("stacked_models") >= sb.pop("stacked_models")
        for how in ("threads", "processes"):  # how the work ran, not what it computed
            sa.pop(how), sb.pop(how)
        assert sa == sb


@pytest.mark.parametrize("name,hidden", [("linear", ()), ("mlp", (32, 16))])
def test_a_sweep_split_over_processes_trains_bit_for_bit_as_one_stack(name, hidden):
    p = tiny_with(train={"max_epochs": 12})
    p = dataclasses.replace(p, model=config.Model(name, hidden, ()))
    blob = prepared.prepare(p.data)
    # eta from one that runs its budget to one that stalls and one that diverges: models leave the stack at
    # different epochs
    members = [(lr, s) for lr in (0.02, 0.2, 1e6) for s in (1, 2, 3)]
    kw = dict(lrs=[lr for lr, _ in members], budget=loop.Budget(12, 0.95, patience=3), log=lambda s: None)
    seeds = [s for _, s in members]
    one = loop.train_cell(p, blob, 8, 0.5, seeds, CPU, cores=1, **kw)
    assert {r["summary"]["status"] for r in one} >= {"stalled", "diverged"}
    assert len({r["summary"]["epochs"] for r in one}) > 2
    for cores in (2, 3):
        split = loop.train_cell(p, blob, 8, 0.5, seeds, CPU, cores=cores, **kw)
        _same(one, split)
        sizes = [len(part) for part in parallel.split(len(members), cores)]
        assert sorted(r["summary"]["stacked_models"] for r in split) == sorted(n for n in sizes for _ in range(n))
        assert {(r["summary"]["threads"], r["summary"]["processes"]) for r in split} == {(1, cores)}


def test_convolutions_train_in_one_stack_on_every_core():
    """A grouped convolution's last bits depend on how many models it holds: a CNN is never split."""
    p = dataclasses.replace(tiny_with(train={"max_epochs": 2}), model=config.Model("cnn", (4,), ()))
    blob = prepared.prepare(p.data)
    assert parallel.plan_for(p, blob["meta"], 2, 3, CPU) == (1, 2)
    mlp = dataclasses.replace(p, model=config.Model("mlp", (8,), ()))
    assert parallel.plan_for(mlp, blob["meta"], 2, 3, CPU) == (2, 1)
    before = torch.get_num_threads()
    trained = loop.train_cell(p, blob, 8, 0.5, [1, 2, 3], CPU, cores=2, log=lambda s: None)
    assert {r["summary"]["stacked_models"] for r in trained} == {3}
    assert torch.get_num_threads() == before


def _fails(x: int) -> int:
    if x == 2:
        raise ValueError(f"part {x} failed")
    return x * 10


def test_run_parts_keeps_the_order_and_raises_an_error_of_another_process():
    assert parallel.run_parts(_fails, [(0,), (1,), (3,)]) == [0, 10, 30]
    with pytest.raises(ValueError, match="part 2 failed"):
        parallel.run_parts(_fails, [(0,), (2,)])


def _sleep_and_tell(path: str, seconds: float) -> int:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return 0


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_ends_soon_after_the_process_that_started_it_is_killed(tmp_path):
    code = (
        "from batch_momentum.training import parallel\n"
        "from test_parallel import _sleep_and_tell\n"
        f"parallel.run_parts(_sleep_and_tell, [({str(tmp_path / 'a')!r}, 120), ({str(tmp_path / 'b')!r}, 120)])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "b").exists() or not (tmp_path / "b").read_text():
            assert time.monotonic() < deadline and parent.poll() is None, "the worker never started"
            time.sleep(0.1)
        worker = int((tmp_path / "b").read_text())
        assert worker != parent.pid and _alive(worker)
        parent.kill()  # as SIGKILL to a stage: no clean-up runs in the parent
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(worker):
            assert time.monotonic() < deadline, "the worker outlived its parent by 10 s"
            time.sleep(0.2)
    finally:
        parent.kill()


def test_planning_leaves_torch_generator_as_it_was():
    p = tiny_with()
    blob = prepared.prepare(p.data)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    parallel.plan_for(p, blob["meta"], 2, 3, CPU)
    assert torch.equal(torch.rand(3), expected)


def _is_shared(x: torch.Tensor, blob: dict) -> list[bool]:
    return [x.is_shared(), blob["x"].is_shared()]


def test_every_tensor_is_in_shared_memory_before_the_first_part_runs():
    """The pool's feeder thread would otherwise move a tensor to shared memory (swapping its storage) while this
    process reads it in its own part."""
    x, blob = torch.zeros(1000), {"x": torch.ones(10), "meta": {"n": 1}}
    assert not x.is_shared() and not blob["x"].is_shared()
    first, second = parallel.run_parts(_is_shared, [(x, blob), (x, blob)])
    assert first == [True, True] and second == [True, True]
    module = torch.nn.Linear(3, 2)
    parallel.share([module])
    assert all(p.is_shared() for p in module.parameters())
