"""The rows of the lecture's table, one module each: a row is a function of the aggregated tables
and params that returns a dict (aspect, the lecture's sides, what was measured, verdict, evidence,
per-λ comparisons). analysis.lecture puts them in order; a new row is a new module here."""
