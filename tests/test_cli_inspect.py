"""``flowscope runs``, ``show``, ``cancel``, ``resume`` and ``demo`` on a temporary store."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flowscope.cli.main import app
from flowscope.cli.options import CommandLineError, parse_pairs, parse_since
from flowscope.engine.runner import Engine
from flowscope.store import open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWSCOPE_DB", raising=False)
    monkeypatch.setenv("FLOWSCOPE_USER", "tester")
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_clean_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], result.stderr


def run_json(*args: str) -> dict[str, object]:
    result = invoke("run", *args, "--db", "runs.db", "--json")
    assert result.exit_code in (0, 1), result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def unfinished_run(db: Path) -> str:
    """Record a run as a dead process would leave it: created, never finished."""
    store = open_store(str(db))
    engine = Engine(store)
    try:
        return engine.prepare(EXAMPLES / "payment.yaml").run_id
    finally:
        engine.close()
        store.close()


# -- runs ----------------------------------------------------------------------------------


def test_runs_lists_root_runs_newest_first_and_all_includes_children(workdir: Path) -> None:
    order = run_json(str(EXAMPLES / "order_fulfilment.yaml"))
    pipeline = run_json(str(EXAMPLES / "data_pipeline.yaml"))

    roots = json.loads(invoke("runs", "--db", "runs.db", "--json").stdout)
    assert [r["id"] for r in roots] == [pipeline["run_id"], order["run_id"]]
    every = json.loads(invoke("runs", "--db", "runs.db", "--json", "--all").stdout)
    assert {r["workflow"] for r in every} == {"order_fulfilment", "payment", "data_pipeline"}

    table = invoke("runs", "--db", "runs.db")
    assert table.exit_code == 0
    assert str(order["run_id"])[:8] in table.stdout
    assert "data_pipeline" in table.stdout and "tester" in table.stdout


def test_runs_filters(workdir: Path) -> None:
    run_json(str(EXAMPLES / "payment.yaml"))
    failed = run_json(str(EXAMPLES / "payment.yaml"), "-i", "card=4000000000000002",
                      "--user", "bob")

    def ids(*args: str) -> list[str]:
        result = invoke("runs", "--db", "runs.db", "--json", *args)
        assert result.exit_code == 0, result.output
        return [r["id"] for r in json.loads(result.stdout)]

    assert ids("--status", "failed") == [failed["run_id"]]
    assert ids("--user", "bob") == [failed["run_id"]]
    assert len(ids("--workflow", "payment")) == 2
    assert ids("--workflow", "nothing") == []
    assert len(ids("--limit", "1")) == 1
    assert len(ids("--since", "1h")) == 2
    assert ids("--since", "2999-01-01") == []
    empty = invoke("runs", "--db", "runs.db", "--workflow", "nothing")
    assert "no runs match" in empty.stdout


def test_runs_bad_since_and_status(workdir: Path) -> None:
    assert_clean_error(invoke("runs", "--db", "runs.db", "--since", "soon"), "--since")
    assert_clean_error(invoke("runs", "--db", "runs.db", "--status", "great"), "run status")


# -- show ----------------------------------------------------------------------------------


def test_show_by_prefix_has_header_attempts_and_child_runs(workdir: Path) -> None:
    run = run_json(str(EXAMPLES / "order_fulfilment.yaml"), "--tag", "type=checkout")
    prefix = str(run["run_id"])[:6]

    result = invoke("show", prefix, "--db", "runs.db")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert str(run["run_id"]) in out
    assert "order_fulfilment (version 3)" in out
    assert "type=checkout" in out
    assert "queue wait" in out
    assert "skipped: condition" in out  # the gift wrap step
    assert "child runs" in out and "payment" in out


def test_show_json_and_events(workdir: Path) -> None:
    run = run_json(str(EXAMPLES / "flaky_service.yaml"), "-i", "fail_hard=true",
                   "-i", f"state_dir={workdir}")

    shown = json.loads(invoke("show", str(run["run_id"]), "--db", "runs.db", "--json",
                              "--events").stdout)
    assert shown["status"] == "failed"
    assert shown["failed_step"] == "check_inventory"
    assert [s["attempt"] for s in shown["steps"] if s["step"] == "check_inventory"] == [1, 2, 3, 4]
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[0] == "run_started" and kinds[-1] == "run_failed"
    assert "step_retrying" in kinds

    table = invoke("show", str(run["run_id"]), "--db", "runs.db", "--events")
    assert "step_retrying" in table.stdout
    assert "ServiceUnavailable" in table.stdout


def test_show_child_run_names_its_parent(workdir: Path) -> None:
    run_json(str(EXAMPLES / "order_fulfilment.yaml"))
    child = json.loads(invoke("runs", "--db", "runs.db", "--json", "--all",
                              "--workflow", "payment").stdout)[0]
    out = invoke("show", child["id"], "--db", "runs.db").stdout
    assert "parent" in out and "(step payment)" in out


def test_show_unknown_run(workdir: Path) -> None:
    run_json(str(EXAMPLES / "payment.yaml"))
    assert_clean_error(invoke("show", "zzzz", "--db", "runs.db"), "no run with id 'zzzz'")


# -- cancel and resume ---------------------------------------------------------------------


def test_cancel_a_stored_unfinished_run_then_again(workdir: Path) -> None:
    run_id = unfinished_run(workdir / "runs.db")

    result = invoke("cancel", run_id[:8], "--db", "runs.db")
    assert result.exit_code == 0, result.output
    assert f"run {run_id} cancelled" in result.stdout
    shown = json.loads(invoke("show", run_id, "--db", "runs.db", "--json").stdout)
    assert shown["status"] == "cancelled"

    assert_clean_error(invoke("cancel", run_id, "--db", "runs.db"), "already cancelled")


def test_cancel_unknown_run(workdir: Path) -> None:
    assert_clean_error(invoke("cancel", "nope", "--db", "runs.db"), "no run with id")


def test_resume_unknown_or_finished_run_exits_2(workdir: Path) -> None:
    done = run_json(str(EXAMPLES / "payment.yaml"))
    assert_clean_error(invoke("resume", "nope", "--db", "runs.db"), "no run with id")
    assert_clean_error(invoke("resume", str(done["run_id"]), "--db", "runs.db"),
                       "already completed")


def test_resume_a_run_that_never_started_runs_it_to_the_end(workdir: Path) -> None:
    run_id = unfinished_run(workdir / "runs.db")

    result = invoke("resume", run_id, "--db", "runs.db")
    assert result.exit_code == 0, result.output
    assert "completed" in result.stdout
    shown = json.loads(invoke("show", run_id, "--db", "runs.db", "--json").stdout)
    assert shown["status"] == "completed"
    assert shown["outputs"]["payment_id"].startswith("PAY-")


# -- demo ----------------------------------------------------------------------------------


def test_demo_runs_every_example_and_summarises(workdir: Path) -> None:
    result = invoke("demo", str(EXAMPLES), "--db", "demo.db")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "demo summary" in out
    for name in ("order_fulfilment", "data_pipeline", "flaky_service"):
        assert name in out
    assert "failed (on purpose)" in out
    assert "failing step: check_inventory" in out
    assert "ServiceUnavailable" in out
    assert "5 runs: 4 completed, 1 did not; every run did what the demo expected" in out
    runs = json.loads(invoke("runs", "--db", "demo.db", "--json").stdout)
    assert len(runs) == 5
    assert all(r["tags"] == {"type": "demo"} for r in runs)


def test_demo_without_manifest_runs_top_level_workflows_only(workdir: Path) -> None:
    folder = workdir / "ex"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "demo.yaml").unlink()

    result = invoke("demo", str(folder), "--db", "demo.db")
    assert result.exit_code == 0, result.output
    runs = json.loads(invoke("runs", "--db", "demo.db", "--json").stdout)
    # payment.yaml is a sub-workflow of order_fulfilment.yaml, so it does not run alone.
    assert sorted(r["workflow"] for r in runs) == ["data_pipeline", "flaky_service",
                                                   "order_fulfilment"]


def test_demo_missing_folder_or_bad_manifest(workdir: Path) -> None:
    assert_clean_error(invoke("demo", "no-such-dir", "--db", "demo.db"), "not found")
    (workdir / "d").mkdir()
    (workdir / "d" / "demo.yaml").write_text("runs: nope\n")
    assert_clean_error(invoke("demo", "d", "--db", "demo.db"), "runs")


# -- parsing helpers -----------------------------------------------------------------------


def test_parse_since_durations_dates_and_times() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("12h", now=now) == now - timedelta(hours=12)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T10:00:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_since("2026-11-01T10:00:00+02:00") == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert parse_since("2026-11-01T10:00:00Z").tzinfo is not None
    for bad in ("", "7 days", "-3d", "2026-13-01", "d7"):
        with pytest.raises(CommandLineError):
            parse_since(bad)


def test_parse_pairs() -> None:
    assert parse_pairs(["a=1", "b=x=y", "c="], "--tag") == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(CommandLineError, match="--tag 'nope' is not key=value"):
        parse_pairs(["nope"], "--tag")
    with pytest.raises(CommandLineError):
        parse_pairs(["=v"], "--tag")
