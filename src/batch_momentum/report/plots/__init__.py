"""The report's figures, drawn from the aggregated tables."""
