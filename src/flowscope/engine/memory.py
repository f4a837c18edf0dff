"""``tracemalloc`` is one switch for the whole process: it is owned here, reference-counted.

Every run that measures memory holds a reference while it executes; tracing starts with
the first holder and stops with the last, whichever engine they belong to. (Tracing
slows every allocation, so it must not stay on after the last measuring run.) This is
process-wide state on purpose: the thing it guards is process-wide.
"""

from __future__ import annotations

import threading
import tracemalloc

_lock = threading.Lock()
_holders = [0]
_started_here = [False]


def acquire() -> None:
    """Hold tracing on (start it if nobody does)."""
    with _lock:
        if _holders[0] == 0 and not tracemalloc.is_tracing():
            tracemalloc.start()
            _started_here[0] = True
        _holders[0] += 1


def release() -> None:
    """Let go of tracing; the last holder stops it (unless someone else had started it)."""
    with _lock:
        if _holders[0] == 0:
            return
        _holders[0] -= 1
        if _holders[0] == 0 and _started_here[0]:
            tracemalloc.stop()
            _started_here[0] = False


def holders() -> int:
    """How many runs hold tracing on now."""
    return _holders[0]


def begin() -> int:
    """Start measuring one call: reset the peak; return the baseline."""
    if not tracemalloc.is_tracing():
        return -1
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    return base


def peak_since(base: int) -> int | None:
    """The peak allocation above ``base`` since ``begin`` (``None`` if not tracing)."""
    if base < 0 or not tracemalloc.is_tracing():
        return None
    return max(0, tracemalloc.get_traced_memory()[1] - base)
