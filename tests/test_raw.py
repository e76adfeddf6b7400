"""The download step and the real datasets: fetched from a local HTTP server in the real
formats, verified, cached, rejected when corrupt, one line when the server is down."""

import subprocess
import sys

import pytest
import torch
import yaml

from batch_momentum import config
from batch_momentum.data import prepared, raw
from batch_momentum.training import models
from batch_momentum.training.stacked import StackedNet
from conftest import REPO, tiny_full, tool_env
from servedata import IDX_NAMES, dead_url, serve, write_cifar, write_mnist


def source(url, md5s, local_dir=None, dataset="mnist"):
    """params' download section with this dataset's mirror, local folder and md5."""
    return config.Download(url={dataset: url}, local_dir={dataset: local_dir}, md5={dataset: md5s})


def test_default_sources_are_torchvisions():
    from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

    p = config.load(REPO / "params.yaml")
    dl = p.download
    for name, cls in (("mnist", MNIST), ("fashion_mnist", FashionMNIST)):
        assert dl.url[name] == cls.mirrors[0] and dl.md5[name] == dict(cls.resources) and dl.local_dir[name] is None
    assert dl.url["cifar10"] + "cifar-10-python.tar.gz" == CIFAR10.url
    assert dl.md5["cifar10"] == {CIFAR10.filename: CIFAR10.tgz_md5}
    assert p.data.dataset == "mnist1d" and dl.md5["mnist1d"] == {}


def test_mnist_from_a_mirror_is_verified_cached_and_split(tmp_path):
    md5s = write_mnist(tmp_path / "www", n_train=300, n_test=120)
    out = tmp_path / "raw/mnist"
    with serve(tmp_path / "www") as url:
        manifest = raw.fetch("mnist", source(url, md5s), out, log=lambda m: None)
    assert manifest["files"] == md5s and (out / raw.MANIFEST).exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([*IDX_NAMES, raw.MANIFEST])
    # intact files are not fetched again: the server is down now, and nothing is missed
    seen = []
    raw.fetch("mnist", source(dead_url(), md5s), out, log=seen.append)
    assert len(seen) == 4 and all("already in" in m for m in seen)
    d = config.Data(dataset="mnist", n_train=200, n_val=50, n_test=100, seed=0)
    blob = prepared.prepare(d, raw.read("mnist", out, md5s))
    assert blob["x_train"].shape == (200, 1, 28, 28) and blob["x_test"].shape == (100, 1, 28, 28)
    assert blob["meta"]["input_shape"] == [1, 28, 28] and "std" in blob["meta"]["normalization"]
    assert abs(blob["x_train"].mean().item()) < 1e-4 and abs(blob["x_train"].std().item() - 1) < 1e-2
    rows = {tuple(r.flatten()[:200].tolist()) for s in ("train", "val") for r in blob[f"x_{s}"]}
    assert len(rows) == 250  # train and validation are disjoint draws
    too_many = config.Data(dataset="mnist", n_train=280, n_val=50, n_test=100, seed=0)
    with pytest.raises(ValueError, match="hold 300 training and 120 test examples"):
        prepared.prepare(too_many, raw.read("mnist", out, md5s))


def test_a_corrupt_file_is_rejected_in_one_line_and_never_kept(tmp_path):
    md5s = write_mnist(tmp_path / "www")
    bad = tmp_path / "www" / IDX_NAMES[0]
    bad.write_bytes(bad.read_bytes()[:-100])  # truncated in transit
    out = tmp_path / "raw/mnist"
    with serve(tmp_path / "www") as url, pytest.raises(raw.ChecksumError) as info:
        raw.fetch("mnist", source(url, md5s), out, log=lambda m: None)
    msg = str(info.value)
    assert "\n" not in msg and IDX_NAMES[0] in msg and md5s[IDX_NAMES[0]] in msg and "corrupt or truncated" in msg
    assert not (out / IDX_NAMES[0]).exists() and not (out / raw.MANIFEST).exists()
    # a file changed after the download never reaches prepare
    good = write_mnist(tmp_path / "www2")
    with serve(tmp_path / "www2") as url:
        raw.fetch("mnist", source(url, good), out, log=lambda m: None)
    (out / IDX_NAMES[1]).write_bytes(b"\x1f\x8b broken")
    with pytest.raises(raw.ChecksumError, match="corrupt or truncated"):
        raw.read("mnist", out, good)


def test_a_server_that_is_down_gives_one_line_naming_the_files_and_the_ways_on(tmp_path):
    md5s = write_mnist(tmp_path / "www")
    with pytest.raises(raw.FetchError) as info:
        raw.fetch("mnist", source(dead_url(), md5s), tmp_path / "raw/mnist", log=lambda m: None)
    msg = str(info.value)
    assert "\n" not in msg and all(n in msg for n in IDX_NAMES)
    assert f"under {tmp_path / 'raw/mnist'}/" in msg and "data.dataset: mnist1d" in msg
    # the same through the step's command line: exit status 2 and the one line on stderr
    params = tiny_full()
    params["data"]["dataset"] = "mnist"
    params["download"]["url"]["mnist"], params["download"]["md5"]["mnist"] = dead_url(), md5s
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "batch_momentum",
            "download",
            "--params",
            str(tmp_path / "p.yaml"),
            "--out",
            str(tmp_path / "raw2/mnist"),
        ],
        capture_output=True,
        text=True,
        env=tool_env(),
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("error: could not get")


def test_fashion_mnist_from_a_local_folder_and_cifar10_from_a_mirror(tmp_path):
    md5s = write_mnist(tmp_path / "copy", seed=5)
    raw.fetch(
        "fashion_mnist",
        source(dead_url(), md5s, str(tmp_path / "copy"), "fashion_mnist"),
        tmp_path / "raw/fm",
        log=lambda m: None,
    )
    assert raw.read("fashion_mnist", tmp_path / "raw/fm", md5s)["x_train"].shape == (300, 1, 28, 28)
    cmd5 = write_cifar(tmp_path / "www", per_batch=40, n_test=60)
    with serve(tmp_path / "www") as url:
        raw.fetch("cifar10", source(url, cmd5, dataset="cifar10"), tmp_path / "raw/cifar10", log=lambda m: None)
    images = raw.read("cifar10", tmp_path / "raw/cifar10", cmd5)
    assert images["x_train"].shape == (200, 3, 32, 32) and images["y_test"].shape == (60,)
    d = config.Data(dataset="cifar10", n_train=150, n_val=50, n_test=60, seed=1)
    blob = prepared.prepare(d, images)
    assert blob["x_val"].shape == (50, 3, 32, 32) and len(blob["meta"]["normalization"].split("[")) == 3


def test_md5_must_name_exactly_the_datasets_files(tiny_params):
    """Checked with the other params (so Snakemake's start and DVC's check stage catch it), before
    any download; raw.fetch then trusts the list."""
    tiny_params["download"]["md5"]["mnist"] = {"a.gz": "0" * 32}
    with pytest.raises(config.ParamsError, match="download.md5.mnist lists") as info:
        config.validate(tiny_params)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value) and "\n" not in str(info.value)
    assert list(config.FILES["cifar10"]) == list(tiny_params["download"]["md5"]["cifar10"])  # the defaults match


def test_cnn_with_a_dense_head_on_images_stacks_like_the_plain_model():
    torch.manual_seed(0)
    nets = [models.make_model("cnn", (3, 32, 32), 10, (8, 16), (32, 24)) for _ in range(2)]
    x = torch.randn(5, 3, 32, 32)
    stacked = StackedNet(nets, (3, 32, 32)).forward(x)
    for i, m in enumerate(nets):
        torch.testing.assert_close(stacked[i], m(x), rtol=1e-5, atol=1e-5)
    linear = [m for m in nets[0].modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(16 * 8 * 8, 32), (32, 24), (24, 10)]
