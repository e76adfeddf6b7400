"""End to end on the real datasets' formats: files written by the test, served from 127.0.0.1,
fetched by the download rule through the configured mirror, verified, prepared, and the
tiny grid trained under the real snakemake and the real dvc; cached, corrupt, offline."""

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from batch_momentum import config
from batch_momentum.steps import cores
from conftest import REPO, load_yaml, make_repo_copy, run, tiny_full
from servedata import IDX_NAMES, dead_url, serve, write_cifar, write_mnist
from test_workflows import N_TINY_RUNS, check_outputs

pytestmark = pytest.mark.e2e


def with_source(params: dict, dataset: str, url: str, md5s: dict, **data) -> dict:
    """`params` (a whole params dict or an override) reading `dataset` from `url`."""
    return config.overlay(
        params, {"data": dict(dataset=dataset, **data), "download": {"url": {dataset: url}, "md5": {dataset: md5s}}}
    )


def digest(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_snakemake_fetches_mnist_from_the_mirror_once_and_trains_the_grid(tmp_path):
    md5s = write_mnist(tmp_path / "www", n_train=300, n_test=120)
    (tmp_path / "repo").mkdir()
    root = make_repo_copy(tmp_path / "repo")
    sizes = dict(n_train=200, n_val=50, n_test=100)
    override = root / "real.yaml"
    with serve(tmp_path / "www") as url:
        override.write_text(
            yaml.safe_dump(with_source(load_yaml(REPO / "tests/tiny.yaml"), "mnist", url, md5s, **sizes))
        )
        run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "real.yaml", "-q"], root)
    table, html = check_outputs(root, N_TINY_RUNS)
    assert "Data: mnist, 200 training" in html and "standardized per channel" in html
    raw = root / "data/raw/mnist"
    assert {n: digest(raw / n) for n in IDX_NAMES} == md5s
    assert "from http://127.0.0.1" in (root / "logs/download.log").read_text()
    # the server is gone: nothing is fetched again, and a new mirror reruns nothing (only md5 are tracked)
    override.write_text(
        yaml.safe_dump(with_source(load_yaml(REPO / "tests/tiny.yaml"), "mnist", dead_url(), md5s, **sizes))
    )
    res = run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "real.yaml", "-n"], root)
    assert "Nothing to be done" in res.stdout + res.stderr
    # two files lost and no server: the download rule (asked for) fails with the one line naming them and the ways on
    for n in IDX_NAMES[:2]:
        (raw / n).unlink()
    (raw / "manifest.json").unlink()
    res = run(
        ["snakemake", "data/raw/mnist/manifest.json", "--cores", "1", "--configfile", "params.yaml", "real.yaml"],
        root,
        check=False,
    )
    assert res.returncode != 0
    log = (root / "logs/download.log").read_text().strip().splitlines()
    assert log[-1].startswith(f"error: could not get {IDX_NAMES[0]}, {IDX_NAMES[1]} of mnist from {dead_url()[:17]}")
    assert "place these files under data/raw/mnist/" in log[-1] and "data.dataset: mnist1d" in log[-1]


def test_dvc_fetches_mnist_once_caches_it_and_rejects_a_corrupt_file(tmp_path):
    md5s = write_mnist(tmp_path / "www", n_train=300, n_test=120)
    (tmp_path / "repo").mkdir()
    with serve(tmp_path / "www") as url:
        params = with_source(tiny_full(), "mnist", url, md5s, n_train=200, n_val=50, n_test=100)
        root = make_repo_copy(tmp_path / "repo", params=params, git=True)
        run(["dvc", "repro", "-q"], root)
    check_outputs(root, N_TINY_RUNS, cores=cores())
    assert "up to date" in run(["dvc", "status"], root).stdout
    # a new mirror (down) changes nothing; the raw data is in DVC's cache: checkout restores it
    # (only the check stage, which validates the whole params.yaml, sees the edit, and its output is unchanged)
    params["download"]["url"]["mnist"] = dead_url()
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = [ln.rstrip(":") for ln in run(["dvc", "status"], root).stdout.splitlines() if ln and not ln[0].isspace()]
    assert changed == ["check"], changed
    res = run(["dvc", "repro"], root)
    assert re.findall(r"Running stage '([^']+)'", res.stdout) == ["check"]
    raw = root / "data/raw/mnist"
    for n in IDX_NAMES:
        (raw / n).unlink()
    run(["dvc", "checkout", "-q"], root)
    assert {n: digest(raw / n) for n in IDX_NAMES} == md5s
    assert json.loads((raw / "manifest.json").read_text())["files"] == md5s
    # a file lost, and the mirror serves it truncated: rejected by its md5, prepare does not run
    prepared = (root / "data/prepared/mnist.pt").stat().st_mtime_ns
    (raw / IDX_NAMES[2]).unlink()
    bad = tmp_path / "www" / IDX_NAMES[2]
    bad.write_bytes(bad.read_bytes()[:-50])
    with serve(tmp_path / "www") as url:
        params["download"]["url"]["mnist"] = url
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        res = run(["dvc", "repro", "-q"], root, check=False)
    assert res.returncode != 0
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "corrupt or truncated" in ln]
    assert lines and IDX_NAMES[2] in lines[0] and md5s[IDX_NAMES[2]] in lines[0]
    assert not (raw / IDX_NAMES[2]).exists() and (raw / IDX_NAMES[0]).exists()  # the intact ones were kept
    assert (root / "data/prepared/mnist.pt").stat().st_mtime_ns == prepared


def test_snakemake_trains_the_cnn_on_cifar10_with_every_measure(tmp_path):
    md5s = write_cifar(tmp_path / "www", per_batch=50, n_test=120)
    (tmp_path / "repo").mkdir()
    root = make_repo_copy(tmp_path / "repo")
    tiny = load_yaml(REPO / "tests/tiny.yaml")
    tiny["model"] = {"name": "cnn", "hidden": [4, 8], "head": [16]}
    with serve(tmp_path / "www") as url:
        (root / "c.yaml").write_text(
            yaml.safe_dump(with_source(tiny, "cifar10", url, md5s, n_train=200, n_val=50, n_test=100))
        )
        run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "c.yaml", "-q"], root)
    table, html = check_outputs(root, N_TINY_RUNS)
    assert "Data: cifar10" in html and "dense layers [16]" in html and "Keskar C1" in html
    assert (table.n_params == (3 * 25 * 4 + 4) + (4 * 25 * 8 + 8) + (8 * 8 * 8 * 16 + 16) + (16 * 10 + 10)).all()


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_the_dataset_configs_plan_a_download_and_every_cell(tmp_path, name):
    root = make_repo_copy(tmp_path)
    (root / "configs").mkdir()
    (root / "configs" / f"{name}.yaml").write_text((REPO / "configs" / f"{name}.yaml").read_text())
    out = run(["snakemake", "-n", "--cores", "2", "--configfile", "params.yaml", f"configs/{name}.yaml"], root).stdout
    p = config.validate(config.overlay(load_yaml(REPO / "params.yaml"), load_yaml(REPO / "configs" / f"{name}.yaml")))
    table = out.split("Job stats:")[1].split("total")[0]
    jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M)}
    assert jobs["download"] == 1 and jobs["prepare"] == 1
    assert jobs["train"] == len(config.cells(p)) == jobs["evaluate"] == 8


# Fashion-MNIST as Debian's package dataset-fashion-mnist installs it (configs/fashion_mnist_debian.yaml).
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# Computed once from those files (numpy: the idx bytes after their headers, pixels / 255), 2026-12-02:
# 60000 training images of 28 × 28, 6000 per class; 10000 test images, 1000 per class; the training
# pixels' mean 0.2860406 and std 0.3530242 (the values torchvision users normalize Fashion-MNIST with).
FASHION_TRAIN_MEAN, FASHION_TRAIN_STD = 0.2860406, 0.3530242


def _idx(path: Path, offset: int):
    import gzip

    import numpy as np

    return np.frombuffer(gzip.open(path).read(), np.uint8, offset=offset)


def test_snakemake_runs_the_tiny_grid_on_real_fashion_mnist_images_from_debians_package(tmp_path):
    names = load_yaml(REPO / "configs/fashion_mnist_debian.yaml")["download"]["md5"]["fashion_mnist"]
    if not all((DEBIAN_FASHION / n).is_file() for n in names):
        if os.environ.get("CI"):
            pytest.fail("Debian's dataset-fashion-mnist is not installed; scripts/setup.sh installs it (root, apt-get)")
        pytest.skip("the real Fashion-MNIST files are missing: apt-get install dataset-fashion-mnist (Debian/Ubuntu)")
    import numpy as np
    import torch

    # the files: the official sets, as stated above
    x_all = _idx(DEBIAN_FASHION / "train-images-idx3-ubyte.gz", 16).reshape(-1, 28 * 28)
    y_all = _idx(DEBIAN_FASHION / "train-labels-idx1-ubyte.gz", 8)
    assert x_all.shape == (60000, 784) and np.bincount(y_all).tolist() == [6000] * 10
    assert np.bincount(_idx(DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz", 8)).tolist() == [1000] * 10
    assert abs(x_all.mean() / 255 - FASHION_TRAIN_MEAN) < 1e-6 and abs(x_all.std() / 255 - FASHION_TRAIN_STD) < 1e-6

    (tmp_path / "repo").mkdir()
    root = make_repo_copy(tmp_path / "repo")
    override = config.overlay(
        load_yaml(REPO / "tests/tiny.yaml"),
        config.overlay(
            load_yaml(REPO / "configs/fashion_mnist_debian.yaml"),
            {
                "data": {"n_train": 2000, "n_val": 500, "n_test": 1000},
                "grid": {"batch_size": [10, 200]},
                "noise": {"subset": 500},  # the cosine samples batches of B from this subset: B < subset
                "train": {"max_epochs": 5},
                "equal_acc": {"batch_size": [10, 200], "target_train_acc": 0.85},
            },
        ),
    )
    (root / "real.yaml").write_text(yaml.safe_dump(override))
    run(["snakemake", "--cores", "2", "--configfile", "params.yaml", "real.yaml", "-q"], root, timeout=1200)
    table, html = check_outputs(root, N_TINY_RUNS)
    assert "Data: fashion_mnist, 2000 training" in html
    raw = root / "data/raw/fashion_mnist"
    assert {n: digest(raw / n) for n in names} == names  # copied from the package, checked by md5

    # the prepared training split: 2000 real images, each one of the package's, with its label
    blob = torch.load(root / "data/prepared/fashion_mnist.pt", weights_only=True)
    x, y = blob["x_train"], blob["y_train"]
    assert tuple(x.shape) == (2000, 1, 28, 28) and tuple(blob["x_test"].shape) == (1000, 1, 28, 28)
    counts = torch.bincount(y, minlength=10).tolist()
    assert sum(counts) == 2000 and min(counts) > 150 and max(counts) < 250, counts  # about 200 a class
    mean, std = (
        float(v) for v in re.findall(r"mean \[([\d.]+)\] and std \[([\d.]+)\]", blob["meta"]["normalization"])[0]
    )
    assert abs(mean - FASHION_TRAIN_MEAN) < 0.01 and abs(std - FASHION_TRAIN_STD) < 0.01, (mean, std)
    pixels = (x.reshape(2000, -1).double() * std + mean) * 255  # undo the standardization (4-digit mean, std)
    as_bytes = pixels.round().clamp(0, 255).to(torch.uint8).numpy()
    assert (pixels - pixels.round()).abs().max() < 0.1  # whole grey levels (the 4 digits cost at most 0.04)
    index = {row.tobytes(): label for row, label in zip(x_all, y_all)}
    exact = [index.get(row.tobytes()) for row in as_bytes]
    assert all(e is not None for e in exact), sum(e is None for e in exact)
    assert [int(e) for e in exact] == y.tolist()
    lecture = json.loads((root / "reports/lecture.json").read_text())
    print("\nlecture rows on 2000 Fashion-MNIST training images:", json.dumps(lecture, indent=1)[:6000])
