"""Migrating a database that holds runs keeps every run, attempt and event."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from flowscope.engine import RunStatus
from flowscope.store import open_store
from flowscope.store.migrate import MIGRATIONS_DIR
from flowscope.store.open import sqlite_engine

OLD_HEADS = ("0002_debugger", "0003_analytics", "0004_diagnosis")
DEF = {"name": "old", "version": "1", "steps": [{"id": "a", "uses": "x:y"}]}


def _old_database(path: Path) -> None:
    engine = sqlite_engine(str(path))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        for head in OLD_HEADS:
            command.upgrade(config, head)
        for i in (1, 2):
            conn.exec_driver_sql(
                "INSERT INTO runs (id, workflow, version, definition_hash, status, definition, "
                "inputs, vars, tags, created_at, created_at_epoch) VALUES (?, 'old', '1', 'h', "
                "'completed', ?, '{}', '{}', '{}', '2026-01-01T00:00:00.000000+00:00', 0)",
                (f"run-old-{i}", json.dumps(DEF)))
            conn.exec_driver_sql(
                "INSERT INTO step_attempts (run_id, step_id, attempt, status, rewound, workflow, "
                "version) VALUES (?, 'a', 1, 'completed', 0, 'old', '1')", (f"run-old-{i}",))
            conn.exec_driver_sql(
                "INSERT INTO events (run_id, seq, kind, ts, payload) VALUES (?, 1, "
                "'run_completed', '2026-01-01T00:00:00.000000+00:00', '{}')", (f"run-old-{i}",))
    engine.dispose()


def test_old_runs_move_their_definition_to_one_shared_row(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    store = open_store(str(path))
    try:
        for i in (1, 2):
            run = store.get_run(f"run-old-{i}")
            assert run.definition == DEF and run.status is RunStatus.COMPLETED
            assert [a.step_id for a in store.get_steps(run.id)] == ["a"]
            assert [e.seq for e in store.get_events(run.id)] == [1]
    finally:
        store.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM definitions").scalar() == 1
        columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    engine.dispose()
    assert "definition" not in columns and "definition_key" in columns
