"""Shared by benchmark scripts: each writes its own section, `run_all.py` assembles RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    import tensorflow as tf

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, "
        f"{datetime.date.today().isoformat()}"
    )


def median_ms(fn, repeats: int, *, warmup: int = 0, clock=time.perf_counter) -> float:
    """Median milliseconds of `repeats` calls of `fn()` after `warmup` untimed calls (e.g. 1 to trace a
    `tf.function`). `clock`: wall clock (`time.perf_counter`, what the latency benchmarks time) or CPU time of
    every thread of the process (`time.process_time`)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times) * 1e3


def write_section(name: str, markdown: str) -> Path:
    """Write `benchmarks/results/<name>.md` (a section starting with `## ...`) and rebuild RESULTS.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(markdown.rstrip() + "\n")
    tmp.replace(path)
    assemble()
    return path


def assemble() -> None:
    """RESULTS.md = a header + every section in benchmarks/results/, sorted by file name."""
    parts = [
        "# Benchmark results\n",
        "Every number here was measured by a script in `benchmarks/` (named in its section), on the machine "
        "and date the section states; `make bench` re-runs them all. Ratios compare against a peer measured "
        "in the same run.\n",
    ]
    for section in sorted(RESULTS_DIR.glob("*.md")):
        parts.append(section.read_text())
    RESULTS_MD.write_text("\n".join(parts))
