"""The aggregated tables, statistics, and the lecture's verdicts as data."""
