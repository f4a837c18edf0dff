"""``flowscope why`` and ``flowscope stats`` quote the same p95 and p99 for a step.

Diagnosis used to rank durations by nearest rank while analytics interpolates (numpy's
``linear``, PostgreSQL's ``percentile_cont``): on five attempts of 10, 20, 30, 300 and a
timed-out ~500 ms the first said p95 = p99 = 0.50 s, the second 0.46 s and 0.49 s. Now
diagnosis asks analytics, so the two commands agree.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from typer.testing import CliRunner

from flowscope.cli.main import app
from flowscope.compat import Diagnoser, WorkflowAnalyticsEngine
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict
from flowscope.store import open_store


def nap(ms: int) -> None:
    time.sleep(ms / 1000)


FLOW = {"name": "billing", "inputs": {"ms": {"type": "integer"}}, "steps": [
    {"id": "charge", "uses": "nap", "timeout": 0.5, "with": {"ms": "${{ inputs.ms }}"}}]}


def _record(db: str) -> str:
    store = open_store(db)
    try:
        engine = Engine(store, actions={"nap": nap})
        workflow = workflow_from_dict(FLOW)
        for ms in (10, 20, 30, 300):
            assert engine.run(workflow, {"ms": ms}).status.value == "completed"
        failed = engine.run(workflow, {"ms": 800})  # cut at the 0.5 s timeout
        assert failed.status.value == "failed"
        return failed.id
    finally:
        store.close()


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f}s"  # how suggestions print a duration


def test_why_and_stats_give_the_same_p95_and_p99(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    run_id = _record(db)
    runner = CliRunner()
    stats = runner.invoke(app, ["stats", "--by", "step", "--since", "7d", "-w", "billing",
                                "--format", "json", "--db", db])
    assert stats.exit_code == 0, stats.output
    (row,) = [r for r in json.loads(stats.output) if r["step_id"] == "charge"]
    assert row["executions"] == 5
    why = runner.invoke(app, ["why", run_id, "--db", db])
    assert why.exit_code == 0, why.output
    quoted = re.search(r"over the last 7 days \((\d+) attempts\) the step's\s+p95 is "
                       r"(\S+) and\s+p99 (\S+) against", " ".join(why.output.split()))
    assert quoted is not None, why.output
    assert quoted.group(1) == "5"
    assert quoted.group(2) == _seconds(row["p95_duration_ms"])
    assert quoted.group(3) == _seconds(row["p99_duration_ms"])
    # The interpolated figures, not the slowest attempt twice (what nearest rank gave).
    assert row["p95_duration_ms"] < row["max_duration_ms"]


def test_the_python_api_quotes_the_seed_percentile_call(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    run_id = _record(db)
    store = open_store(db)
    try:
        analytics = WorkflowAnalyticsEngine(store)
        p95 = analytics.calculate_percentile_duration(95, "billing", step_id="charge")
        p99 = analytics.calculate_percentile_duration(99, "billing", step_id="charge")
        assert p95 is not None and p99 is not None
        tip = Diagnoser(store).suggest_fix(run_id)[0]
        assert f"p95 is {_seconds(p95)} and p99 {_seconds(p99)}" in tip.why
    finally:
        store.close()


def test_a_memory_store_uses_the_same_definition() -> None:
    store = open_store("memory")
    engine = Engine(store, actions={"nap": nap})
    workflow = workflow_from_dict(FLOW)
    for ms in (10, 20, 30, 300):
        engine.run(workflow, {"ms": ms})
    run_id = engine.run(workflow, {"ms": 800}).id
    durations = sorted(a.duration_ms for r in store.list_runs(limit=None)
                       for a in store.get_steps(r.id) if a.duration_ms is not None)
    assert len(durations) == 5
    p95 = durations[3] + (durations[4] - durations[3]) * 0.8  # h = 0.95 * 4 = 3.8
    tip = Diagnoser(store).suggest_fix(run_id)[0]
    assert f"p95 is {_seconds(p95)}" in tip.why
