"""batch_momentum: the lecture 'Batch and Momentum' tested with real training runs."""

__version__ = "0.1.0"
