"""Background model work stops before the interpreter does.

A daemon thread still inside a PyTorch call when Python finalizes is killed as it takes the GIL back,
from inside C++ frames, and the whole process aborts ("terminate called without an active exception",
exit status 134) after everything else succeeded. Whatever runs models in background threads (grid
fillers, the job queue, the pool's warm-up) registers a stop here; at exit each is stopped and its
thread joined, so no thread is inside PyTorch when the interpreter goes.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable

JOIN_TIMEOUT_S = 60.0  # one batch of a large model on a busy CPU
_stops: list[Callable[[], Callable[[], None] | None]] = []
_lock = threading.Lock()


def stop_at_exit(stop: Callable[[], None]) -> None:
    """Call ``stop`` at exit (a bound method is held weakly: its object may go away first)."""
    ref = weakref.WeakMethod(stop) if hasattr(stop, "__self__") else (lambda: stop)
    with _lock:
        _stops.append(ref)


def join_at_exit(thread: threading.Thread) -> None:
    """Wait for a one-shot background thread at exit."""
    stop_at_exit(lambda: thread.join(JOIN_TIMEOUT_S))


@atexit.register
def _stop_all() -> None:
    with _lock:
        stops = [ref() for ref in reversed(_stops)]
    for stop in stops:
        if stop is not None:
            try:
                stop()
            except Exception:  # noqa: BLE001 - exiting anyway; one failure must not keep the others running
                pass
