"""Resource figures recorded by the engine, as analytics reports them."""

from __future__ import annotations

import time
from typing import Any

from flowscope.compat import WorkflowAnalyticsEngine
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict

MB = 1024 * 1024


def allocate() -> int:
    block = bytearray(50 * MB)  # ~50 MB held until the step returns
    return len(block)


def spin() -> int:
    # Spin for 300 ms of this thread's CPU time, so that a busy machine (which stretches
    # the wall-clock duration) cannot make the figure look wrong.
    end = time.thread_time() + 0.3
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def test_peak_memory_and_cpu_time(sqlite_store: Any) -> None:
    w = workflow_from_dict({"name": "res", "steps": [
        {"id": "alloc", "uses": "allocate"}, {"id": "spin", "uses": "spin", "needs": ["alloc"]},
    ]})
    engine = Engine(sqlite_store, actions={"allocate": allocate, "spin": spin},
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
    assert 300 <= cpu <= duration + 5  # CPU time never exceeds the wall-clock duration
    assert cpu >= 0.5 * duration  # close to it (equal on an idle machine)


def test_no_memory_figure_when_measurement_is_off(sqlite_store: Any) -> None:
    w = workflow_from_dict({"name": "res", "steps": [{"id": "alloc", "uses": "allocate"}]})
    engine = Engine(sqlite_store, actions={"allocate": allocate})
    try:
        assert engine.run(w, {}).ok
    finally:
        engine.close()
    row = WorkflowAnalyticsEngine(sqlite_store).get_step_statistics()[0]
    assert row["max_peak_memory_bytes"] is None
