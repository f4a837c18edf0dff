"""SQL-only behaviour: columns for analytics, stored time format, threads, processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowscope.engine.events import Log
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.store import SQLStore, open_store
from flowscope.store.schema import events, runs, step_attempts
from flowscope.store.testing import make_store, store_params

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(params=store_params(("sqlite", "postgres")))
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    with make_store(request.param, tmp_path) as store:
        assert isinstance(store, SQLStore)
        yield store


def add_run(store: SQLStore, run_id: str = "run-1", **changes: object) -> None:
    fields: dict[str, object] = {
        "id": run_id, "workflow": "orders", "version": "2", "definition_hash": "h",
        "status": RunStatus.RUNNING, "user": "ada", "tags": {"type": "billing"},
        "created_at": T0,
    }
    fields.update(changes)
    store.create_run(RunRecord(**fields))  # type: ignore[arg-type]


def test_attempts_carry_the_runs_filter_columns(sql_store: SQLStore) -> None:
    add_run(sql_store)
    sql_store.record_step(StepAttemptRecord(
        run_id="run-1", step_id="a", attempt=1, status=StepStatus.FAILED,
        error=ErrorInfo(type="ValueError", message="bad", category="data"),
        started_at=T0, ended_at=T0 + timedelta(seconds=2), duration_ms=2000.0,
        queue_wait_ms=5.0, cpu_time_ms=3.0, peak_memory_bytes=1024))
    s = step_attempts.c
    with sql_store.engine.connect() as conn:
        row = conn.execute(sa.select(
            s.workflow, s.version, s.user_id, s.workflow_type, s.error_type, s.error_category,
            s.error_message, s.started_at_epoch, s.ended_at_epoch)).one()
        total = conn.execute(sa.select(
            sa.func.sum(s.duration_ms + s.queue_wait_ms + s.cpu_time_ms),
            sa.func.max(s.peak_memory_bytes))).one()
    assert tuple(row) == ("orders", "2", "ada", "billing", "ValueError", "data", "bad",
                          T0.timestamp(), T0.timestamp() + 2)
    assert tuple(total) == (2008.0, 1024)


def test_run_columns_for_analytics(sql_store: SQLStore) -> None:
    add_run(sql_store)
    sql_store.update_run("run-1", status=RunStatus.RUNNING, started_at=T0)
    sql_store.update_run("run-1", status=RunStatus.FAILED, ended_at=T0 + timedelta(seconds=90),
                         error=ErrorInfo(type="E", message="m", category="timeout"))
    r = runs.c
    with sql_store.engine.connect() as conn:
        row = conn.execute(sa.select(
            r.workflow_type, r.error_category, r.duration_ms, r.created_at_epoch,
            r.ended_at_epoch, sa.func.floor(r.ended_at_epoch / 3600) * 3600)).one()
    assert tuple(row) == ("billing", "timeout", 90000.0, T0.timestamp(),
                          T0.timestamp() + 90, T0.timestamp())


def test_time_range_filters_in_sql_use_aware_datetimes(sql_store: SQLStore) -> None:
    for i in range(5):
        add_run(sql_store, f"run-{i}", created_at=T0 + timedelta(minutes=i))
    r = runs.c
    with sql_store.engine.connect() as conn:
        found = conn.execute(
            sa.select(r.id, r.created_at)
            .where(r.created_at >= T0 + timedelta(minutes=1),
                   r.created_at < T0 + timedelta(minutes=3))
            .order_by(r.created_at)).all()
    assert [row.id for row in found] == ["run-1", "run-2"]
    assert all(row.created_at.tzinfo == UTC for row in found)


def test_sqlite_stores_fixed_width_utc_text(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with open_store(str(path)) as store:
        assert isinstance(store, SQLStore)
        add_run(store, created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
        store.append_events([Log(run_id="run-1", seq=1, ts=datetime(2025, 1, 2, tzinfo=UTC),
                                 message="hello")])
    db = sqlite3.connect(path)
    assert db.execute("SELECT created_at FROM runs").fetchone() == (
        "2025-01-02T03:04:05.000000+00:00",)
    # Payload fields at their default (``source: engine``) are not written: they read
    # back the same.
    assert db.execute("SELECT ts, payload FROM events").fetchone() == (
        "2025-01-02T00:00:00.000000+00:00", '{"message":"hello"}')
    # SQLite's own date functions read the stored text.
    assert db.execute("SELECT strftime('%Y-%m-%d %H', created_at) FROM runs").fetchone() == (
        "2025-01-02 03",)


def test_schema_tables_are_exposed(sql_store: SQLStore) -> None:
    assert sql_store.schema.runs is runs
    assert sql_store.schema.step_attempts is step_attempts
    assert sql_store.schema.events is events


def test_sqlite_writers_and_readers_on_several_threads(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "x.db")) as store:
        assert isinstance(store, SQLStore)
        add_run(store)
        errors: list[BaseException] = []
        per_thread = 60

        def writer(name: str) -> None:
            try:
                for i in range(per_thread):
                    store.record_step(StepAttemptRecord(
                        run_id="run-1", step_id=f"{name}-{i}", attempt=1,
                        status=StepStatus.COMPLETED, output={"i": i}))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def reader() -> None:
            try:
                for _ in range(per_thread):
                    steps = store.get_steps("run-1")
                    assert all(s.output == {"i": int(s.step_id.split("-")[1])} for s in steps)
                    store.list_runs()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
        threads.append(threading.Thread(target=reader))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(store.get_steps("run-1")) == 2 * per_thread


def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    with open_store(path) as first, open_store(path) as second:
        assert isinstance(first, SQLStore) and isinstance(second, SQLStore)
        add_run(first)
        second.record_step(StepAttemptRecord(run_id="run-1", step_id="a", attempt=1,
                                             status=StepStatus.COMPLETED))
        assert [s.step_id for s in first.get_steps("run-1")] == ["a"]
