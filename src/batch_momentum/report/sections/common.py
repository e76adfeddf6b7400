"""What every section shares: its tables as HTML. The figures are drawn from the aggregated
tables; every number that makes a verdict comes from the analyze step (reports/lecture.json)."""

from __future__ import annotations

import pandas as pd


def html_table(df: pd.DataFrame, fmt="{:.3g}") -> str:
    return df.to_html(
        index=False, float_format=lambda v: fmt.format(v), border=0, na_rep="—", classes="cells", escape=True
    )
