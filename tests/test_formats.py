"""batch_momentum.analysis.formats: numbers in words, one way each."""

import numpy as np
import pandas as pd

from batch_momentum.analysis import formats


def test_times_print_with_three_significant_figures():
    assert formats.secs(0.0006196) == "620 µs"
    assert formats.secs(0.0123456) == "12.3 ms"
    assert formats.secs(1.8) == "1.8 s"
    assert formats.secs(61.26) == "61.3 s"
    assert formats.secs(float("nan")) == formats.MISSING and formats.secs(np.nan) == formats.MISSING
    assert formats.secs(None) == formats.MISSING


def test_percentages_and_numbers():
    assert formats.pct(0.91234) == "91.2%" and formats.pct(None) == formats.MISSING
    assert formats.num(1234.5) == "1.23e+03" and formats.num(0.5) == "0.5"


def test_the_device_of_the_timing_rows():
    timing = pd.DataFrame({"device_name": ["Some CPU"], "device": ["cpu"], "threads": [2]})
    assert formats.timing_device(timing) == "Some CPU (cpu, 2 thread(s))"
    assert formats.timing_device(timing.iloc[0].to_dict()) == "Some CPU (cpu, 2 thread(s))"
