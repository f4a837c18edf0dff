"""Smoke test of the benchmark command: it runs end to end on tiny sizes and reports.

No peers are installed (``--no-peers``: no network, no venv) and nothing is asserted about
timings: figures on a shared machine are not pass/fail material.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # spawns processes: left out of the fast tier

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


@pytest.mark.slow
def test_quick_benchmark_runs_and_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--no-peers", f"--out={out}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| target | this run | verdict |" in proc.stdout
    report = out.read_text(encoding="utf-8")
    for heading in ("## Machine", "## Versions", "## Against the targets",
                    "## 1. Orchestration overhead per step", "## 2. Debugger overhead",
                    "## 3. Analytics", "## 4. Memory per run in flight"):
        assert heading in report
    for name in ("loop", "sqlite3-normal", "flowscope-memory", "flowscope-sqlite-normal"):
        assert f"| {name} | " in report
    assert "µs/step (median)" in report
    assert "| workflow summary | " in report
    assert "| flowscope-sqlite | " in report


def test_unknown_only_name_is_refused_with_the_known_names() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--only", "nosuch", "--no-peers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown --only nosuch" in proc.stderr
    assert "chain" in proc.stderr
