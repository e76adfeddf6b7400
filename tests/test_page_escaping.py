"""Every text on the page is shown as text: the template escapes every value (autoescape), and the HTML
the sections build in Python (report/sections/common.py) escapes its own inputs. A title, a dataset label,
a run's reason, a table's header and cells, a caption and a chip's hover text that hold a script, markup,
`<`, `&` and quotes render, in headless Chromium, as exactly those characters, and the page holds the
same elements and attributes as with harmless text."""

import pandas as pd
from markupsafe import Markup

from batch_momentum.report import page
from batch_momentum.report.sections.common import html_paragraph, html_table
from test_page import browse, context, rows

HOSTILE = (
    '<script>window.injected = 1</script> & <b>bold</b> <img src=x onerror="window.injected = 2"> '
    "\"double\" 'single' a < b &amp; c"
)
PLAIN = "plain words"
PIXEL = (  # a 1 × 1 PNG: a figure of the page
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def page_with(text: str) -> str:
    """The page with `text` everywhere a string of params or data reaches it."""
    r = rows()
    r[0] = dict(r[0], aspect=text, evidence=text)
    next(x for x in r if x["aspect"] == "Optimization")["per_lambda"][2]["reason"] = text  # a chip's title
    frame = pd.DataFrame({text: [text, "x"], "B": [8, 512]})
    ctx = context(r)
    ctx.update(
        title=text,
        settings=[f"Data: {text}, 200 training examples."],
        sections=[
            dict(
                id="s",
                title=text,
                text=text,
                html=html_paragraph(text, id="p") + html_table(frame),
                after=text,
                figures=[dict(caption=text, uri=PIXEL)],
            )
        ],
        cells_html=html_table(frame),
        equal_html=html_table(frame),
        problems=[dict(cell=text, status="did not train", reason=text)],
    )
    return page.render(ctx)


def test_the_html_built_in_python_escapes_its_inputs_and_is_marked_safe_once():
    table = html_table(pd.DataFrame({HOSTILE: [HOSTILE, 1.0]}))
    para = html_paragraph(HOSTILE, id='a" onclick="x')
    for built in (table, para, para + table):
        assert isinstance(built, Markup) and "<script>" not in built and "<b>" not in built
        assert "&lt;script&gt;" in built and "&amp;amp;" in built  # & escaped once, an escaped & again
    assert 'id="a&#34; onclick=&#34;x"' in para
    assert str(table).count("&lt;script&gt;") == 2  # the header and the cell


def test_the_page_escapes_every_value_and_a_plain_string_of_html():
    html = page_with(HOSTILE)
    assert "<script>window" not in html and "<b>bold" not in html and "<img src=x" not in html
    assert html.count("&lt;script&gt;window.injected = 1&lt;/script&gt;") >= 15
    ctx = context(rows())
    ctx["sections"] = [dict(id="s", title="t", text="", html="<i>not markup</i>", figures=[])]
    assert "&lt;i&gt;not markup&lt;/i&gt;" in page.render(ctx)  # a section's str is text, not HTML


PROBE = """<pre id="probe">pending</pre><script>
const attrs = e => [...e.attributes].map(a => a.name).sort().join(",");
const text = sel => [...document.querySelectorAll(sel)].map(e => e.textContent);
document.getElementById("probe").textContent = JSON.stringify({
  elements: [...document.querySelectorAll("*")].map(e => `${e.tagName}[${attrs(e)}]`),
  injected: window.injected ?? null,
  title: document.title, h1: text("h1"), h2: text("h2#s"), p: text("p#p"), figcaption: text("figcaption"),
  alt: [...document.querySelectorAll("img")].map(i => i.alt), settings: text("#settings + ul li"),
  headers: text("table.cells th"), cells: text("table.cells td"), problems: text("#problems li"),
  aspect: text("#lecture-table tr.claim td:first-child a"),
  missing: [...document.querySelectorAll(".chip.missing")].map(c => c.title),
  scroll_width: document.documentElement.scrollWidth});
</script>"""


def test_a_hostile_string_shows_as_text_in_chromium_and_adds_no_element(tmp_path):
    (tmp_path / "plain").mkdir(), (tmp_path / "hostile").mkdir()
    plain = browse(page_with(PLAIN), tmp_path / "plain", probe=PROBE)
    found = browse(page_with(HOSTILE), tmp_path / "hostile", probe=PROBE)
    assert found["injected"] is None  # no script ran, no image's onerror
    assert found["elements"] == plain["elements"]  # every element and attribute is the template's
    assert found["title"] == HOSTILE and found["h1"] == [HOSTILE] and found["p"] == [HOSTILE]
    assert found["h2"] == [HOSTILE + " ↑ table"] and found["figcaption"] == [HOSTILE] and found["alt"] == [HOSTILE]
    assert found["settings"] == [f"Data: {HOSTILE}, 200 training examples."]
    assert found["headers"].count(HOSTILE) == 3 and found["cells"].count(HOSTILE) == 3  # three tables
    assert found["problems"] == [f"{HOSTILE}: did not train ({HOSTILE})"]
    assert found["aspect"][0] == HOSTILE and found["missing"] == [HOSTILE]
    assert found["scroll_width"] <= 1400
