"""Prepared data: deterministic in its seed, three disjoint splits, clear errors on bad files."""

import pytest
import torch

from batch_momentum import config
from batch_momentum.data import prepared


def test_mnist1d_is_deterministic_and_split():
    a = prepared.make_mnist1d(120, 30, 50, seed=3)
    b = prepared.make_mnist1d(120, 30, 50, seed=3)
    c = prepared.make_mnist1d(120, 30, 50, seed=4)
    for split, n in (("train", 120), ("val", 30), ("test", 50)):
        assert a[f"x_{split}"].shape == (n, 40) and a[f"y_{split}"].shape == (n,)
        assert torch.equal(a[f"x_{split}"], b[f"x_{split}"]) and torch.equal(a[f"y_{split}"], b[f"y_{split}"])
    assert not torch.equal(a["x_train"], c["x_train"])
    # no example appears in two splits
    rows = {tuple(r.tolist()) for s in prepared.SPLITS for r in a[f"x_{s}"]}
    assert len(rows) == 200
    assert set(a["y_train"].tolist()) == set(range(10))


def test_prepare_does_not_disturb_numpy_global_state():
    import numpy as np

    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    prepared.make_mnist1d(20, 10, 10, seed=0)
    assert np.random.rand() == expected


D = config.Data(dataset="mnist1d", n_train=20, n_val=10, n_test=10, seed=0)


def test_load_prepared_errors(tmp_path):
    load = lambda p, d=D: prepared.load_prepared(p, "cpu", d)  # noqa: E731
    with pytest.raises(FileNotFoundError, match="run `python -m batch_momentum prepare"):
        load(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="delete it and rerun prepare"):
        load(broken)
    partial = tmp_path / "partial.pt"
    torch.save({"x_train": torch.zeros(2, 40)}, partial)
    with pytest.raises(ValueError, match="lacks y_train"):
        load(partial)


def test_load_prepared_rejects_wrong_shapes_and_sizes(tmp_path):
    blob = prepared.prepare(D)
    good = tmp_path / "good.pt"
    torch.save(blob, good)
    loaded = prepared.load_prepared(good, "cpu", D)
    assert torch.equal(loaded["x_train"], blob["x_train"])
    # a file whose features do not match its own input shape (e.g. written by other code)
    wrong = dict(blob, x_val=blob["x_val"][:, :30])
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match=r"x_val has shape \(10, 30\).*damaged"):
        prepared.load_prepared(tmp_path / "wrong.pt", "cpu", D)
    # a file made for other params
    with pytest.raises(ValueError, match="holds 20 train examples but params say data.n_train = 30"):
        prepared.load_prepared(good, "cpu", config.Data(dataset="mnist1d", n_train=30, n_val=10, n_test=10, seed=0))


def test_a_prepared_file_of_another_dataset_is_refused_in_one_line(tmp_path):
    from importlib.resources import files as package_files

    import numpy as np
    import yaml

    schema = yaml.safe_load((package_files("batch_momentum.config") / "params.schema.yaml").read_text())
    assert set(prepared.INPUT_SHAPE) == set(schema["properties"]["data"]["properties"]["dataset"]["enum"])
    rng = np.random.default_rng(0)
    for dataset, (c, h) in {"mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32)}.items():
        images = {
            "x_train": rng.integers(0, 256, (40, c, h, h), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 40),
            "x_test": rng.integers(0, 256, (20, c, h, h), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 20),
        }
        d = config.Data(dataset=dataset, n_train=20, n_val=10, n_test=10, seed=0)
        path = tmp_path / f"{dataset}.pt"
        torch.save(prepared.prepare(d, images), path)
        assert prepared.load_prepared(path, "cpu", d)["x_train"].shape == (20, *prepared.INPUT_SHAPE[dataset])
    # MNIST and Fashion-MNIST have the same shape: the dataset's name tells them apart
    with pytest.raises(
        ValueError,
        match=r"mnist.pt: made from mnist with examples of shape \[1, 28, 28\], but params "
        r"say data.dataset = fashion_mnist .*delete it and rerun prepare",
    ):
        prepared.load_prepared(tmp_path / "mnist.pt", "cpu", config.Data("fashion_mnist", 20, 10, 10, 0))
    with pytest.raises(ValueError, match=r"made from cifar10 .* data.dataset = mnist1d \(shape \[40\]\)"):
        prepared.load_prepared(tmp_path / "cifar10.pt", "cpu", config.Data("mnist1d", 20, 10, 10, 0))
    torch.save(prepared.prepare(D), tmp_path / "1d.pt")
    with pytest.raises(ValueError, match=r"made from mnist1d .* data.dataset = mnist \(shape \[1, 28, 28\]\)"):
        prepared.load_prepared(tmp_path / "1d.pt", "cpu", config.Data("mnist", 20, 10, 10, 0))
