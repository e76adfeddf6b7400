"""Two runs of the same cell with the same seeds, each in its own process on the CPU, give
bit-identical weights, curves and metrics; every run records the code and software that made it."""

import json
import subprocess

import pandas as pd
import torch

from batch_momentum.io import provenance
from conftest import make_repo_copy, run, tiny_full

STEP = ["python", "-m", "batch_momentum"]


def _no_clock(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.endswith("wall_s")}


def test_two_runs_of_a_cell_are_bit_identical_and_record_their_provenance(tmp_path):
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    run([*STEP, "prepare", "--raw", "raw", "--out", "data.pt"], root)
    for name in ("a", "b"):
        run(
            [*STEP, "train", "--data", "data.pt", "--batch-size", "8", "--momentum", "0.9", "--out", f"{name}/cell"],
            root,
        )
        run(
            [
                *STEP,
                "evaluate",
                "--data",
                "data.pt",
                "--cell",
                f"{name}/cell",
                "--out",
                f"{name}/metrics",
                "--landscape",
                f"{name}/landscape",
            ],
            root,
        )
    for seed in (1, 2):
        a, b = (torch.load(root / f"{n}/cell/seed{seed}/model.pt", weights_only=True) for n in ("a", "b"))
        for key in ("state_dict", "init_state_dict"):
            assert a[key].keys() == b[key].keys()
            assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key  # bit for bit
        curves = [pd.read_csv(root / f"{n}/cell/seed{seed}/curve.csv").drop(columns="wall_s") for n in ("a", "b")]
        pd.testing.assert_frame_equal(*curves, check_exact=True)
        ma, mb = (json.loads((root / f"{n}/metrics/seed{seed}.json").read_text()) for n in ("a", "b"))
        assert _no_clock(ma) == _no_clock(mb) and ma["status"] == "ok" and ma["hessian_top"] is not None
        la, lb = ((root / f"{n}/landscape/seed{seed}.json").read_text() for n in ("a", "b"))
        assert la == lb

    summary = json.loads((root / "a/cell/seed1/train.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    assert summary["git_commit"] == head and summary["git_dirty"] is False
    assert summary["package_version"] == "0.1.0" and summary["torch_version"] == torch.__version__
    assert summary["python"].count(".") == 2 and summary["device"] == "cpu"
    line = provenance.describe([summary])
    assert head[:12] in line and "clean tree" in line and torch.__version__ in line


def test_a_changed_tracked_file_marks_the_tree_dirty(tmp_path, monkeypatch):
    root = make_repo_copy(tmp_path, git=True)
    (root / "dvc.lock").write_text("schema: '2.0'\n")
    run(["git", "add", "dvc.lock"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"], root)
    monkeypatch.chdir(root)
    assert provenance.code_version()["git_dirty"] is False
    (root / "dvc.lock").write_text("rewritten by dvc repro: not counted\n")
    assert provenance.code_version()["git_dirty"] is False
    (root / "src/batch_momentum/training/optim.py").write_text("# an edit\n")
    assert provenance.code_version()["git_dirty"] is True
    monkeypatch.chdir(tmp_path.parent)  # outside any checkout
    assert provenance.code_version()["git_commit"] is None


def test_every_core_trains_measures_and_interpolates_bit_for_bit_as_one(tmp_path):
    """DVC's stages take every core (--threads all, pipeline.DVC_THREADS), Snakemake's jobs one: a step deals
    its models over one process per core (training.parallel), and the weights, curves, measures and
    interpolations come out bit for bit those of one process."""
    root = make_repo_copy(tmp_path, params=tiny_full(), git=True)
    run([*STEP, "prepare", "--raw", "raw", "--out", "data.pt"], root)
    for name, threads in (("one", "1"), ("all", "2")):
        cell = ["--data", "data.pt", "--threads", threads]
        run([*STEP, "train", *cell, "--batch-size", "200", "--momentum", "0.9", "--out", f"{name}/b200"], root)
        for b in (8, 100):  # tiny.yaml's pair: 1 and 2 start steps x 2 seeds, each side extended once
            equal = ["--batch-size", str(b), "--momentum", "0.9", "--protocol", "equal_acc", "--out", f"{name}/e{b}"]
            run([*STEP, "train", *cell, *equal], root)
        measure = ["--protocol", "equal_acc", "--out", f"{name}/m", "--landscape", f"{name}/l", "--eta-out"]
        run([*STEP, "evaluate", *cell, "--cell", f"{name}/e100", *measure, f"{name}/eta.csv"], root)
        run(
            [*STEP, "interpolate", *cell, "--small", f"{name}/e8", "--large", f"{name}/e100", "--out", f"{name}/i"],
            root,
        )
    for n in ("e8", "e100"):
        assert (root / f"one/{n}/candidates.csv").read_text() != ""
        assert pd.read_csv(root / f"one/{n}/candidates.csv").sweep_round.max() == 1  # the cell extended once
        frames = [pd.read_csv(root / f"{d}/{n}/candidates.csv").drop(columns="train_wall_s") for d in ("one", "all")]
        pd.testing.assert_frame_equal(*frames, check_exact=True)
    assert (root / "one/eta.csv").read_bytes() == (root / "all/eta.csv").read_bytes()
    for seed in (1, 2):
        one, every = (torch.load(root / f"{n}/b200/seed{seed}/model.pt", weights_only=True) for n in ("one", "all"))
        assert all(torch.equal(one["state_dict"][k], every["state_dict"][k]) for k in one["state_dict"])
        curves = [pd.read_csv(root / f"{n}/b200/seed{seed}/curve.csv").drop(columns="wall_s") for n in ("one", "all")]
        pd.testing.assert_frame_equal(*curves, check_exact=True)
        ran = [json.loads((root / f"{n}/b200/seed{seed}/train.json").read_text()) for n in ("one", "all")]
        # two cores: the cell's 2 models in 2 processes of one thread, a stack of one model each
        assert [(r["threads"], r["processes"], r["stacked_models"]) for r in ran] == [(1, 1, 2), (1, 2, 1)]
        ma, mb = (_no_clock(json.loads((root / f"{n}/m/seed{seed}.json").read_text())) for n in ("one", "all"))
        for how in ("threads", "processes", "stacked_models"):  # how training ran, copied from train.json
            ma.pop(how), mb.pop(how)
        assert ma == mb and ma["status"] == "ok" and ma["hessian_top"] is not None
        ia, ib = ((root / f"{n}/i/seed{seed}.json").read_text() for n in ("one", "all"))
        assert ia == ib and len(json.loads(ia)["alpha"]) > 0
    bad = run(
        [*STEP, "train", "--data", "data.pt", "--threads", "0", "--batch-size", "8", "--momentum", "0", "--out", "x"],
        root,
        check=False,
    )
    assert bad.returncode != 0 and "--threads '0': give a whole number >= 1, or 'all' for every core" in bad.stderr
