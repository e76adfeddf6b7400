"""batch_momentum.io.files: a write that fails mid-way (a full disk, a file-size limit) leaves
the previous file and its manifest as they were, leaves no temporary file, and stops with one line."""

import subprocess
import sys

import pandas as pd
import pytest

from batch_momentum.io import files
from batch_momentum.io import tables as T


def _cells(n: int) -> pd.DataFrame:
    return pd.DataFrame({c: [f"{c}-{i:06d}" for i in range(n)] for c in T.CELLS.columns})


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs: a real full disk (ENOSPC). Mounting needs root (and, in a container, the right
    to mount); elsewhere skipped: the file-size-limit test below fails a write mid-way anywhere."""
    where = tmp_path / "disk"
    where.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.strip()}")
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_keeps_the_previous_table_and_stops_with_one_line(small_disk):
    path = T.CELLS.write(small_disk / "cells.csv", _cells(3))
    before = path.read_bytes(), files.manifest_path(path).read_bytes()
    big = _cells(400)  # about 400 rows × 40 columns × 20 bytes: far more than 64 KiB
    with pytest.raises(OSError) as info:
        T.CELLS.write(path, big)
    msg = str(info.value)
    assert msg.startswith(f"{path}: cannot write it (No space left on device)") and "free some space" in msg
    assert "\n" not in msg
    assert (path.read_bytes(), files.manifest_path(path).read_bytes()) == before  # the previous file, whole
    assert len(T.CELLS.read(path)) == 3
    assert sorted(p.name for p in small_disk.iterdir()) == [".cells.csv.manifest.json", "cells.csv"]  # no temp


def test_a_write_cut_off_mid_way_by_a_file_size_limit_keeps_the_previous_table(tmp_path):
    """Without root: RLIMIT_FSIZE makes the write fail part way (EFBIG) in a child process."""
    path = T.CELLS.write(tmp_path / "cells.csv", _cells(3))
    before = path.read_bytes()
    code = (
        "import resource, signal, sys, pandas as pd\n"
        "from batch_momentum.io import tables as T\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
        "rows = pd.DataFrame({c: [f'{c}-{i:06d}' for i in range(400)] for c in T.CELLS.columns})\n"
        "try:\n"
        "    T.CELLS.write(sys.argv[1], rows)\n"
        "except OSError as exc:\n"
        "    sys.exit(f'error: {exc}')\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stderr.startswith(f"error: {path}: cannot write it"), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert path.read_bytes() == before and len(T.CELLS.read(path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cells.csv.manifest.json", "cells.csv"]
