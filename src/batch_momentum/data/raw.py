"""The real datasets' files under data/raw/<dataset>/: fetched through torchvision's
downloader from a mirror (or copied from a local folder), each checked against its md5,
and read back as uint8 images and int64 labels.

Formats: MNIST and Fashion-MNIST are four gzip'd IDX files (the big-endian header: two
zero bytes, a type code, the number of dimensions, then one int32 per dimension);
CIFAR-10 is one tar.gz of pickled batches (cifar-10-batches-py/data_batch_1..5 and
test_batch, each {b"data": (10000, 3072) uint8, b"labels": list}). Files are read
straight from the archives; nothing is unpacked. A pickle runs code when loaded: the
tarball is read only after its md5 matched.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np

from batch_momentum.config import FILES, Download
from batch_momentum.io import files

MANIFEST = "manifest.json"  # written last by the download step: the files it verified
CIFAR_DIR = "cifar-10-batches-py"


class FetchError(ValueError):
    """Files that could not be fetched or copied: one line naming them and the ways on."""


class ChecksumError(ValueError):
    """A file whose md5 is not the one params give: one line."""


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, want: str, origin: str, shown: Path | None = None) -> None:
    """Raise ChecksumError (one line) unless the file at `path` (named `shown`) has md5 `want`."""
    got = md5(path)
    if got != want:
        raise ChecksumError(
            f"{shown or path} (from {origin}) has md5 {got}, expected {want}: the file is corrupt or "
            f"truncated and was rejected; fetch it again (rerun the download step) or, if you "
            f"meant to use other files, give their md5 in params download.md5"
        )


def _get(url: str, dest: Path) -> None:
    """One file through torchvision's downloader (urllib, redirects followed) into `dest`."""
    from torchvision.datasets.utils import download_url

    download_url(url, root=str(dest.parent), filename=dest.name)


def fetch(dataset: str, dl: Download, out: str | Path, log=print) -> dict:
    """Put every file of `dataset` into folder `out`, verified; return the manifest written there.

    A file already in `out` with the right md5 is kept (no network); one with another md5 is
    fetched again. Files come from dl.local_dir[dataset] when set, else from its url + name. Every file
    that cannot be had is named in one FetchError; a file that arrives with the wrong md5 is
    deleted and named in one ChecksumError. The manifest is written only when all are verified.
    """
    out = Path(out)
    md5s, url, local_dir = dl.md5[dataset], dl.url[dataset], dl.local_dir[dataset]
    want = FILES[dataset]  # params were validated: md5s lists exactly these (config._cross_field)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    staging = out / ".fetching"
    origin = local_dir or url
    failed = []
    try:
        for name in want:
            path = out / name
            if path.exists():
                if md5(path) == md5s[name]:
                    log(f"{name}: already in {out}, md5 ok")
                    continue
                log(f"{name}: in {out} with another md5: getting it again")
                path.unlink()
            staging.mkdir(exist_ok=True)
            tmp = staging / name
            try:
                if local_dir:
                    shutil.copyfile(Path(local_dir) / name, tmp)
                else:
                    _get(url + name, tmp)
            except Exception as exc:  # urllib's URLError/HTTPError, OSError, torchvision's RuntimeError
                failed.append((name, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
                tmp.unlink(missing_ok=True)
                continue
            try:
                verify(tmp, md5s[name], origin + ("/" if local_dir else "") + name, shown=path)
            except ChecksumError:
                tmp.unlink()
                raise
            os.replace(tmp, path)
            log(f"{name}: from {origin}, md5 ok")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if failed:
        where = f"local_dir {local_dir}" if local_dir else url
        raise FetchError(
            f"could not get {', '.join(n for n, _ in failed)} of {dataset} from {where} ({failed[0][1]}); "
            f"either place these files under {out}/ (or set download.local_dir.{dataset} to a folder holding "
            f"them, or download.url.{dataset} to a mirror you can reach) and rerun, or use data.dataset: mnist1d, "
            f"which needs no download"
        )
    manifest = {"dataset": dataset, "files": {n: md5s[n] for n in want}}  # no source: a new mirror changes nothing
    files.write_json(out / MANIFEST, manifest)
    return manifest


def offline_manifest(dataset: str, out: str | Path) -> dict:
    """mnist1d: nothing to fetch (prepare generates it); the manifest says so."""
    manifest = {"dataset": dataset, "files": {}, "note": "generated offline by the prepare step: no files"}
    files.write_json(Path(out) / MANIFEST, manifest)
    return manifest


def read_idx(path: Path) -> np.ndarray:
    """A gzip'd IDX file of unsigned bytes as an array of its stated shape."""
    with gzip.open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = blob[3]
    shape = tuple(int(v) for v in np.frombuffer(blob, dtype=">i4", count=ndim, offset=4))
    body = np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def read_cifar(path: Path) -> dict[str, np.ndarray]:
    """CIFAR-10's python tarball: {x_train (50000, 3, 32, 32) uint8, y_train, x_test, y_test}."""
    parts: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(path, "r:gz") as tar:
        for split, members in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
            for m in members:
                f = tar.extractfile(f"{CIFAR_DIR}/{m}")
                batch = pickle.load(f, encoding="bytes")
                parts[split].append((np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"])))
    out = {}
    for split, batches in parts.items():
        out[f"x_{split}"] = np.concatenate([x for x, _ in batches]).reshape(-1, 3, 32, 32)
        out[f"y_{split}"] = np.concatenate([y for _, y in batches]).astype(np.int64)
    return out


def read(dataset: str, folder: str | Path, md5s: dict[str, str]) -> dict[str, np.ndarray]:
    """The official training and test sets from `folder`, each file checked against params' md5
    first (so a file changed after the download step never reaches prepare). Images are
    (N, C, H, W) uint8, labels int64."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        raise FileNotFoundError(
            f"{folder}/{MANIFEST} not found: the download step has not completed; run "
            f"`python -m batch_momentum download --out {folder}` (or let snakemake/dvc run it)"
        )
    for name in FILES[dataset]:
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"{path} not found; rerun the download step")
        verify(path, md5s[name], str(path))
    if dataset == "cifar10":
        return read_cifar(folder / FILES["cifar10"][0])
    tx, ty, sx, sy = (read_idx(folder / n) for n in FILES[dataset])
    if len(tx) != len(ty) or len(sx) != len(sy) or tx.ndim != 3:
        raise ValueError(f"{folder}: images and labels disagree ({tx.shape}, {ty.shape}, {sx.shape}, {sy.shape})")
    return {
        "x_train": tx[:, None],
        "y_train": ty.astype(np.int64),
        "x_test": sx[:, None],
        "y_test": sy.astype(np.int64),
    }
