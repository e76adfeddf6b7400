"""Reading and writing the pipeline's files: strict JSON, atomic writes, one-line errors.

Every step writes through `atomic_path` (a temporary name in the same folder, renamed
when complete), so a step killed while writing never leaves a file that a rerun would
take as finished. Every step reads CSV and JSON through `read_csv` and `read_json`, which
check the file whole: a truncated or damaged file is a one-line error naming it.

A table (write_csv) also gets a manifest beside it, written last: .<name>.manifest.json with
its row count, size and sha256. read_csv refuses a table that disagrees with its manifest, so
a table cut exactly at a row boundary (which still parses) or changed after it was written is
caught. A table without a manifest (written by hand, or before manifests) is read as it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from contextlib import contextmanager
from pathlib import Path


def finite(obj):
    """JSON has no NaN or Infinity: the same structure with those floats written as None."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success rename it onto `path` (atomic on POSIX)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb+") as fh:  # on disk before the rename, so a power loss leaves no empty file
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:  # no permission, no space, a file where a folder should be: one line
        raise OSError(
            f"{path}: cannot write it ({exc.strerror or exc}); make its folder {path.parent} writable "
            f"(and not a file), free some space, and rerun"
        ) from None
    finally:
        if tmp.is_file():
            tmp.unlink()


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def manifest_path(path: str | Path) -> Path:
    """Where the manifest of a table lies: .<name>.manifest.json in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.manifest.json")


def describe(data: bytes) -> dict:
    """What a table file holds: its data rows (lines after the header), bytes and sha256."""
    return {
        "rows": max(len(list(csv.reader(io.StringIO(data.decode(errors="replace"))))) - 1, 0),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def write_csv(path: str | Path, frame) -> Path:
    """A pandas DataFrame as CSV without its index, written atomically, then its manifest (last:
    a table whose manifest is missing or older is one whose writer did not finish)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
        data = tmp.read_bytes()
    write_json(manifest_path(path), {"file": path.name, **describe(data)})
    return path


def check_manifest(path: Path, data: bytes, remedy: str) -> None:
    """Refuse a table that disagrees with its manifest, in one line; no manifest: nothing to check."""
    mpath = manifest_path(path)
    if not mpath.is_file():
        return
    want = read_json(mpath, remedy)
    if not isinstance(want, dict) or not {"rows", "sha256"} <= set(want):
        raise ValueError(f"{mpath}: not a table manifest (rows, sha256); {remedy}")
    got = describe(data)
    if got["rows"] != want["rows"]:
        raise ValueError(
            f"{path}: holds {got['rows']} rows, its manifest {mpath.name} says {want['rows']} "
            f"(cut short or changed after it was written); {remedy}"
        )
    if got["sha256"] != want["sha256"]:
        raise ValueError(
            f"{path}: its content differs from its manifest {mpath.name} (sha256 {got['sha256'][:12]}, "
            f"recorded {want['sha256'][:12]}: damaged or changed after it was written); {remedy}"
        )


def write_json(path: str | Path, obj, indent: int | None = 2) -> Path:
    """Strict JSON (NaN and infinities as null), written atomically."""
    return write_text(path, json.dumps(finite(obj), indent=indent) + "\n")


def read_json(path: str | Path, remedy: str = "delete it and rerun the step that writes it"):
    """Parse a JSON file; a missing or damaged one is a one-line error naming the file and the fix."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; {remedy}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({getattr(exc, 'msg', type(exc).__name__)}); {remedy}") from None


def read_csv(path: str | Path, remedy: str = "delete it and rerun the step that writes it", columns=()):
    """A CSV file as a pandas DataFrame, checked whole: it must end with a newline (the writers
    end every row with one; a file cut off mid-row does not), every row must have the header's
    number of fields, `columns` must be among them, and it must agree with its manifest when it
    has one (write_csv). Otherwise a one-line error naming the file."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; {remedy}")
    try:
        data = path.read_bytes()
        text = data.decode()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text CSV file; {remedy}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not text.endswith("\n"):
        raise ValueError(f"{path}: {'empty' if not rows else 'truncated (the last row is incomplete)'}; {remedy}")
    bad = next((i for i, r in enumerate(rows) if len(r) != len(rows[0])), None)
    if bad is not None:
        raise ValueError(
            f"{path}: line {bad + 1} has {len(rows[bad])} fields, the header {len(rows[0])} "
            f"(damaged or truncated); {remedy}"
        )
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ValueError(f"{path}: lacks columns {', '.join(missing)}; {remedy}")
    check_manifest(path, data, remedy)
    return pd.read_csv(io.StringIO(text))
