"""The live side of analytics: an engine observer that keeps in-flight gauges.

Everything analytics reports about past runs is already in the journal: the engine
records each run and step attempt with its duration, queue wait, attempt number,
status, error category, user, workflow, version, tags (``type`` copied to
``workflow_type``), CPU time and peak memory. So the tracker writes nothing per step
(it adds no store traffic to a run); concurrency over time is derived by the store from the
recorded start and end times (:func:`flowscope.analytics.series.concurrency`).

What the journal cannot answer is *now*: how many runs and steps are in flight in this
process at this instant, and how many have finished since the process started. The
:class:`AnalyticsTracker` keeps those counters from the engine's events (a few integer
updates per event), for a metrics endpoint or a live display::

    tracker = AnalyticsTracker()
    engine = Engine(store, hooks=[tracker])
    ...
    tracker.snapshot()   # {"runs_in_flight": 3, "steps_in_flight": 5, ...}
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from flowscope.engine.events import Event, EventKind
from flowscope.engine.hooks import EngineHooks

_RUN_END = {EventKind.RUN_COMPLETED: "completed", EventKind.RUN_FAILED: "failed",
            EventKind.RUN_CANCELLED: "cancelled"}
_STEP_END = {EventKind.STEP_COMPLETED: "completed", EventKind.STEP_FAILED: "failed"}


class AnalyticsTracker(EngineHooks):
    """Count runs and steps in flight and finished, from the engine's events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: set[str] = set()
        self._steps: dict[tuple[str, str | None], int] = {}
        self._steps_now = 0
        self._finished_runs: Counter[str] = Counter()
        self._finished_steps: Counter[str] = Counter()
        self._peak_runs = 0
        self._peak_steps = 0

    def on_event(self, event: Event) -> None:
        """Update the counters (called by the engine for every event)."""
        kind = event.kind
        with self._lock:
            if kind is EventKind.STEP_STARTED:
                key = (event.run_id, event.step_id)
                self._steps[key] = self._steps.get(key, 0) + 1
                self._steps_now += 1
                if self._steps_now > self._peak_steps:
                    self._peak_steps = self._steps_now
            elif kind in _STEP_END:
                self._step_done((event.run_id, event.step_id), _STEP_END[kind])
            elif kind is EventKind.RUN_STARTED or kind is EventKind.RUN_RESUMED:
                self._runs.add(event.run_id)
                self._peak_runs = max(self._peak_runs, len(self._runs))
            elif kind in _RUN_END:
                if event.run_id in self._runs:
                    self._runs.discard(event.run_id)
                self._finished_runs[_RUN_END[kind]] += 1
                # Attempts cancelled with the run end with it.
                for key in [k for k in self._steps if k[0] == event.run_id]:
                    self._steps_now -= self._steps.pop(key)

    def _step_done(self, key: tuple[str, str | None], outcome: str) -> None:
        live = self._steps.get(key, 0)
        if live > 1:
            self._steps[key] = live - 1
        elif live:
            del self._steps[key]
        self._steps_now -= min(live, 1)
        self._finished_steps[outcome] += 1

    def snapshot(self) -> dict[str, Any]:
        """Return the counters now: in flight, peaks, finished by outcome."""
        with self._lock:
            return {
                "runs_in_flight": len(self._runs),
                "steps_in_flight": self._steps_now,
                "peak_runs_in_flight": self._peak_runs,
                "peak_steps_in_flight": self._peak_steps,
                "runs_finished": dict(self._finished_runs),
                "steps_finished": dict(self._finished_steps),
            }
