"""Analytics over the journal: tracking, exact percentiles, queries, trends, exports.

The engine's journal (``runs``, ``step_attempts``) is the data; analytics adds queries
over it and a live observer (:class:`AnalyticsTracker`). The seed-compatible facade
``WorkflowAnalyticsEngine`` (which can also record runs executed elsewhere) lives in
:mod:`flowscope.compat`.

Resource figures, per step attempt (columns of ``step_attempts``):

- ``cpu_time_ms``: CPU time of the worker thread that ran a **sync** step
  (``time.thread_time`` around the call), user + system, in ms. A CPU-bound step shows
  about its duration; a step that sleeps or waits on I/O shows much less. ``None`` for
  async steps (they share the event loop thread, so a per-step CPU time would be
  wrong), for sub-workflow steps (see the child run's steps), for skipped and reused
  attempts, and for runs recorded through ``track_*``.
- ``peak_memory_bytes``: the peak of Python allocations traced by ``tracemalloc``
  during the attempt, above what was allocated when it started, in bytes; only when
  the engine runs with ``Engine(measure_memory=True)``. It counts memory allocated
  through Python's allocators (objects, bytes, numpy arrays' data too), not memory a C
  library takes with its own ``malloc``, nor the process's RSS. tracemalloc is
  process-wide, so steps running at the same time add into each other's peaks; measure
  with ``max_concurrency=1`` when the figure must be exact. ``None`` when measurement
  is off, and for async, sub-workflow, skipped, reused and tracked attempts.
- Steps run with ``executor: process``: the child process's CPU time (``getrusage``) and
  how far its peak RSS rose during the call (see :mod:`flowscope.engine.process`).
- ``queue_wait_ms``: from ready (needs met) to started: time waiting for a concurrency
  slot and in the debugger.
- Reported samples (``track_memory_usage`` in MiB, ``track_cpu_usage`` in percent of one
  core) are kept as given in ``resource_samples``; they are not checked against
  anything.
"""

from __future__ import annotations

from flowscope.analytics.filters import Filters
from flowscope.analytics.tracker import AnalyticsTracker

__all__ = ["AnalyticsTracker", "Filters"]
