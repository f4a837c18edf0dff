"""Resource figures recorded by the engine, as analytics reports them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flowscope.compat import WorkflowAnalyticsEngine
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict

MB = 1024 * 1024


def allocate() -> int:
    block = bytearray(50 * MB)  # ~50 MB held until the step returns
    return len(block)


def make_spin(spun_ms: list[float]) -> Callable[[], int]:
    """Return a step that spins for 300 ms of its thread's CPU time and notes how much it used.

    CPU time, not wall-clock time, bounds the loop, and the step reports the CPU time it
    measured itself: a busy machine stretches the wall-clock duration but changes neither.
    """

    def spin() -> int:
        start = time.thread_time()
        end = start + 0.3
        n = 0
        while time.thread_time() < end:
            n += 1
        spun_ms.append((time.thread_time() - start) * 1000.0)
        return n

    return spin


def test_peak_memory_and_cpu_time(sqlite_store: Any) -> None:
    spun_ms: list[float] = []
    w = workflow_from_dict({"name": "res", "steps": [
        {"id": "alloc", "uses": "allocate"}, {"id": "spin", "uses": "spin", "needs": ["alloc"]},
    ]})
    engine = Engine(sqlite_store, actions={"allocate": allocate, "spin": make_spin(spun_ms)},
                    measure_memory=True, max_concurrency=1)
    try:
        assert engine.run(w, {}).ok
    finally:
        engine.close()
    rows = {r["step_id"]: r for r in WorkflowAnalyticsEngine(sqlite_store).get_step_statistics()}
    peak = rows["alloc"]["max_peak_memory_bytes"]
    assert abs(peak - 50 * MB) <= 0.2 * 50 * MB
    spin_row = rows["spin"]
    cpu, duration = spin_row["max_cpu_time_ms"], spin_row["max_duration_ms"]
    [work] = spun_ms
    assert 300 <= cpu <= duration + 5  # CPU time never exceeds the wall-clock duration
    # The figure is this step's own CPU time: at least what the step measured for itself,
    # plus at most the engine's small per-call cost. Both sides are CPU time, so a loaded
    # machine moves neither; a figure that also counted other threads' work would not fit.
    assert work - 1 <= cpu <= work * 1.05 + 20


def test_no_memory_figure_when_measurement_is_off(sqlite_store: Any) -> None:
    w = workflow_from_dict({"name": "res", "steps": [{"id": "alloc", "uses": "allocate"}]})
    engine = Engine(sqlite_store, actions={"allocate": allocate})
    try:
        assert engine.run(w, {}).ok
    finally:
        engine.close()
    row = WorkflowAnalyticsEngine(sqlite_store).get_step_statistics()[0]
    assert row["max_peak_memory_bytes"] is None
