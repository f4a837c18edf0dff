"""Diagnosis's failure contract in the store: fingerprints written when a failure is
recorded (in the attempt's transaction), a read path that writes nothing, the same
answers from SQL and memory, and migration 0007 filling the rows of older failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from flowscope.cli.main import app
from flowscope.diagnosis.failures import NoFailureSourceError, source_for
from flowscope.diagnosis.similar import error_groups
from flowscope.engine import Engine
from flowscope.engine.fingerprint import fingerprint_error, normalize_message
from flowscope.engine.records import ErrorInfo, FrameInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.errors import DiagnosisError, StoreError
from flowscope.filters import FailureFilter
from flowscope.model import workflow_from_dict
from flowscope.store import open_store
from flowscope.store import sql as sql_module
from flowscope.store.memory import MemoryStore
from flowscope.store.migrate import MIGRATIONS_DIR
from flowscope.store.schema import error_fingerprints, step_attempts
from flowscope.store.sql import SQLStore
from flowscope.store.testing import make_store, postgres_url, store_params


def ok() -> str:
    return "ok"


def refused() -> None:
    raise ConnectionRefusedError("connection refused by 10.0.0.7:5432")


def bad_key() -> None:
    raise KeyError("customer_17")


ACTIONS = {"ok": ok, "refused": refused, "bad_key": bad_key}
WF = {"name": "orders", "version": "3", "steps": [
    {"id": "start", "uses": "ok"},
    {"id": "call", "uses": "refused", "needs": ["start"],
     "retry": {"attempts": 2, "backoff": 0, "on": ["external_service"]}},
    {"id": "find", "uses": "bad_key", "needs": ["start"]},
]}


@pytest.fixture(params=store_params(("sqlite", "postgres")))
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    with make_store(request.param, tmp_path) as store:
        assert isinstance(store, SQLStore)
        yield store


def run_failing(store: Any) -> str:
    result = Engine(store, actions=ACTIONS).run(
        workflow_from_dict(WF), user="ana", tags={"type": "batch"})
    assert result.status is RunStatus.FAILED
    return result.id


def fingerprint_rows(store: SQLStore) -> list[sa.Row[Any]]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(error_fingerprints)
                                 .order_by(error_fingerprints.c.attempt_id)))


# -- written when recorded ----------------------------------------------------------------


def test_a_failed_step_has_its_fingerprint_row_right_after_the_run(sql_store: SQLStore) -> None:
    run_id = run_failing(sql_store)
    run = sql_store.get_run(run_id)
    # No diagnosis call yet: the rows must already be there.
    rows = fingerprint_rows(sql_store)
    with sql_store.engine.connect() as conn:
        failed_ids = list(conn.scalars(
            sa.select(step_attempts.c.id).where(step_attempts.c.status == "failed")
            .order_by(step_attempts.c.id)))
    assert [r.attempt_id for r in rows] == failed_ids
    failed = [a for a in sql_store.get_steps(run_id) if a.status is StepStatus.FAILED]
    assert sorted((a.step_id, a.attempt) for a in failed) == [
        ("call", 1), ("call", 2), ("find", 1)]
    by_key = {(r.step_id, r.attempt): r for r in rows}
    for a in failed:
        assert a.error is not None
        r = by_key[(a.step_id, a.attempt)]
        assert r.run_id == run_id and r.workflow == "orders" and r.version == "3"
        assert r.definition_hash == run.definition_hash
        assert r.user_id == "ana" and r.workflow_type == "batch"
        assert r.error_type == a.error.type and r.category == a.error.category
        assert r.fingerprint == fingerprint_error(a.error, "orders", a.step_id)
        assert r.normalized == normalize_message(a.error.message)
        assert r.is_cascade is False or r.is_cascade == 0
        assert r.ended_at == a.ended_at and a.ended_at is not None
        assert r.ended_at_epoch == pytest.approx(a.ended_at.timestamp())
    assert by_key[("call", 1)].fingerprint == by_key[("call", 2)].fingerprint


def _failed_attempt(run_id: str) -> StepAttemptRecord:
    now = datetime.now(UTC)
    return StepAttemptRecord(
        run_id=run_id, step_id="s", attempt=1, status=StepStatus.FAILED,
        error=ErrorInfo(type="ValueError", message="bad 42"), started_at=now, ended_at=now)


def _new_run(store: SQLStore, run_id: str) -> None:
    store.create_run(RunRecord(id=run_id, workflow="w", version="1", definition_hash="h",
                               status=RunStatus.RUNNING, created_at=datetime.now(UTC)))


def test_the_fingerprint_row_commits_with_the_attempt_or_not_at_all(
    sql_store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _new_run(sql_store, "r1")

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("no fingerprint today")

    monkeypatch.setattr(sql_module, "fingerprint_row", broken)
    with pytest.raises(RuntimeError, match="no fingerprint today"):
        sql_store.record_step(_failed_attempt("r1"))
    assert sql_store.get_steps("r1") == []  # the attempt's insert was rolled back too
    monkeypatch.undo()
    sql_store.record_step(_failed_attempt("r1"))
    assert [a.status for a in sql_store.get_steps("r1")] == [StepStatus.FAILED]
    assert [r.run_id for r in fingerprint_rows(sql_store)] == ["r1"]


def test_a_successful_step_writes_no_fingerprint_row(sql_store: SQLStore) -> None:
    result = Engine(sql_store, actions=ACTIONS).run(
        workflow_from_dict({"name": "fine", "steps": [{"id": "a", "uses": "ok"}]}))
    assert result.ok
    assert fingerprint_rows(sql_store) == []


# -- the read path writes nothing --------------------------------------------------------


def _read_only_twin(store: SQLStore, tmp_path: Path) -> SQLStore:
    """Another store on the same database through a connection that cannot write."""
    if store.engine.dialect.name == "sqlite":
        path = tmp_path / "flowscope.db"
        engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true",
                                  connect_args={"check_same_thread": False})
    else:
        url = postgres_url()
        assert url is not None
        with store.engine.connect() as conn:
            schema = conn.exec_driver_sql("SHOW search_path").scalar()
        engine = sa.create_engine(url, poolclass=NullPool, connect_args={
            "options": f"-csearch_path={schema} -cdefault_transaction_read_only=on"})
    return SQLStore(engine)


def test_the_failure_source_writes_nothing(sql_store: SQLStore, tmp_path: Path) -> None:
    run_failing(sql_store)
    run_failing(sql_store)
    reader = _read_only_twin(sql_store, tmp_path)
    try:
        with pytest.raises(StoreError):  # the connection really refuses writes
            _new_run(reader, "nope")
        source = source_for(reader)
        failures = source.failures(FailureFilter())
        assert sorted((f.step_id, f.attempt) for f in failures) == [
            ("call", 1), ("call", 1), ("call", 2), ("call", 2), ("find", 1), ("find", 1)]
        groups = error_groups(source, {"since": "1d"})
        assert sorted(g["count"] for g in groups) == [2, 4]
        assert source.step_sample("orders", "call", datetime(2000, 1, 1, tzinfo=UTC)) \
            .failures == 4
        assert source.first_success_after("orders", "start", None) is not None
    finally:
        reader.close()


def test_flowscope_errors_runs_on_a_read_only_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "flowscope.db"
    writer = open_store(str(db))
    try:
        run_failing(writer)
        assert isinstance(writer, SQLStore)
        reader = _read_only_twin(writer, tmp_path)
    finally:
        writer.close()
    # The command opens its store through this name; hand it the read-only one.
    monkeypatch.setattr("flowscope.cli.store.open_store", lambda url: reader)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["errors", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    groups = json.loads(result.output)
    assert sorted((g["step_id"], g["count"]) for g in groups) == [("call", 2), ("find", 1)]


def test_the_memory_source_reads_without_writing(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    run_failing(store)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the failure source wrote to the store")

    for name in ("create_run", "record_step", "update_run", "append_events", "mark_rewound"):
        monkeypatch.setattr(store, name, refuse)
    source = source_for(store)
    assert len(source.failures(FailureFilter())) == 3
    assert [g["count"] for g in error_groups(source, {})] == [2, 1]


# -- one contract, two implementations ---------------------------------------------------


def _shape(store: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (f.step_id, f.attempt, f.workflow, f.version, f.user, f.workflow_type, f.error_type,
         f.category, f.fingerprint, f.normalized, f.is_cascade)
        for f in source_for(store).failures(FailureFilter(include_cascade=True)))


@pytest.mark.parametrize("kind", [p for p in store_params(("sqlite", "postgres"))])
def test_sql_and_memory_give_the_same_failures(kind: str, tmp_path: Path) -> None:
    with make_store("memory", tmp_path) as memory, make_store(kind, tmp_path) as sql:
        run_failing(memory)
        run_failing(sql)
        assert _shape(sql) == _shape(memory)
        assert len(_shape(memory)) == 3


def test_a_store_without_the_contract_is_a_clear_error() -> None:
    class Bare:
        pass

    with pytest.raises(NoFailureSourceError, match="Bare cannot list past failures") as info:
        source_for(Bare())  # type: ignore[arg-type]
    assert isinstance(info.value, DiagnosisError)
    assert "failure_source()" in str(info.value)


# -- migration 0007: older failures get their rows once ----------------------------------

OLD_HEADS = ("0002_debugger", "0003_analytics", "0004_diagnosis", "0006_definitions")
OLD_ERROR = ErrorInfo(
    type="acme.OrderError", message="order A-17 failed after 3 tries", category="data",
    frames=(FrameInfo("/srv/app/orders.py", 10, "process", True),))


def _old_database(engine: sa.Engine) -> None:
    """A database at the heads before 0007, with failures recorded by the older code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    sqlite = engine.dialect.name == "sqlite"
    when = "2026-01-01T00:00:00.000000+00:00" if sqlite else datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        for head in OLD_HEADS:
            command.upgrade(config, head)
        conn.execute(sa.text(
            "INSERT INTO runs (id, workflow, version, definition_hash, status, inputs, vars, "
            "tags, user_id, workflow_type, created_at, created_at_epoch) VALUES ('run-old', "
            "'old', '1', 'hash-1', 'failed', '{}', '{}', '{}', 'bo', 'nightly', :t, 0)"),
            {"t": when})
        insert_attempt = sa.text(
            "INSERT INTO step_attempts (run_id, step_id, attempt, status, error, "
            "error_type, error_category, error_message, ended_at, ended_at_epoch, rewound, "
            "workflow, version, user_id, workflow_type) VALUES ('run-old', :step, 1, "
            ":status, :error, :type, :category, :message, :t, 1767225600.0, :no, 'old', '1', "
            "'bo', 'nightly')")
        no = 0 if sqlite else False
        conn.execute(insert_attempt, [
            {"step": "a", "status": "completed", "error": None, "type": None,
             "category": None, "message": None, "t": when, "no": no},
            {"step": "b", "status": "failed", "error": json.dumps(OLD_ERROR.to_dict()),
             "type": OLD_ERROR.type, "category": "data", "message": OLD_ERROR.message,
             "t": when, "no": no},
            # Older rows may lack the structured error: the flat columns are used.
            {"step": "c", "status": "failed", "error": None, "type": "KeyError",
             "category": "data", "message": "'k9'", "t": when, "no": no},
        ])


@pytest.fixture(params=store_params(("sqlite", "postgres")))
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    url = postgres_url()
    assert url is not None
    schema = f"flowscope_test_old_{tmp_path.name[-8:].replace('-', '_').lower()}"
    admin = sa.create_engine(url, poolclass=NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = sa.create_engine(url, poolclass=NullPool,
                              connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def test_migration_0007_fingerprints_failures_recorded_before_it(old_engine: sa.Engine) -> None:
    _old_database(old_engine)
    store = SQLStore(old_engine)  # applies 0007
    try:
        _check_backfill(store)
    finally:
        store.close()


def _check_backfill(store: SQLStore) -> None:
    with store.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(step_attempts.c.step_id, step_attempts.c.id)).all())
    rows = {r.step_id: r for r in fingerprint_rows(store)}
    assert sorted(rows) == ["b", "c"]  # the completed attempt has none
    b, c = rows["b"], rows["c"]
    assert (b.attempt_id, c.attempt_id) == (ids["b"], ids["c"])
    assert b.fingerprint == fingerprint_error(OLD_ERROR, "old", "b")
    assert b.normalized == "order <id> failed after <n> tries"
    assert (b.run_id, b.step_id, b.workflow, b.version, b.definition_hash, b.user_id,
            b.workflow_type, b.error_type, b.category) == (
        "run-old", "b", "old", "1", "hash-1", "bo", "nightly", "acme.OrderError", "data")
    assert b.ended_at == datetime(2026, 1, 1, tzinfo=UTC)
    flat = ErrorInfo(type="KeyError", message="'k9'", category="data")
    assert c.fingerprint == fingerprint_error(flat, "old", "c")
    # Diagnosis then finds them, and a new failure adds exactly its own row.
    assert len(source_for(store).failures(FailureFilter())) == 2
    _new_run(store, "r-new")
    store.record_step(_failed_attempt("r-new"))
    assert len(fingerprint_rows(store)) == 3
