"""The live step progress observer, fed real engine runs."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from flowscope.cli.progress import StepProgress
from flowscope.engine.runner import Engine
from flowscope.store import open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(progress: StepProgress, example: str, inputs: dict[str, object]) -> None:
    store = open_store("memory")
    engine = Engine(store, hooks=[progress])
    try:
        with progress:
            engine.run(EXAMPLES / example, inputs)
    finally:
        engine.close()
        store.close()


def test_plain_mode_prints_a_line_per_step_event_with_child_steps_nested(tmp_path: Path) -> None:
    buffer = io.StringIO()
    progress = StepProgress(Console(file=buffer, width=200), live=False)

    _run(progress, "order_fulfilment.yaml", {"outbox": str(tmp_path)})

    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("run ") and "order_fulfilment (version 3)" in lines[0]
    assert "  start   payment/authorise" in lines
    assert "  skip    gift_wrap (condition)" in lines
    assert sum(line.startswith("  done") for line in lines) == 7  # 5 steps + 2 child steps


def test_plain_mode_reports_failures_and_retries(tmp_path: Path) -> None:
    buffer = io.StringIO()
    progress = StepProgress(Console(file=buffer, width=300), live=False)

    _run(progress, "flaky_service.yaml", {"state_dir": str(tmp_path)})

    text = buffer.getvalue()
    assert text.count("failed  check_inventory") == 2
    assert "(will retry)" in text
    assert "start   check_inventory (attempt 3)" in text
    assert "StepTimeoutError" in text


def test_live_mode_keeps_one_row_per_step_with_its_final_status(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=True)
    progress = StepProgress(console, live=True)

    _run(progress, "flaky_service.yaml", {"state_dir": str(tmp_path)})

    final = Console(file=io.StringIO(), width=200, record=True)
    final.print(progress)
    rows = [line.split() for line in final.export_text().splitlines()[1:] if line.strip()]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("check_inventory", "completed", "3"),
        ("fetch_quote", "completed", "2"),
        ("publish_report", "completed", "1"),
    ]
