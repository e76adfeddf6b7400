"""replicate: two runs of the protocol side by side, from their reports/lecture.json.

    python -m batch_momentum replicate reports/lecture.default.json reports/lecture.json [--out FILE.md]

Per row of the lecture's table and per λ: each run's verdict and interval, whether the intervals
overlap, and whether the verdict is consistent: the same, or moved only between a decided answer and
"inconclusive" (or "not measured"). A row that moves between "holds" and "does not hold" (or "no
difference" and either) is a contradiction: the command lists it and exits with status 1. Run it on
the default seeds against configs/replicate.yaml's (docs/measures.md, "Replication").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batch_momentum.analysis.verdicts import INCONCLUSIVE, NOT_MEASURED
from batch_momentum.io import files

UNDECIDED = {str(INCONCLUSIVE), str(NOT_MEASURED)}


def consistent(a: str, b: str) -> bool:
    """Two verdicts of one claim agree: the same, or one of them undecided (inconclusive, not measured)."""
    return a == b or a in UNDECIDED or b in UNDECIDED


def _interval(per: dict) -> tuple[str, float | None, float | None]:
    for kind in ("difference", "ratio"):
        if kind in per:
            return kind, per[kind].get("lo"), per[kind].get("hi")
    return "", None, None


def overlap(a: tuple, b: tuple) -> bool | None:
    """Whether two intervals (kind, lo, hi) overlap; None when either has no interval."""
    if None in (a[1], a[2], b[1], b[2]):
        return None
    return a[1] <= b[2] and b[1] <= a[2]


def compare_runs(a: dict, b: dict) -> list[dict]:
    """One entry per row (and per λ where the row has per-λ comparisons) of the lecture's table of two runs:
    aspect, λ (None for a row as a whole), both verdicts, both intervals, overlap and consistent."""
    rows_b = {r["aspect"]: r for r in b["rows"]}
    out = []
    for ra in a["rows"]:
        rb = rows_b.get(ra["aspect"])
        if rb is None:
            continue
        out.append(
            dict(
                aspect=ra["aspect"],
                momentum=None,
                verdict_a=ra["verdict"],
                verdict_b=rb["verdict"],
                interval_a=None,
                interval_b=None,
                overlap=None,
                consistent=consistent(ra["verdict"], rb["verdict"]),
            )
        )
        per_b = {p["momentum"]: p for p in rb.get("per_lambda") or []}
        for pa in ra.get("per_lambda") or []:
            pb = per_b.get(pa["momentum"])
            if pb is None:
                continue
            ia, ib = _interval(pa), _interval(pb)
            out.append(
                dict(
                    aspect=ra["aspect"],
                    momentum=pa["momentum"],
                    verdict_a=pa["verdict"],
                    verdict_b=pb["verdict"],
                    interval_a=ia,
                    interval_b=ib,
                    overlap=overlap(ia, ib),
                    consistent=consistent(pa["verdict"], pb["verdict"]),
                )
            )
    return out


def _fmt(iv) -> str:
    if not iv or iv[1] is None or iv[2] is None:
        return ""
    kind, lo, hi = iv
    return f"[{lo:.3g}, {hi:.3g}]" if kind == "ratio" else f"[{100 * lo:+.1f}, {100 * hi:+.1f}] pts"


def markdown(entries: list[dict], names: tuple[str, str]) -> str:
    """The comparison as a Markdown table, one line per row and λ."""
    lines = [
        f"| claim | λ | {names[0]} | {names[1]} | intervals overlap | consistent |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        lam = "" if e["momentum"] is None else f"{e['momentum']:g}"
        ov = {True: "yes", False: "**no**", None: ""}[e["overlap"]]
        lines.append(
            f"| {e['aspect']} | {lam} | {e['verdict_a']} {_fmt(e['interval_a'])} | {e['verdict_b']} "
            f"{_fmt(e['interval_b'])} | {ov} | {'yes' if e['consistent'] else '**no: contradicts**'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m batch_momentum replicate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("first", help="reports/lecture.json of one run (e.g. the default seeds, copied aside)")
    ap.add_argument("second", help="reports/lecture.json of the other run (e.g. configs/replicate.yaml's seeds)")
    ap.add_argument("--out", help="also write the comparison as Markdown to this file")
    args = ap.parse_args(argv)
    remedy = "run the pipeline to make it (snakemake --cores all)"
    a, b = (files.read_json(Path(p), remedy=remedy) for p in (args.first, args.second))
    entries = compare_runs(a, b)
    names = (Path(args.first).name, Path(args.second).name)
    text = markdown(entries, names if names[0] != names[1] else (args.first, args.second))
    print(text, end="")
    if args.out:
        files.write_text(Path(args.out), text)
    bad = [e for e in entries if not e["consistent"]]
    apart = [e for e in entries if e["overlap"] is False]
    print(
        f"{len(entries)} comparisons: {len(bad)} contradicting verdict(s), {len(apart)} pair(s) of intervals "
        "that do not overlap",
        file=sys.stderr,
    )
    return 1 if bad else 0
