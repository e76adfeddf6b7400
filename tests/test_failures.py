"""The failure table of docs/troubleshooting.md ("When something goes wrong"): each thing a user
can do wrong, and the one line (or the recorded status) they get instead of a traceback. The steps
run through their real command (`python -m batch_momentum <step>`, in this process) on the tiny grid."""

import os
import shutil

import pytest
import torch
import yaml

from batch_momentum import cli, config
from batch_momentum.data import prepared
from batch_momentum.io import status
from batch_momentum.training import loop
from conftest import tiny_full, tiny_with

CELL = ["--batch-size", "8", "--momentum", "0"]


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    """params.yaml (tiny), its prepared data and one trained and evaluated cell."""
    root = tmp_path_factory.mktemp("cell")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_full(), sort_keys=False))
    p, d = str(root / "params.yaml"), str(root / "mnist1d.pt")
    assert cli.main(["prepare", "--params", p, "--raw", str(root / "raw"), "--out", d]) == 0
    assert cli.main(["train", "--params", p, "--data", d, *CELL, "--out", str(root / "cells/bs8_lam0")]) == 0
    return root


def step(capsys, *argv) -> str:
    """Run a step; it must fail with exit code 2 and exactly one line on stderr, returned."""
    capsys.readouterr()
    assert cli.main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


def evaluate(root, data_file=None, cell_dir=None):
    return [
        "evaluate",
        "--params",
        str(root / "params.yaml"),
        "--data",
        str(data_file or root / "mnist1d.pt"),
        "--cell",
        str(cell_dir or root / "cells/bs8_lam0"),
        "--out",
        str(root / "metrics"),
        "--landscape",
        str(root / "landscape"),
    ]


def test_mnist1d_beyond_its_stated_maximum_is_refused_in_one_line(tiny_params):
    tiny_params["data"]["n_train"] = 100_000_000
    with pytest.raises(config.ParamsError, match="MNIST-1D's stated maximum of 200000 examples"):
        config.validate(tiny_params)


def test_missing_prepared_data_names_the_file_and_the_step(cell, capsys):
    err = step(capsys, *evaluate(cell, data_file=cell / "nowhere.pt"))
    assert "nowhere.pt: prepared data not found" in err and "prepare" in err


def test_truncated_prepared_data_is_one_line(cell, capsys, tmp_path):
    cut = tmp_path / "mnist1d.pt"
    blob = (cell / "mnist1d.pt").read_bytes()
    cut.write_bytes(blob[: len(blob) // 2])
    err = step(capsys, *evaluate(cell, data_file=cut))
    assert "not a readable prepared-data file" in err and "rerun prepare" in err


def test_prepared_data_with_another_feature_count_is_one_line(cell, capsys, tmp_path):
    blob = torch.load(cell / "mnist1d.pt", weights_only=True)
    for split in prepared.SPLITS:  # 39 features where the model was trained on 40
        blob[f"x_{split}"] = blob[f"x_{split}"][:, :39].clone()
    blob["meta"]["input_shape"] = [39]
    torch.save(blob, tmp_path / "mnist1d.pt")
    err = step(capsys, *evaluate(cell, data_file=tmp_path / "mnist1d.pt"))
    assert "mnist1d.pt" in err and "40" in err and "39" in err


def test_missing_or_truncated_model_file_is_one_line(cell, capsys, tmp_path):
    damaged = tmp_path / "bs8_lam0"
    shutil.copytree(cell / "cells/bs8_lam0", damaged)
    (damaged / "seed1/model.pt").unlink()
    assert "trained model not found" in step(capsys, *evaluate(cell, cell_dir=damaged))
    model = (cell / "cells/bs8_lam0/seed1/model.pt").read_bytes()
    (damaged / "seed1/model.pt").write_bytes(model[: len(model) // 3])
    err = step(capsys, *evaluate(cell, cell_dir=damaged))
    assert "cannot load the trained model" in err and "retrain" in err


@pytest.mark.parametrize(
    "name, cut",
    [
        ("curve.csv", lambda t: t[: t.rindex(",") - 3]),  # mid-row
        ("train.json", lambda t: t[: len(t) // 2]),
    ],
)
def test_truncated_csv_or_json_is_one_line(cell, tmp_path, name, cut):
    from batch_momentum.io import files

    path = tmp_path / name
    path.write_text(cut((cell / "cells/bs8_lam0/seed1" / name).read_text()))
    read = files.read_csv if name.endswith(".csv") else files.read_json
    with pytest.raises(ValueError) as info:
        read(path)
    assert str(path) in str(info.value) and len(str(info.value).splitlines()) == 1


def test_a_curve_cut_at_a_row_boundary_is_refused_against_the_summary(cell, tmp_path):
    """Every row whole, so read_csv alone cannot tell; the run's summary says how many epochs it had."""
    from batch_momentum.analysis import aggregate
    from batch_momentum.io import files

    run = cell / "cells/bs8_lam0/seed1"
    epochs = files.read_json(run / "train.json")["epochs"]
    assert len(aggregate.read_curve(run / "curve.csv", epochs)) == epochs + 1
    lines = (run / "curve.csv").read_text().splitlines(keepends=True)
    path = tmp_path / "curve.csv"
    path.write_text("".join(lines[:-1]))
    with pytest.raises(ValueError) as info:
        aggregate.read_curve(path, epochs)
    msg = str(info.value)
    assert str(path) in msg and f"says {epochs} epochs" in msg and "rerun train" in msg and "\n" not in msg


def test_a_finite_blow_up_of_the_loss_is_diverged_not_ok():
    p = tiny_with(train={"max_epochs": 3})
    res = loop.train_cell(p, prepared.prepare(p.data), 8, 0.9, [1], torch.device("cpu"), log=lambda s: None, lrs=[1.0])
    s = res[0]["summary"]
    loss = res[0]["curve"][-1]["train_loss"]
    assert status.DIVERGED_LOSS < loss < float("inf")  # finite, about 1e6
    assert s["status"] == "diverged" and f"> {status.DIVERGED_LOSS:g}" in s["reason"]


def test_an_unwritable_output_folder_is_one_line(cell, capsys):
    blocked = cell / "blocked"
    blocked.write_text("a file where the output folder should be\n")
    err = step(
        capsys,
        "prepare",
        "--params",
        str(cell / "params.yaml"),
        "--raw",
        str(cell / "raw"),
        "--out",
        str(blocked / "mnist1d.pt"),
    )
    assert "cannot write it" in err and str(blocked) in err
    if os.geteuid() != 0:  # root writes through permissions; everyone else is refused
        locked = cell / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        err = step(
            capsys,
            "prepare",
            "--params",
            str(cell / "params.yaml"),
            "--raw",
            str(cell / "raw"),
            "--out",
            str(locked / "mnist1d.pt"),
        )
        assert "cannot write it" in err and "Permission denied" in err


@pytest.mark.e2e
def test_a_learning_rate_that_diverges_every_cell_still_gives_the_report(tmp_path):
    import pandas as pd

    from conftest import make_repo_copy, run

    params = tiny_full()
    params["train"]["lr"] = 1000.0
    root = make_repo_copy(tmp_path, params=params)
    run(["snakemake", "--cores", "2"], root)
    table = pd.read_csv(root / "reports/tables/cells.csv")
    assert len(table) == 8 and (table.status == "diverged").all()
    html = (root / "reports/index.html").read_text()
    assert html.count("training loss became") >= 8  # every cell listed with its reason


def test_a_step_killed_while_writing_leaves_no_file_under_the_final_name(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "results/model.pt"
    code = (
        "import sys, time\nfrom batch_momentum.io import files\n"
        "with files.atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half a file')\n    print('writing', flush=True)\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.1)
    assert not out.exists()  # a rerun finds nothing finished here
    assert [p.name for p in out.parent.iterdir()] == [f".model.pt.tmp{proc.pid}"]  # only the temporary name


def test_every_test_the_failure_table_names_exists():
    """The table in docs/troubleshooting.md names tests in its last column as `file.py::test_name`
    (later ones of the same file as `::test_name`); each must be a test function in that file."""
    import ast
    import re

    from conftest import REPO

    text = (REPO / "docs" / "troubleshooting.md").read_text()
    table = text.split("## When something goes wrong", 1)[1].split("\n## ", 1)[0]
    named = []
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) < 4 or not row.startswith("| "):
            continue
        current = None
        for ref in re.findall(r"`([\w./]*::\w+|\w+\.py)`", cells[-2]):
            file, _, name = ref.partition("::")
            current = file or current
            if name:
                named.append((current, name))
    assert len(named) >= 15, named
    defined = {}
    for file, name in named:
        if file not in defined:
            tree = ast.parse((REPO / "tests" / file).read_text())
            defined[file] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in defined[file], f"docs/troubleshooting.md names {file}::{name}, which does not exist"
