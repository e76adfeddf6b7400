"""What every section shares: its HTML. The page's template escapes every value it is given; the
HTML a section builds on purpose (tables, a paragraph before one) is made here, and only here: each
function escapes its own inputs and marks its result safe (markupsafe.Markup), so that the template
inserts it as it is. A section's `html` that is a plain str is escaped like any other text.

The figures are drawn from the aggregated tables; every number that makes a verdict comes from the
analyze step (reports/lecture.json)."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup


def html_table(df: pd.DataFrame, fmt="{:.3g}") -> Markup:
    """The frame as a <table class="cells">, every header and cell escaped (pandas' escape=True), in a box of
    its own that scrolls sideways where the table is wider than the page (class "wide")."""
    html = df.to_html(index=False, float_format=fmt.format, border=0, na_rep="—", classes="cells", escape=True)
    return Markup('<div class="wide">{}</div>').format(Markup(html))


def html_paragraph(text: str, id: str | None = None) -> Markup:
    """<p id="...">text</p> with the text (and the id) escaped."""
    if id is None:
        return Markup("<p>{}</p>").format(text)
    return Markup('<p id="{}">{}</p>').format(id, text)
