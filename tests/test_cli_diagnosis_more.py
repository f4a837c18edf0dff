"""``flowscope why``, ``flowscope errors`` and ``flowscope report-error`` end to end.

Runs are recorded in a SQLite file by a real engine; the commands are driven through
typer's runner and the tests read what a user would see.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from flowscope.cli.main import app
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict
from flowscope.store import open_store


def ok() -> str:
    return "ok"


_LOOKUP_FAILED = threading.Event()


def lookup(fail: bool = False) -> str:
    if fail:
        _LOOKUP_FAILED.set()  # just before it raises: its failure is recorded first
        raise KeyError("customer_id")
    return "found"


def refused() -> None:
    # Fails after `lookup` (the later, independent failure): ordered by an event, with a
    # short margin for lookup's record to commit, not by a sleep racing lookup's start.
    _LOOKUP_FAILED.wait(10)
    time.sleep(0.01)
    _LOOKUP_FAILED.clear()
    raise ConnectionRefusedError("connection refused by 10.0.0.7:5432")


def tight() -> None:
    time.sleep(0.25)


ACTIONS = {"ok": ok, "lookup": lookup, "refused": refused, "tight": tight}

FAN = {"name": "orders", "inputs": {"fail": {"type": "boolean"}}, "steps": [
    {"id": "start", "uses": "ok"},
    {"id": "find", "uses": "lookup", "needs": ["start"], "with": {"fail": "${{ inputs.fail }}"}},
    {"id": "call", "uses": "refused", "needs": ["start"]},
    {"id": "join", "uses": "ok", "needs": ["find", "call"]},
]}
SOLO = {"name": "orders", "inputs": {"fail": {"type": "boolean"}}, "steps": [
    {"id": "find", "uses": "lookup", "with": {"fail": "${{ inputs.fail }}"}}]}
SLOW = {"name": "billing", "steps": [{"id": "charge", "uses": "tight", "timeout": 0.1}]}


def record(db: str, definition: dict[str, Any], inputs: dict[str, Any] | None = None) -> str:
    store = open_store(db)
    try:
        run = Engine(store, actions=ACTIONS).run(workflow_from_dict(definition), inputs or {})
        return run.id
    finally:
        store.close()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("FLOWSCOPE_DB", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: keep rows on one line
    return str(tmp_path / "runs.db")


def assert_usage_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    assert fragment in result.output, result.output
    assert "Traceback" not in result.output


# -- why --------------------------------------------------------------------------------


def test_why_shows_root_cause_cascade_independent_failure_and_similar(db: str) -> None:
    earlier = record(db, SOLO, {"fail": True})
    fixed = record(db, SOLO, {"fail": False})  # the same step completed afterwards
    _LOOKUP_FAILED.clear()  # the SOLO runs above failed lookup too
    run_id = record(db, FAN, {"fail": True})
    result = invoke("why", run_id, "--db", db)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Run {run_id}" in out
    assert f"Root cause: orders.find (run {run_id})" in out
    assert "KeyError (data): 'customer_id'" in out
    assert f"Independent failure: orders.call (run {run_id})" in out
    cascade = out.split("Cascade", 1)[1].split("Similar errors", 1)[0]
    assert "join" in cascade and "skipped" in cascade
    similar = out.split("Similar errors", 1)[1].split("Suggestions:", 1)[0]
    assert "orders.find" in similar
    assert f"yes, run {fixed} (same version)" in similar
    assert earlier not in out.split("Suggestions:", 1)[1]
    assert "• Fix the offending input (or make the step accept it)" in out
    assert "why: KeyError: 'customer_id'" in out


def test_why_prints_the_proposed_change_and_says_when_nothing_is_similar(db: str) -> None:
    run_id = record(db, SLOW)
    result = invoke("why", run_id, "--db", db)
    assert result.exit_code == 0, result.output
    assert "No similar errors in past runs." in result.output
    assert "Cascade" not in result.output and "Independent failure" not in result.output
    assert "• Raise the step's timeout" in result.output
    assert "try: timeout: 0.2" in result.output  # 1.5 x a p99 of about 0.1 s, rounded up
    assert "try: retry: {attempts: 3, on: [timeout]}" in result.output


def test_why_json_is_the_diagnosis(db: str) -> None:
    run_id = record(db, SLOW)
    result = invoke("why", run_id, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["run_id"] == run_id and data["category"] == "timeout"
    assert data["root_cause"] == {"run_id": run_id, "step_id": "charge", "workflow": "billing"}
    assert [s["title"] for s in data["suggestions"]] == ["Raise the step's timeout",
                                                         "Retry timeouts"]


def test_why_refuses_a_run_that_did_not_fail(db: str) -> None:
    run_id = record(db, SOLO, {"fail": False})
    assert_usage_error(invoke("why", run_id, "--db", db), "no failure to diagnose")


# -- errors -----------------------------------------------------------------------------


def test_errors_groups_by_fingerprint_and_filters_by_workflow(db: str) -> None:
    record(db, SOLO, {"fail": True})
    record(db, SOLO, {"fail": True})
    record(db, SLOW)
    result = invoke("errors", "--db", db)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "orders.find" in line]
    assert len(rows) == 1 and rows[0].split()[1] == "2"  # two failures, one group
    # A group shows its normalised message: quoted values become <q>.
    assert "data" in rows[0] and "KeyError: <q>" in rows[0]
    assert "billing.charge" in result.output

    only = json.loads(invoke("errors", "--db", db, "--workflow", "billing", "--json").output)
    assert [(g["workflow"], g["step_id"], g["count"]) for g in only] == [
        ("billing", "charge", 1)]
    top = json.loads(invoke("errors", "--db", db, "-n", "1", "--json").output)
    assert [(g["step_id"], g["count"]) for g in top] == [("find", 2)]  # most frequent first


def test_errors_says_when_there_is_nothing_to_show(db: str) -> None:
    record(db, SOLO, {"fail": True})
    none = invoke("errors", "--db", db, "--workflow", "nope")
    assert none.exit_code == 0, none.output
    assert none.output.startswith("No failures since ")
    future = invoke("errors", "--db", db, "--since", "2999-01-01")
    assert future.exit_code == 0
    assert future.output.strip() == "No failures since 2999-01-01T00:00:00+00:00."
    assert json.loads(invoke("errors", "--db", db, "-w", "nope", "--json").output) == []


def test_errors_refuses_a_bad_since(db: str) -> None:
    for bad in ("yesterday", "-3d", "7x"):
        assert_usage_error(invoke("errors", "--since", bad, "--db", db), "--since")


# -- report-error -----------------------------------------------------------------------


def test_report_error_in_each_format_to_stdout(db: str) -> None:
    run_id = record(db, SOLO, {"fail": True})
    md = invoke("report-error", run_id, "--db", db)
    assert md.exit_code == 0, md.output
    assert md.output.startswith(f"# Error report: run {run_id}")
    assert "| category | data |" in md.output
    alias = invoke("report-error", run_id, "-f", "markdown", "--db", db).output
    assert alias.splitlines()[0] == md.output.splitlines()[0]
    assert "| category | data |" in alias

    data = json.loads(invoke("report-error", run_id, "-f", "json", "--db", db).output)
    assert data["diagnosis"]["root_cause"]["step_id"] == "find"
    assert data["context"]["step_input"] == {"fail": True}

    page = invoke("report-error", run_id, "--format", "html", "--db", db)
    assert page.exit_code == 0
    assert page.output.startswith("<!DOCTYPE html>") and "KeyError" in page.output


def test_report_error_writes_a_file(db: str, tmp_path: Path) -> None:
    run_id = record(db, SOLO, {"fail": True})
    target = tmp_path / "report.md"
    made = invoke("report-error", run_id, "-o", str(target), "--db", db)
    assert made.exit_code == 0, made.output
    assert made.output.strip() == f"Wrote {target}"
    assert target.read_text(encoding="utf-8").startswith(f"# Error report: run {run_id}")

    missing_dir = tmp_path / "no" / "such" / "dir" / "r.json"
    bad = invoke("report-error", run_id, "-f", "json", "-o", str(missing_dir), "--db", db)
    assert_usage_error(bad, "cannot write")
    assert not missing_dir.exists()


def test_report_error_refuses_unknown_runs_and_formats(db: str) -> None:
    run_id = record(db, SOLO, {"fail": True})
    assert_usage_error(invoke("report-error", "no-such-run", "--db", db), "no run")
    assert_usage_error(invoke("report-error", run_id, "-f", "pdf", "--db", db), "--format")
