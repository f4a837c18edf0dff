"""Analytics queries: engine runs, time-range edges, empty cases, bad input, series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowscope.analytics import AnalyticsTracker
from flowscope.compat import WorkflowAnalyticsEngine
from flowscope.engine import Engine
from flowscope.errors import AnalyticsError
from flowscope.model import workflow_from_dict
from flowscope.store.testing import make_store, store_params

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=store_params())
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with make_store(request.param, tmp_path) as store:
        yield store


def test_engine_runs_show_up_with_retries_and_failures(sql_store: Any) -> None:
    calls = {"n": 0}

    def flaky() -> int:
        calls["n"] += 1
        if calls["n"] % 2 == 1:
            raise ConnectionError("try again")
        return 1

    def bad() -> None:
        raise ValueError("bad data")

    ok = workflow_from_dict({"name": "ok", "steps": [
        {"id": "a", "uses": "one"},
        {"id": "b", "uses": "flaky", "needs": ["a"], "retry": {"attempts": 3, "backoff": 0}},
    ]})
    broken = workflow_from_dict({"name": "broken", "steps": [
        {"id": "a", "uses": "one"}, {"id": "x", "uses": "bad", "needs": ["a"]},
        {"id": "after", "uses": "one", "needs": ["x"]},
    ]})
    tracker = AnalyticsTracker()
    engine = Engine(sql_store, actions={"one": lambda: 1, "flaky": flaky, "bad": bad},
                    hooks=[tracker])
    try:
        for _ in range(3):
            assert engine.run(ok, {}, user="ann", tags={"type": "etl"}).ok
        assert not engine.run(broken, {}, user="bob").ok
    finally:
        engine.close()
    a = WorkflowAnalyticsEngine(sql_store)
    stats = a.get_workflow_statistics()
    assert (stats["total"], stats["completed"], stats["failed"]) == (4, 3, 1)
    assert stats["success_rate"] == 0.75 and stats["error_rate"] == 0.25
    assert stats["success_after_retry_rate"] == 0.75  # every ok run retried b once
    steps = {(r["workflow_id"], r["step_id"]): r for r in a.get_step_statistics()}
    assert steps[("ok", "b")]["executions"] == 6 and steps[("ok", "b")]["failures"] == 3
    assert steps[("ok", "b")]["retries"] == 3 and steps[("ok", "b")]["failure_rate"] == 0.5
    assert steps[("broken", "x")]["failures"] == 1
    assert ("broken", "after") not in steps  # skipped: not an execution
    assert steps[("ok", "a")]["avg_cpu_time_ms"] is not None
    failed = a.get_most_failed_steps()
    assert [(r["workflow_id"], r["step_id"]) for r in failed] == [("ok", "b"), ("broken", "x")]
    retried = a.get_most_retried_steps()
    assert [(r["step_id"], r["retries"]) for r in retried] == [("b", 3)]
    assert len(a.get_slowest_steps(limit=2)) == 2
    assert a.get_slowest_steps(by="mean")[0]["avg_duration_ms"] >= 0
    assert a.aggregate_by_workflow_type()["etl"]["total"] == 3
    users = {u["user_id"]: u for u in a.get_user_analytics()}  # type: ignore[union-attr]
    assert users["ann"]["completed"] == 3 and users["bob"]["failed"] == 1
    assert a.get_user_analytics("bob")["total"] == 1  # type: ignore[call-overload]
    snap = tracker.snapshot()
    assert snap["runs_in_flight"] == 0 and snap["runs_finished"] == {"completed": 3, "failed": 1}
    conc = a.get_concurrency("1h")
    assert max(b["max_runs"] for b in conc) >= 1 and max(b["max_steps"] for b in conc) >= 1
    assert a.calculate_throughput() > 0


def test_time_range_is_inclusive_start_exclusive_end(sql_store: Any) -> None:
    a = WorkflowAnalyticsEngine(sql_store)
    for i in range(3):
        a.track_workflow_start("w", f"r{i}", timestamp=T0 + timedelta(hours=i))
        a.track_workflow_complete("w", f"r{i}", duration_ms=10.0 * (i + 1))
    one_hour = T0 + timedelta(hours=1)
    rows = a.filter_by_time_range(T0, one_hour)
    assert [r["id"] for r in rows] == ["r0"]
    assert a.get_workflow_statistics(since=one_hour)["total"] == 2
    assert a.get_workflow_statistics(until=one_hour)["total"] == 1
    assert a.get_workflow_statistics(since=one_hour, until=one_hour)["total"] == 0
    assert a.calculate_average_duration("w", since=one_hour) == 25.0


def test_empty_and_single_sample(sql_store: Any) -> None:
    a = WorkflowAnalyticsEngine(sql_store)
    empty = a.get_workflow_statistics("nope")
    assert empty["total"] == 0
    for key in ("success_rate", "error_rate", "avg_duration_ms", "p99_duration_ms",
                "min_duration_ms"):
        assert empty[key] is None
    assert a.get_step_statistics("nope") == [] and a.get_most_failed_steps() == []
    assert a.calculate_percentile_duration(50, "nope") is None
    assert a.calculate_throughput("nope") == 0.0
    assert a.get_execution_trends("1h", workflow="nope") == []
    a.track_workflow_start("w", "only", timestamp=T0)
    assert a.get_workflow_statistics("w")["running"] == 1
    a.track_workflow_complete("w", "only", duration_ms=42.0)
    for q in (0, 37.5, 100):
        assert a.calculate_percentile_duration(q, "w") == 42.0


def test_trends_keep_empty_buckets_and_count_started(sql_store: Any) -> None:
    a = WorkflowAnalyticsEngine(sql_store)
    a.track_workflow_start("w", "r1", timestamp=T0 + timedelta(minutes=1))
    a.track_workflow_complete("w", "r1", timestamp=T0 + timedelta(minutes=2))
    a.track_workflow_start("w", "r2", timestamp=T0 + timedelta(minutes=14))
    a.track_workflow_failure("w", "r2", error="boom", timestamp=T0 + timedelta(minutes=16))
    rows = a.get_execution_trends("5m", since=T0, until=T0 + timedelta(minutes=20))
    assert [r["bucket_start"].minute for r in rows] == [0, 5, 10, 15]
    assert [r["started"] for r in rows] == [1, 0, 1, 0]
    assert [(r["completed"], r["failed"]) for r in rows] == [(1, 0), (0, 0), (0, 0), (0, 1)]
    assert rows[1]["p95_duration_ms"] is None
    assert rows[3]["avg_duration_ms"] == pytest.approx(120_000.0)
    week = a.get_execution_trends("1w")
    assert week[0]["bucket_start"].weekday() == 0  # weeks start on Monday


def test_compare_periods_and_anomalies(sql_store: Any) -> None:
    a = WorkflowAnalyticsEngine(sql_store)
    n = 0
    for day in range(8):
        for k in range(6):
            n += 1
            start = T0 + timedelta(days=day, hours=k)
            slow = day == 7 and k == 0
            a.track_workflow_start("w", f"r{n}", timestamp=start)
            a.track_step_execution("w", f"r{n}", "s", duration_ms=5000.0 if slow else 100.0 + k,
                                   timestamp=start + timedelta(seconds=10))
            a.track_workflow_complete("w", f"r{n}", duration_ms=9000.0 if slow else 200.0 + k)
    since, until = T0 + timedelta(days=7), T0 + timedelta(days=8)
    cmp = a.compare_periods("total", since=since, until=until)
    assert (cmp["current"], cmp["previous"], cmp["change"]) == (6, 6, 0)
    cmp = a.compare_periods("max_duration_ms", since=since, until=until)
    assert cmp["change"] == 9000.0 - 205.0
    assert cmp["relative_change"] == pytest.approx((9000.0 - 205.0) / 205.0)
    found = a.detect_anomalies(since=since, until=until)
    kinds = {(x["kind"], x["run_id"]) for x in found}
    assert kinds == {("run_duration", "r43"), ("step_duration", "r43")}
    assert all(x["score"] > 3.5 and x["departure"] > 0 for x in found)


def test_bad_input_is_refused_clearly(sql_store: Any) -> None:
    a = WorkflowAnalyticsEngine(sql_store)
    with pytest.raises(AnalyticsError, match="naive"):
        a.get_workflow_statistics(since=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="outside"):
        a.calculate_percentile_duration(101)
    with pytest.raises(AnalyticsError, match="outside"):
        a.calculate_percentile_duration(-1)
    with pytest.raises(AnalyticsError, match="unknown bucket"):
        a.get_execution_trends("7x")
    with pytest.raises(AnalyticsError, match="unknown filter"):
        a.get_workflow_statistics(colour="red")
    with pytest.raises(AnalyticsError, match="unknown status"):
        a.get_workflow_statistics(status="weird")
    with pytest.raises(AnalyticsError, match="track_workflow_start"):
        a.track_workflow_complete("w", "missing")
    with pytest.raises(AnalyticsError, match="limit"):
        a.get_slowest_steps(limit=0)
    with pytest.raises(AnalyticsError, match="by"):
        a.get_slowest_steps(by="fastest")
    a.track_workflow_start("w", "r")
    with pytest.raises(AnalyticsError, match="already tracked"):
        a.track_workflow_start("w", "r")
    with pytest.raises(AnalyticsError, match="belongs to workflow"):
        a.track_step_execution("other", "r", "s", duration_ms=1)
    with pytest.raises(AnalyticsError, match="duration_ms"):
        a.track_step_execution("w", "r", "s", duration_ms=-1)
    a.track_workflow_complete("w", "r")
    with pytest.raises(AnalyticsError, match="already finished"):
        a.track_workflow_failure("w", "r")
    with pytest.raises(AnalyticsError, match="since and until"):
        a.compare_periods("total")


@pytest.mark.parametrize("which", ["memory-sqlite", "memory-store"])
def test_memory_store_and_memory_analytics_work(which: str) -> None:
    from flowscope.store import open_store

    # The engine's dict MemoryStore is no longer refused: it answers like the SQL stores.
    store = "memory" if which == "memory-sqlite" else open_store("memory")
    with WorkflowAnalyticsEngine(store) as a:
        a.record_execution_time("w", "r1", 120.0)
        a.record_step_timing("w", "r1", "s", 10.0)
        a.record_step_duration("w", "r1", "s", 30.0)
        a.track_memory_usage("w", "r1", 64.0, step_id="s")
        a.track_cpu_usage("w", "r1", 50.0)
        a.record_concurrent_executions(4)
        assert a.get_workflow_statistics("w")["avg_duration_ms"] == 120.0
        assert a.get_step_statistics("w")[0]["avg_duration_ms"] == 20.0
        assert a.get_resource_usage("r1")["memory_mb"]["max"] == 64.0
        assert a.get_concurrency("1h")[0]["reported_max"] == 4


def test_get_analytics_engine_is_one_per_process(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from flowscope.compat import analytics as facade

    monkeypatch.setenv("FLOWSCOPE_DB", str(tmp_path / "default.db"))
    monkeypatch.setattr(facade, "_SINGLETON", {})
    first = facade.get_analytics_engine()
    try:
        assert facade.get_analytics_engine() is first
        assert first.store.url.endswith("default.db")
    finally:
        first.close()
