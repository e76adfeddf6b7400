"""Momentum at critical points: surfaces with known answers and the experiments on them."""
