"""The page's lecture table at a glance (report/page.py and its template): one row per claim with a headline
per side (per-λ chips), the verdict's colour, the detail under the row, a summary from the rows; and, in
headless Chromium at 1400 × 900, the whole table within two window heights with every detail closed, and
every <details> opening."""

import html as html_lib
import json
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest

from batch_momentum.analysis.verdicts import Verdict
from batch_momentum.report import page
from batch_momentum.report.sections.common import html_table

LAMS = (0.0, 0.5, 0.9)


def side(mean, n=8):
    if not n:
        return {"n": 0, "mean": None, "std": None, "lo": None, "hi": None}
    return {"n": n, "mean": mean, "std": 0.01, "lo": mean - 0.01, "hi": mean + 0.01}


def per_lambda(verdicts, ratio=False, extra=True, missing_large=()):
    """Per-λ comparisons as analysis.lecture writes them; with `extra` the fields of the margin work
    (margin, detectable, seeds_needed, paired, correlation, reason)."""
    out = []
    for lam, v in zip(LAMS, verdicts):
        gone = lam in missing_large
        p = {
            "momentum": lam,
            "b_small": 8,
            "b_large": 512,
            "small": side(0.71 + lam / 10),
            "large": side(0.69, 0 if gone else 8),
            "failed": {"small": {}, "large": {"did not train": 8} if gone else {}},
            "cells": [f"bs{b}_lam{lam}/seed{s}" for b in (8, 512) for s in range(8)],
            "verdict": v,
        }
        if ratio:
            p["ratio"] = {"ratio": 1.3, "lo": 1.1, "hi": 1.5}
        else:
            p["difference"] = {"diff": -0.02, "lo": -0.03, "hi": -0.01}
        if extra:
            p.update(margin=0.01, detectable=0.008, seeds_needed=12 if v == "inconclusive" else None, paired=True)
            p.update(correlation=0.62, reason="B = 512 did not train at λ = 0.9" if gone else "")
        out.append(p)
    return out


def rows(extra=True) -> list[dict]:
    """Eleven rows like reports/lecture.json: three timing rows, four batch rows with per-λ numbers and long
    evidence, four momentum rows."""
    long = "per λ: " + "; ".join(f"λ={lam}: B=8 71.2% [70.1%, 72.3%] vs B=512 69.0% [68.2%, 69.8%]" for lam in LAMS * 8)

    def row(aspect, section, verdict, scope="", per=None, measured=("1.2 ms", "30 ms")):
        r = dict(aspect=aspect, section=section, small="Better", large="Worse", verdict=verdict, scope=scope)
        r.update(measured_small=measured[0], measured_large=measured[1], evidence=long if per else "timing step")
        r["cells"] = sorted({c for p in per or [] for c in p["cells"]})
        if per:
            r["per_lambda"] = per
            if extra:
                r["margin_text"] = "1 point of test accuracy, fixed in params before the run"
        return r

    return [
        row("Speed for one update (no parallel computing)", "timing", "holds"),
        row("Speed for one update (with parallel computing)", "timing", "does not hold"),
        row("Time for one epoch", "timing", "holds"),
        row("Gradient", "noise", "holds", per=per_lambda(["holds"] * 3, extra=extra)),
        row(
            "Optimization",
            "optimization",
            "partly holds",
            "(λ=0: holds, λ=0.5: holds, λ=0.9: not measured)",
            per_lambda(["holds", "holds", "not measured"], extra=extra, missing_large=(0.9,)),
        ),
        row("Generalization", "generalization", "no difference", per=per_lambda(["no difference"] * 3, extra=extra)),
        row(
            "Sharp vs flat minima",
            "sharpness",
            "inconclusive",
            per=per_lambda(["inconclusive"] * 3, ratio=True, extra=extra),
        ),
        *(row(f"Momentum claim {k}", "momentum", "holds", measured=("x = 0 (saddle)", "x = 3")) for k in range(4)),
    ]


# ----------------------------------------------------------------------------- the rows as the page shows them
def test_a_row_with_per_lambda_numbers_shows_one_chip_per_lambda_and_side():
    view = page.lecture_rows(rows())
    opt = next(r for r in view if r["aspect"] == "Optimization")
    assert [c["text"] for c in opt["chips_small"]] == ["λ=0: 71.0%", "λ=0.5: 76.0%", "λ=0.9: 80.0%"]
    assert opt["chips_small"][0]["title"] == "71.0% [70.0%, 72.0%] (n = 8)"  # the interval on hover
    missing = opt["chips_large"][2]
    assert missing["text"] == "λ=0.9: not measured" and missing["css"] == "missing"
    assert missing["title"] == "B = 512 did not train at λ = 0.9"  # the analysis' reason
    assert opt["headline"] == "training accuracy"
    sharp = next(r for r in view if r["aspect"] == "Sharp vs flat minima")
    assert sharp["chips_large"][0]["text"] == "λ=0: 0.69" and sharp["headline"] == "top Hessian eigenvalue"
    timing = view[0]
    assert timing["chips_small"] == [dict(text="1.2 ms", title="", css="")] and timing["headline"] == ""


def test_without_the_margin_fields_a_missing_side_says_which_runs_were_left_out():
    view = page.lecture_rows(rows(extra=False))
    opt = next(r for r in view if r["aspect"] == "Optimization")
    assert opt["chips_large"][2]["title"] == "8 did not train (left out)"
    assert "margin" not in opt["detail"]["columns"] and "seeds needed" not in opt["detail"]["columns"]
    assert "margin_text" not in opt and opt["detail"]["rows"][2]["left out"] == "large: 8 did not train"


def test_every_verdict_has_its_own_colour_and_the_detail_has_the_margin_work():
    assert set(page.VERDICT_CSS) == set(Verdict) and len(set(page.VERDICT_CSS.values())) == len(Verdict)
    view = {r["aspect"]: r for r in page.lecture_rows(rows())}
    assert view["Generalization"]["css"] == "same" != view["Sharp vs flat minima"]["css"] == "open"
    assert view["Gradient"]["lambdas"] == []  # the λ agree: one badge
    assert [b["css"] for b in view["Optimization"]["lambdas"]] == ["holds", "holds", "none"]
    detail = view["Sharp vs flat minima"]["detail"]
    assert {"margin", "detectable", "seeds needed", "paired", "large / small"} <= set(detail["columns"])
    first = detail["rows"][0]
    assert first["large / small"] == "×1.3 [1.1, 1.5]" and first["margin"] == "×0.01" and first["seeds needed"] == "12"
    assert first["paired"] == "yes (r = 0.62)"
    gone = view["Optimization"]["detail"]["rows"][2]
    assert gone["left out"] == "large: 8 did not train; B = 512 did not train at λ = 0.9"  # the reason, in the row
    gen = view["Generalization"]["detail"]["rows"][0]
    assert gen["large − small"] == "-2.0% [-3.0%, -1.0%]" and gen["margin"] == "1.0%" and gen["seeds needed"] == ""


def test_the_summary_counts_the_verdicts_and_names_the_claims_that_differ_or_are_open():
    lines = page.summary_text(rows())
    assert len(lines) == 3
    assert lines[0] == (
        "Of the lecture's 11 claims, on this run 7 hold, 1 partly holds, 1 does not hold, 1 shows no difference "
        "and 1 is inconclusive."
    )
    assert "Speed for one update (with parallel computing) (does not hold)" in lines[1]
    assert "Optimization (partly holds (λ=0: holds" in lines[1] and "Generalization (no difference)" in lines[1]
    open_ = "Undecided: inconclusive, the intervals too wide to decide: Sharp vs flat minima"
    assert lines[2] == open_ + " (about 12 seeds would decide)."
    every = page.summary_text([dict(r, verdict="holds", scope="") for r in rows()])
    assert every == ["Of the lecture's 11 claims, on this run 11 hold."]


# ----------------------------------------------------------------------------- in the browser
def context(lecture_rows: list[dict]) -> dict:
    """What page.render needs, with the lecture rows and nothing else on the page."""
    return dict(
        title="Batch and Momentum, measured",
        settings=["Data: made up."],
        sections=[],
        contents=[("settings", "Settings"), ("lecture", "The lecture's table, measured")],
        lecture=page.lecture_rows(lecture_rows),
        summary=page.summary_text(lecture_rows),
        device={"names": ["cpu"], "timing": ""},
        verdicts=", ".join(v.value for v in Verdict),
        interval="95% Student-t interval",
        cells_html="",
        equal_html="",
        problems=[],
    )


PROBE = """<pre id="probe">pending</pre><script>
const table = document.getElementById("lecture-table");
const closed = table.getBoundingClientRect().height;
const all = [...document.querySelectorAll("details")];
const before = all.map(d => d.getBoundingClientRect().height);
all.forEach(d => d.querySelector("summary").click());  // as a reader opens them
const after = all.map(d => d.getBoundingClientRect().height);
document.getElementById("probe").textContent = JSON.stringify({
  closed, open: table.getBoundingClientRect().height, window: [innerWidth, innerHeight],
  scroll_width: document.documentElement.scrollWidth,
  opened: all.map(d => d.open), before, after, rows: table.querySelectorAll("tr.claim").length});
</script>"""


def chromium() -> str:
    """Headless Chromium's executable; a skip where it is missing (a failure on CI, which installs it)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return browser


def browse(html: str, tmp_path, probe: str = PROBE, width: int = 1400) -> dict:
    """The page laid out by headless Chromium at width × 900 with a probe script run at the end of its body:
    what the probe wrote (JSON) into its <pre id="probe">. The default probe measures the lecture table: its
    height with its details closed and opened, and each details element's height before and after a click."""
    path = tmp_path / "page.html"
    head, _, tail = html.rpartition("</body>")
    path.write_text(head + probe + "</body>" + tail)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    flags += ["--hide-scrollbars", f"--window-size={width},900", f"--user-data-dir={tmp_path / 'chromium'}"]
    res = subprocess.run(
        [chromium(), *flags, "--dump-dom", f"file://{path}"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, flags=re.S)
    assert out and out.group(1) != "pending", res.stdout[-2000:]
    return json.loads(html_lib.unescape(out.group(1)))


@pytest.mark.parametrize("extra", [True, False], ids=["with margins", "without margins"])
def test_the_lecture_table_fits_two_window_heights_and_every_detail_opens(tmp_path, extra):
    found = browse(page.render(context(rows(extra))), tmp_path)
    width, height = found["window"]  # the viewport: the 1400 × 900 window less headless Chromium's frame
    assert width == 1400 and height <= 900 and found["rows"] == 11
    assert found["closed"] <= 2 * height, found  # the whole table, details closed
    assert len(found["opened"]) == 11 and all(found["opened"]), found
    assert all(a > b + 20 for b, a in zip(found["before"], found["after"])), found  # each shows its content
    assert found["open"] > 3 * found["closed"]  # the intervals, cells and prose live in the details
    assert found["scroll_width"] <= width  # an opened detail wraps instead of widening the page


# ----------------------------------------------------------------------------- nothing wider than the window
WIDE_PROBE = """<pre id="probe">pending</pre><script>
const scrolls = e => getComputedStyle(e).overflowX === "auto" || getComputedStyle(e).overflowX === "scroll";
const inBox = e => { for (let p = e.parentElement; p; p = p.parentElement) if (scrolls(p)) return true; return false; };
const past = [...document.body.querySelectorAll("*")].filter(e => !inBox(e))
  .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5).map(e => e.tagName + "." + e.className);
document.getElementById("probe").textContent = JSON.stringify({
  window: innerWidth, scroll_width: document.documentElement.scrollWidth, past,
  boxes: [...document.querySelectorAll(".wide")].map(w => [w.querySelector("table")?.rows[0].cells.length ?? 0,
    w.scrollWidth > w.clientWidth, Math.round(w.getBoundingClientRect().right)]),
  imgs: [...document.querySelectorAll("img")].map(i => [i.naturalWidth, Math.round(i.getBoundingClientRect().width)])});
</script>"""


def test_no_table_or_figure_makes_the_page_scroll_sideways_at_1400_px(tmp_path):
    """Keskar's side-by-side table as the default params make it (13 columns of mean ± std under long
    headers) and a table of sentences fit the page by wrapping; a table of 40 columns scrolls inside its own
    box; a figure wider than the page is scaled to it. Nothing makes the page itself scroll sideways."""
    measures = ["training accuracy", "test accuracy", "top Hessian eigenvalue", "Hessian trace"] + [
        f"ε-sharpness ε={e}{sub}" for e in (0.001, 0.0005) for sub in ("", ", 20-dim subspace")
    ]
    keskar = pd.DataFrame(
        [
            {"λ": lam, "side": side, "B": b, "η": 0.05, "seeds at target": "8 of 8"}
            | {m: "0.9812 ± 0.0034" for m in measures}
            | {"ε-sharpness ε=0.001": "1234.5678 ± 123.45"}
            for lam in (0, 0.5, 0.9)
            for side, b in (("small", 8), ("large", 512))
        ]
    )
    reading = "weak: g explains 33% and momentum adds 0%; the rest is scatter (compare with the seed spread)"
    prose = pd.DataFrame({"runs": ["grid, trained"] * 4, "measure": measures[:4], "n": 45, "reading": reading})
    wide = pd.DataFrame({f"a long column name {i}": ["bs512_lam0.9/seed8"] for i in range(40)})
    ctx = context(rows())
    ctx["sections"] = [
        dict(id="s", title="Tables", text="", html=html_table(keskar) + html_table(prose) + html_table(wide)),
        dict(id="f", title="A figure", text="", html="", figures=[dict(caption="wide", uri=figure(20, 3))]),
    ]
    found = browse(page.render(ctx), tmp_path, probe=WIDE_PROBE)
    assert found["window"] == 1400 and found["scroll_width"] <= 1400 and found["past"] == [], found
    (keskar_box, prose_box, wide_box) = found["boxes"]
    assert keskar_box[:2] == [13, False] and prose_box[:2] == [4, False]  # they fit: no scrolling
    assert wide_box[:2] == [40, True] and wide_box[2] <= 1400  # it scrolls in its box, the box fits
    ((natural, shown),) = found["imgs"]
    assert natural > 1400 and shown <= 1150


def figure(width_in: float, height_in: float) -> str:
    """A matplotlib figure of that size as the page embeds it (110 dpi)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_in, height_in))
    ax.plot([0, 1], [0, 1])
    return page.figure_uri(fig)
