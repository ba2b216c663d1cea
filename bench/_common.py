"""Timing helpers shared by the UI benchmarks (bench/ui.py, bench/traversal.py)."""

from __future__ import annotations

import statistics
import time


def timed(fn, *args) -> float:
    """Milliseconds one call of `fn(*args)` takes."""
    start = time.perf_counter()
    fn(*args)
    return 1000 * (time.perf_counter() - start)


def summary(values: list[float]) -> tuple[float, float, float]:
    """(median, p90, max) of timings."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))], ordered[-1]
