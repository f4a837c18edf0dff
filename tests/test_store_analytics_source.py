"""The analytics contract (``store.analytics_source()``) on every store.

Each store answers analytics through its own implementation of
:class:`flowscope.analytics.source.AnalyticsSource`; the memory store computes in Python
what the SQL stores compute in SQL, so the same runs must give the same answers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowscope.analytics import anomalies, export, queries, series
from flowscope.analytics.source import AnalyticsSource
from flowscope.compat import WorkflowAnalyticsEngine
from flowscope.engine.records import RunRecord
from flowscope.engine.status import RunStatus
from flowscope.errors import AnalyticsError
from flowscope.filters import Filters
from flowscope.store.analytics_query import Bucket, Scope
from flowscope.store.testing import make_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _track_history(store: Any, seed: int = 7, runs: int = 60) -> None:
    """Track the same varied history into ``store``: workflows, users, types, retries,
    failures, skipped steps, over several days."""
    rng = random.Random(seed)
    a = WorkflowAnalyticsEngine(store)
    for i in range(runs):
        wf = rng.choice(("orders", "billing", "etl"))
        run_id = f"{wf}-{i}"
        start = T0 + timedelta(hours=rng.randrange(0, 96), milliseconds=rng.randrange(1000))
        a.track_workflow_start(wf, run_id, user_id=rng.choice(("ann", "bob", None)),
                               workflow_type=rng.choice(("batch", "api", None)),
                               timestamp=start, metadata={"version": rng.choice("12")})
        at = start
        failed = rng.random() < 0.2
        for step in ("fetch", "score", "load"):
            attempts = 2 if rng.random() < 0.2 else 1
            for n in range(1, attempts + 1):
                took = rng.lognormvariate(4, 1)
                at += timedelta(milliseconds=took)
                bad = n < attempts or (failed and step == "score")
                a.track_step_execution(wf, run_id, step, status="failed" if bad else "completed",
                                       duration_ms=took, attempt=n, timestamp=at,
                                       error="boom" if bad else None)
            if failed and step == "score":
                a.track_step_execution(wf, run_id, "load", status="skipped", attempt=0,
                                       timestamp=at)
                break
        if failed:
            a.track_workflow_failure(wf, run_id, error="boom", failed_step="score",
                                     timestamp=at)
        elif rng.random() < 0.9:  # a few stay running
            a.track_workflow_complete(wf, run_id, duration_ms=(at - start) / timedelta(
                milliseconds=1), timestamp=at)
    a.track_memory_usage("orders", "orders-0", 64.0)
    a.track_memory_usage("orders", "orders-0", 32.0)
    a.record_concurrent_executions(3, timestamp=T0 + timedelta(hours=5))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(_same(x, y) for x, y in zip(left, right,
                                                                          strict=True))
    return bool(left == right)


# -- the contract on every store ---------------------------------------------------------


def test_every_store_hands_out_an_analytics_source(store: Any) -> None:
    source = store.analytics_source()
    assert isinstance(source, AnalyticsSource)
    empty = source.group_stats(Scope("runs"), measures=("rows", "status:completed"))
    assert len(empty) == 1
    assert empty[0].key == () and empty[0].count == 0 and empty[0].mean is None
    assert empty[0].percentiles == (None, None, None)
    assert source.extent(Scope("runs"), "created_at", count=True) == (0, None, None)
    assert source.extent(Scope("runs"), "begun_at", "ended_at") == (None, None, None)
    assert list(source.records(Scope("steps"), ["step_id"])) == []
    assert source.run_state("nope") is None


def test_the_contract_answers_on_every_store(store: Any) -> None:
    _track_history(store, runs=20)
    source = store.analytics_source()
    steps = source.group_stats(Scope("steps", executed=True), groups=("workflow", "step_id"),
                               measures=("rows", "status:failed", "retries"))
    assert steps == sorted(steps, key=lambda g: g.key)
    for g in steps:
        assert g.count == g.extras["rows"] >= 1
        assert g.minimum is not None and g.maximum is not None
        assert g.minimum <= g.percentiles[0] <= g.percentiles[1] <= g.maximum  # type: ignore[operator]
    hours = source.group_stats(Scope("runs", finished=True),
                               bucket=Bucket("ended_at", 3600.0), value=None)
    assert sum(g.count for g in hours) == queries.summary(store, Filters())["finished"]
    state = source.run_state("orders-0") or source.run_state("billing-0") or source.run_state(
        "etl-0")
    assert state is not None and state.workflow in ("orders", "billing", "etl")
    assert source.resource_summary("orders-0").get("memory_mb", {"max": 64.0})["max"] == 64.0


def test_tracked_runs_use_the_run_state_machine(store: Any) -> None:
    # A paused engine run is not finished behind the engine's back (a raw UPDATE once did).
    store.create_run(RunRecord(id="p1", workflow="w", version="1", definition_hash="h",
                               status=RunStatus.PAUSED, created_at=T0, started_at=T0))
    a = WorkflowAnalyticsEngine(store)
    with pytest.raises(AnalyticsError, match="is paused; it cannot become completed"):
        a.track_workflow_complete("w", "p1", duration_ms=5.0)
    assert store.get_run("p1").status is RunStatus.PAUSED


def test_finishing_a_tracked_run_goes_through_update_run(sqlite_store: Any) -> None:
    calls: list[tuple[str, RunStatus]] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqlite_store, name)

        def update_run(self, run_id: str, **kwargs: Any) -> None:
            calls.append((run_id, kwargs["status"]))
            sqlite_store.update_run(run_id, **kwargs)

    a = WorkflowAnalyticsEngine(Spy())
    a.track_workflow_start("w", "r1", timestamp=T0)
    a.track_workflow_complete("w", "r1", duration_ms=42.0)
    assert calls == [("r1", RunStatus.COMPLETED)]
    assert a.calculate_average_duration("w") == 42.0


# -- memory and SQLite agree ---------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    with make_store("memory", tmp_path) as memory, make_store("sqlite", tmp_path) as sqlite:
        _track_history(memory)
        _track_history(sqlite)
        yield memory, sqlite


_WINDOW = Filters(since=T0 + timedelta(hours=72), until=T0 + timedelta(hours=96))
_QUERIES: dict[str, Any] = {
    "summary": lambda s: queries.summary(s, Filters()),
    "summary_window": lambda s: queries.summary(s, _WINDOW),
    "by_user": lambda s: queries.by_user(s, Filters()),
    "by_type": lambda s: queries.by_type(s, Filters(workflow="orders")),
    "steps": lambda s: queries.step_statistics(s, Filters(), resources=True),
    "failed_steps": lambda s: queries.step_statistics(s, Filters(status="failed")),
    "slowest": lambda s: queries.leaderboard(s, Filters(), "slowest"),
    "retried": lambda s: queries.leaderboard(s, Filters(), "retried"),
    "most_failed": lambda s: queries.leaderboard(s, Filters(version="1"), "failed"),
    "p90_runs": lambda s: queries.percentile_duration(s, Filters(user="ann"), 0.9),
    "p75_step": lambda s: queries.percentile_duration(s, Filters(), 0.75, step_id="score"),
    "step_durations": lambda s: queries.step_durations(s, Filters(), "load"),
    "trends": lambda s: series.trends(s, Filters(), "6h"),
    "trends_typed": lambda s: series.trends(s, Filters(type="api"), "1d"),
    "throughput": lambda s: series.throughput(s, Filters()),
    "compare": lambda s: series.compare(s, _WINDOW),
    "anomalies": lambda s: anomalies.anomalies(s, _WINDOW, baseline_periods=3,
                                               threshold=2.0, min_samples=3),
    "runs": lambda s: list(export.stream_records(s, "runs", Filters())[1]),
    "attempts": lambda s: list(export.stream_records(s, "steps", _WINDOW)[1]),
    "resources": lambda s: WorkflowAnalyticsEngine(s).get_resource_usage("orders-0"),
}


@pytest.mark.parametrize("name", list(_QUERIES))
def test_memory_and_sqlite_give_the_same_answers(pair: tuple[Any, Any], name: str) -> None:
    memory, sqlite = pair
    got, expected = _QUERIES[name](memory), _QUERIES[name](sqlite)
    if name == "attempts":
        # The row id is each store's own numbering, and memory lists attempts run by run
        # (SQL: in global record order); each run's attempts keep their order on both.
        def by_run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(({k: v for k, v in r.items() if k != "id"} for r in rows),
                          key=lambda r: r["run_id"])
        got, expected = by_run(got), by_run(expected)
    assert _same(got, expected), f"{name}:\nmemory {got!r:.2000}\nsqlite {expected!r:.2000}"
    assert expected not in (None, [], {})


def test_memory_and_sqlite_give_the_same_concurrency(pair: tuple[Any, Any]) -> None:
    memory, sqlite = pair
    window = Filters(since=T0, until=T0 + timedelta(days=4))
    got, expected = series.concurrency(memory, window, "1h"), series.concurrency(
        sqlite, window, "1h")
    assert _same(got, expected)
    assert max(b["max_runs"] for b in expected) >= 1
    assert expected[5]["reported_max"] == 3
