"""replicate: two runs' lecture tables side by side (analysis.replication), on made-up tables whose
answers are known: consistent verdicts, overlapping intervals, and the exit status of a contradiction."""

import json

import pytest

from batch_momentum import cli
from batch_momentum.analysis import replication


def lecture(gen: dict, sharp: dict, timing="holds") -> dict:
    """A lecture.json with a timing row and two per-λ rows: gen[λ] = (verdict, lo, hi) of a difference,
    sharp[λ] likewise of a ratio."""

    def per(values, kind):
        key = "diff" if kind == "difference" else "ratio"
        return [
            {"momentum": lam, "verdict": v, kind: {key: (lo + hi) / 2, "lo": lo, "hi": hi}}
            for lam, (v, lo, hi) in values.items()
        ]

    return {
        "rows": [
            {"aspect": "Time for one epoch", "verdict": timing},
            {"aspect": "Generalization", "verdict": "partly holds", "per_lambda": per(gen, "difference")},
            {"aspect": "Sharp vs flat minima", "verdict": "holds", "per_lambda": per(sharp, "ratio")},
        ]
    }


@pytest.mark.parametrize(
    "a,b,ok",
    [
        ("holds", "holds", True),
        ("holds", "inconclusive", True),
        ("not measured", "does not hold", True),
        ("holds", "does not hold", False),
        ("no difference", "holds", False),
    ],
)
def test_consistent_is_the_same_verdict_or_an_undecided_one(a, b, ok):
    assert replication.consistent(a, b) is ok


def test_intervals_overlap_when_they_share_a_point():
    assert replication.overlap(("difference", -0.02, 0.01), ("difference", 0.01, 0.03))
    assert not replication.overlap(("difference", -0.028, -0.002), ("difference", 0.01, 0.029))
    assert replication.overlap(("ratio", None, None), ("ratio", 1.0, 2.0)) is None


def test_compare_runs_lists_every_row_and_lambda_with_both_verdicts():
    a = lecture({0.0: ("holds", -0.03, -0.01), 0.5: ("holds", -0.028, -0.002)}, {0.0: ("holds", 1.3, 2.0)})
    b = lecture({0.0: ("inconclusive", -0.02, 0.005), 0.5: ("does not hold", 0.01, 0.029)}, {0.0: ("holds", 1.5, 2.5)})
    entries = replication.compare_runs(a, b)
    by = {(e["aspect"], e["momentum"]): e for e in entries}
    assert len(entries) == 3 + 3  # three rows, three λ comparisons
    assert by[("Generalization", 0.0)]["consistent"] and by[("Generalization", 0.0)]["overlap"]
    assert not by[("Generalization", 0.5)]["consistent"] and by[("Generalization", 0.5)]["overlap"] is False
    assert by[("Sharp vs flat minima", 0.0)]["overlap"] and by[("Time for one epoch", None)]["consistent"]
    md = replication.markdown(entries, ("a.json", "b.json"))
    assert "| Generalization | 0.5 | holds [-2.8, -0.2] pts | does not hold [+1.0, +2.9] pts | **no** |" in md


def test_the_command_exits_1_on_a_contradiction_and_writes_the_table(tmp_path, capsys):
    same = lecture({0.0: ("holds", -0.03, -0.01)}, {0.0: ("holds", 1.3, 2.0)})
    flipped = lecture({0.0: ("does not hold", 0.01, 0.02)}, {0.0: ("holds", 1.3, 2.0)})
    for name, data in (("a.json", same), ("b.json", same), ("c.json", flipped)):
        (tmp_path / name).write_text(json.dumps(data))
    assert cli.main(["replicate", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    out = tmp_path / "cmp.md"
    assert cli.main(["replicate", str(tmp_path / "a.json"), str(tmp_path / "c.json"), "--out", str(out)]) == 1
    assert "**no: contradicts**" in out.read_text()
    assert "1 contradicting verdict(s)" in capsys.readouterr().err
    assert cli.main(["replicate", str(tmp_path / "a.json"), str(tmp_path / "missing.json")]) == 2
