"""Reading and writing the pipeline's files: strict JSON, atomic writes, one-line errors.

Every step writes through `atomic_write` (a temporary name in the same folder, renamed
when complete), so a step killed while writing never leaves a file that a rerun would
take as finished.
"""
from __future__ import annotations

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


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
