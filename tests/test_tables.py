"""batch_momentum.io.tables: each table's columns named once, and the schema's read and write."""

import pandas as pd
import pytest

from batch_momentum.io import tables as T


def test_a_schema_writes_its_columns_first_in_order_and_keeps_the_others(tmp_path):
    frame = pd.DataFrame({"extra": [1], **{c: [i] for i, c in enumerate(reversed(T.CURVE.columns))}})
    back = T.CURVE.read(T.CURVE.write(tmp_path / "c.csv", frame))
    assert list(back.columns) == [*T.CURVE.columns, "extra"]
    assert back[T.EPOCH].iloc[0] == len(T.CURVE.columns) - 1


def test_a_frame_without_a_schema_column_is_refused_in_one_line(tmp_path):
    frame = T.CURVE.frame([{c: 0 for c in T.CURVE.columns}]).drop(columns=[T.VAL_ACC])
    with pytest.raises(ValueError, match="lacks columns val_acc") as info:
        T.CURVE.write(tmp_path / "c.csv", frame)
    assert "\n" not in str(info.value) and not (tmp_path / "c.csv").exists()


def test_a_file_without_a_column_its_reader_needs_names_it_and_the_remedy(tmp_path):
    (tmp_path / "cells.csv").write_text("cell,batch_size\nbs8_lam0/seed1,8\n")
    with pytest.raises(ValueError) as info:
        T.CELLS.read(tmp_path / "cells.csv")
    assert "momentum" in str(info.value) and T.CELLS.remedy in str(info.value)
    assert T.CELLS.read(tmp_path / "cells.csv", columns=(T.CELL, T.BATCH_SIZE))[T.BATCH_SIZE].tolist() == [8]


def test_column_names_that_carry_a_setting():
    assert T.sharpness_column(1e-3, None) == "sharpness_full_eps0.001"
    assert T.sharpness_column(5e-4, 100) == "sharpness_random100_eps0.0005"
    assert T.sharpness_columns((1e-3,), 20) == ("sharpness_full_eps0.001", "sharpness_random20_eps0.001")
    assert T.NOISE_FINAL.cosine_expected == "cosine_expected_final" and T.NOISE_INIT.b_simple == "b_simple_init"
    assert [T.acc_column(s) for s in T.SPLITS] == [T.TRAIN_ACC, T.VAL_ACC, T.TEST_ACC]


def test_every_report_table_has_a_distinct_name_and_no_repeated_column():
    assert len({t.name for t in T.REPORT_TABLES}) == len(T.REPORT_TABLES)
    for t in (*T.REPORT_TABLES, T.CURVE, T.CELL_CANDIDATES, T.TIMING):
        assert len(set(t.columns)) == len(t.columns), t.name


def _cells(n: int) -> pd.DataFrame:
    return pd.DataFrame({c: [f"{c}{i}" for i in range(n)] for c in T.CELLS.columns})


def test_a_table_records_its_rows_and_checksum_in_a_manifest_written_beside_it(tmp_path):
    import hashlib
    import json

    path = T.CELLS.write(tmp_path / "cells.csv", _cells(8))
    manifest = json.loads((tmp_path / ".cells.csv.manifest.json").read_text())
    data = path.read_bytes()
    assert manifest == {"file": "cells.csv", "rows": 8, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert len(T.CELLS.read(path)) == 8


def test_a_table_cut_exactly_at_a_row_boundary_is_refused_in_one_line(tmp_path):
    path = T.CELLS.write(tmp_path / "cells.csv", _cells(8))
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]))  # every row whole, ends with a newline: parses as 6 rows
    with pytest.raises(ValueError) as info:
        T.CELLS.read(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: holds 6 rows, its manifest .cells.csv.manifest.json says 8") and "\n" not in msg
    assert T.CELLS.remedy in msg


def test_a_table_changed_after_it_was_written_is_refused_by_its_checksum(tmp_path):
    path = T.CELLS.write(tmp_path / "cells.csv", _cells(3))
    path.write_text(path.read_text().replace("cell1", "cell9"))  # same rows, another value
    with pytest.raises(ValueError, match="differs from its manifest") as info:
        T.CELLS.read(path)
    assert "\n" not in str(info.value)


def test_a_table_whose_writer_died_before_the_manifest_is_refused(tmp_path):
    """The manifest is written last: an older manifest beside a newer table means an unfinished write."""
    from batch_momentum.io import files

    path = T.CELLS.write(tmp_path / "cells.csv", _cells(2))
    old = (tmp_path / ".cells.csv.manifest.json").read_text()
    T.CELLS.write(path, _cells(5))
    (tmp_path / ".cells.csv.manifest.json").write_text(old)
    with pytest.raises(ValueError, match="holds 5 rows, its manifest .* says 2"):
        files.read_csv(path)


def test_a_table_without_a_manifest_is_read_as_before(tmp_path):
    (tmp_path / "curve.csv").write_text(",".join(T.CURVE.columns) + "\n" + ",".join("1" * len(T.CURVE.columns)) + "\n")
    assert len(T.CURVE.read(tmp_path / "curve.csv")) == 1
