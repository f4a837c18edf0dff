"""Exports: CSV and JSON round-trips, streaming, bad arguments; the CLI end to end."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flowscope.analytics.export import RUN_COLUMNS, STEP_COLUMNS, write_rows
from flowscope.cli.main import app
from flowscope.compat import WorkflowAnalyticsEngine
from flowscope.errors import AnalyticsError
from flowscope.store import open_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def fill(a: WorkflowAnalyticsEngine, n: int = 5) -> None:
    for i in range(n):
        a.track_workflow_start("w", f"r{i}", user_id="ann", workflow_type="etl",
                               timestamp=T0 + timedelta(minutes=i))
        a.track_step_execution("w", f"r{i}", "s", duration_ms=10.0 + i,
                               status="failed" if i == 2 else "completed",
                               error="bad" if i == 2 else None,
                               timestamp=T0 + timedelta(minutes=i, seconds=1))
        if i == 2:
            a.track_workflow_failure("w", f"r{i}", error=ValueError("x"), failed_step="s",
                                     duration_ms=102.0)
        else:
            a.track_workflow_complete("w", f"r{i}", duration_ms=100.0 + i)


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@pytest.mark.parametrize("what", ["runs", "steps"])
def test_csv_round_trip(sqlite_store: Any, tmp_path: Path, what: str) -> None:
    a = WorkflowAnalyticsEngine(sqlite_store)
    fill(a)
    path = tmp_path / "out.csv"
    assert a.export_to_csv(path, what=what) == 5
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = RUN_COLUMNS if what == "runs" else STEP_COLUMNS
    assert list(rows[0]) == list(columns)
    from flowscope.analytics.export import stream_records
    from flowscope.analytics.filters import Filters

    _, expected = stream_records(sqlite_store, what, Filters())
    assert rows == [{k: as_text(v) for k, v in row.items()} for row in expected]


def test_json_round_trip_and_filters(sqlite_store: Any, tmp_path: Path) -> None:
    a = WorkflowAnalyticsEngine(sqlite_store)
    fill(a)
    path = tmp_path / "out.json"
    assert a.export_to_json(path, what="runs", status="failed") == 1
    data = json.loads(path.read_text())
    assert isinstance(data, list) and data[0]["id"] == "r2" and data[0]["status"] == "failed"
    assert data[0]["tags"] == {"source": "tracked", "type": "etl"}
    assert datetime.fromisoformat(data[0]["created_at"]) == T0 + timedelta(minutes=2)
    buffer = io.StringIO()
    assert a.export_to_json(buffer, what="steps", workflow="nope") == 0
    assert json.loads(buffer.getvalue()) == []
    with pytest.raises(AnalyticsError, match="cannot export"):
        a.export_to_csv(tmp_path / "x.csv", what="events")
    with pytest.raises(AnalyticsError, match="cannot write"):
        a.export_to_csv(tmp_path / "missing" / "x.csv")


def test_write_rows_is_lazy() -> None:
    consumed = []

    def rows() -> Any:
        for i in range(3):
            consumed.append(i)
            yield {"i": i, "when": T0}

    out = io.StringIO()
    assert write_rows(rows(), out, "csv") == 3
    assert out.getvalue().splitlines()[0] == "i,when"


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_end_to_end(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    store = open_store(db)
    try:
        fill(WorkflowAnalyticsEngine(store))
    finally:
        store.close()
    result = run_cli("stats", "--db", db, "--workflow", "w", "--format", "json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)[0]
    assert stats["total"] == 5 and stats["failed"] == 1
    result = run_cli("stats", "--db", db, "--by", "step", "--format", "csv")
    assert result.exit_code == 0 and result.output.splitlines()[0].startswith("workflow_id,step_id")
    result = run_cli("stats", "--db", db, "--by", "user")
    assert result.exit_code == 0 and "ann" in result.output
    result = run_cli("top", "failed", "--db", db, "--format", "json")
    assert json.loads(result.output)[0]["step_id"] == "s"
    result = run_cli("trends", "--db", db, "--bucket", "1h", "--since", "2026-03-01",
                     "--until", "2026-03-01T03:00:00Z", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [b["finished"] for b in json.loads(result.output)] == [5, 0, 0]
    out = tmp_path / "steps.csv"
    result = run_cli("export", "--db", db, "--what", "steps", "--format", "csv", "-o", str(out))
    assert result.exit_code == 0 and "wrote 5 steps" in result.output
    assert len(out.read_text().splitlines()) == 6


@pytest.mark.parametrize("args", [
    ["trends", "--bucket", "7x"],
    ["top", "fastest"],
    ["stats", "--by", "colour"],
    ["stats", "--since", "yesterday"],
    ["stats", "--until", "soon"],
    ["stats", "--format", "xml"],
    ["stats", "--status", "weird"],
    ["export", "--what", "events", "-o", "x.csv"],
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    if "--db" not in args:
        args = [*args, "--db", str(tmp_path / "cli.db")]
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "error" in result.output


def test_cli_stats_on_the_memory_store_works() -> None:
    # Once refused (analytics needed SQL); every store now answers through its source.
    result = run_cli("stats", "--db", "memory")
    assert result.exit_code == 0, result.output
    assert "total" in result.output
