"""`benchmarks/_report.py`'s timing helper, which the latency benchmarks share."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _report import median_ms  # noqa: E402


def test_median_ms_times_after_warmup_with_the_given_clock():
    ticks = iter([0.0, 0.001, 0.001, 0.004, 0.004, 0.006])  # calls taking 1, 3 and 2 ms
    calls = []
    assert median_ms(lambda: calls.append(1), 3, warmup=2, clock=lambda: next(ticks)) == 2.0
    assert len(calls) == 5  # 2 untimed + 3 timed
    assert median_ms(lambda: None, 4) >= 0.0  # the wall clock by default, no warm-up
