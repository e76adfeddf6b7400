"""Numbers in words, one way each, for the lecture's table and the page: times, percentages,
plain numbers, and the device a measurement ran on."""

from __future__ import annotations

import math

from batch_momentum.io import tables as T

MISSING = "n/a"  # what a missing value (None or NaN) reads as


def missing(v) -> bool:
    """None, or a float NaN (a JSON null read back, or a measure never taken)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def secs(s) -> str:
    """Seconds as 3 significant figures in µs, ms or s: 0.00123 -> "1.23 ms"."""
    if missing(s):
        return MISSING
    s = float(s)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale or unit == "µs":
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"  # not reached: µs takes every smaller value


def pct(v) -> str:
    """A fraction as a percentage with one decimal: 0.9123 -> "91.2%"."""
    return MISSING if missing(v) else f"{100 * v:.1f}%"


def num(v) -> str:
    """A number to 3 significant figures."""
    return MISSING if missing(v) else f"{v:.3g}"


def device_label(name, device, threads) -> str:
    """Where a measurement ran: "<model> (<device>, <threads> thread(s))"."""
    return f"{name} ({device}, {int(threads)} thread(s))"


def timing_device(timing) -> str:
    """The device of the timing step's rows (a tables.TIMING frame or one row of it as a dict)."""
    row = timing.iloc[0] if hasattr(timing, "iloc") else timing
    return device_label(row[T.DEVICE_NAME], row[T.DEVICE], row[T.THREADS])
