"""Wall-clock timing of a small computation, as the app shows it next to each ensemble mode."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeats: int = 1) -> tuple[object, float]:
    """Run ``fn`` ``repeats`` times; return the last result and the best wall time in milliseconds.

    The best of a few runs is the cost of the computation, not of whatever else a shared machine
    was doing at that moment.
    """
    best = float("inf")
    result = None
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best * 1000.0
