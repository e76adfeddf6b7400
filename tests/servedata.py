"""Small files in the real datasets' formats, written by the tests, and a local HTTP server
on 127.0.0.1 that serves them: what the download step fetches in the tests."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import pickle
import socket
import struct
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_NAME = "cifar-10-python.tar.gz"


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def images(n: int, shape: tuple, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose label shows as a bright stripe (learnable), with noise: (n, *shape), (n,)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    x = rng.integers(0, 60, size=(n, *shape)).astype(np.uint8)
    rows = shape[-2] // 10
    for i, label in enumerate(y):
        x[i, ..., label * rows : (label + 1) * rows, :] = 220
    return x, y.astype(np.uint8)


def idx_bytes(a: np.ndarray) -> bytes:
    """An array of unsigned bytes as a gzip'd IDX file (type code 0x08, big-endian dims)."""
    head = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}i", *a.shape)
    return gzip.compress(head + a.astype(np.uint8).tobytes())


def write_mnist(folder: Path, n_train: int = 300, n_test: int = 120, seed: int = 0) -> dict[str, str]:
    """The four gzip'd IDX files of MNIST (or Fashion-MNIST) in `folder`; returns {name: md5}."""
    folder.mkdir(parents=True, exist_ok=True)
    tx, ty = images(n_train, (28, 28), seed)
    sx, sy = images(n_test, (28, 28), seed + 1)
    for name, a in zip(IDX_NAMES, (tx, ty, sx, sy)):
        (folder / name).write_bytes(idx_bytes(a))
    return {name: md5(folder / name) for name in IDX_NAMES}


def write_cifar(folder: Path, per_batch: int = 40, n_test: int = 60, seed: int = 0) -> dict[str, str]:
    """CIFAR-10's python tarball: cifar-10-batches-py/data_batch_1..5, test_batch (pickled
    {b"data": (n, 3072) uint8, b"labels": [...]}) and batches.meta; returns {name: md5}."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:

        def add(name, obj):
            blob = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))

        for i, n in enumerate([per_batch] * 5 + [n_test]):
            x, y = images(n, (3, 32, 32), seed + i)
            name = f"data_batch_{i + 1}" if i < 5 else "test_batch"
            add(name, {b"batch_label": name.encode(), b"data": x.reshape(n, 3072), b"labels": y.tolist()})
        add("batches.meta", {b"label_names": [f"class{k}".encode() for k in range(10)]})
    (folder / CIFAR_NAME).write_bytes(buf.getvalue())
    return {CIFAR_NAME: md5(folder / CIFAR_NAME)}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """An HTTP server on 127.0.0.1 (a free port) serving `folder`; yields its base URL (ends in /)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (a port just freed): a server that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
