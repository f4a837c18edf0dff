"""Smoke test of the benchmark: it runs end to end and reports. No timing assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


@pytest.mark.slow
def test_quick_benchmark_runs_and_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", f"--out={out}"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("loop", "sqlite3-normal", "flowscope-memory", "flowscope-sqlite-full"):
        assert f"| {name} |" in proc.stdout
    report = out.read_text(encoding="utf-8")
    assert "## Machine" in report
    assert "µs/step (median)" in report
    assert "overhead per step" in report
