"""Live step progress while a run executes: an engine observer that draws what it sees.

On a terminal the steps are a live table (Rich ``Live``); elsewhere (a pipe, a log file,
CI) each step event is one plain line, so that the output reads well after the fact.
Steps of sub-workflow runs are shown as ``parent_step/child_step``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table

from flowscope.cli.render import format_ms, status_text
from flowscope.engine import events as ev
from flowscope.engine.hooks import EngineHooks


@dataclass(slots=True)
class _Row:
    status: str = "pending"
    attempt: int = 0
    started: float | None = None
    duration_ms: float | None = None
    note: str = ""


class StepProgress(EngineHooks):
    """Show each step's progress as the engine reports it.

    Use as a context manager around the run, after adding it to the engine's hooks.

    Args:
        console: Where to draw.
        live: Draw a live table (``True``) or print one line per event (``False``).
    """

    def __init__(self, console: Console, *, live: bool) -> None:
        self.console = console
        self.live = live
        self._rows: dict[str, _Row] = {}
        self._prefix: dict[str, str] = {}  # run id -> label prefix of its steps
        self._lock = threading.Lock()
        self._display: Live | None = None
        self._spinner = Spinner("dots")  # one instance, so its frames advance between draws

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> StepProgress:
        if self.live:
            self._display = Live(self, console=self.console, refresh_per_second=12,
                                 transient=True)
            self._display.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._display is not None:
            self._display.__exit__(exc_type, exc, tb)
            self._display = None

    # -- the observer ------------------------------------------------------------------------

    def on_event(self, event: ev.Event) -> None:
        """Update the display (or print a line) for one engine event."""
        if isinstance(event, ev.RunStarted):
            self._run_started(event)
            return
        if event.step_id is None:
            return
        label = self._prefix.get(event.run_id, "") + event.step_id
        line = self._apply(label, event)
        if line is not None and not self.live:
            self.console.print(line, soft_wrap=True, highlight=False)

    def _run_started(self, event: ev.RunStarted) -> None:
        with self._lock:
            if event.parent_run_id is not None and event.parent_step_id is not None:
                parent = self._prefix.get(event.parent_run_id, "")
                self._prefix[event.run_id] = f"{parent}{event.parent_step_id}/"
            else:
                self._prefix.setdefault(event.run_id, "")
        if not self.live and event.parent_run_id is None:
            self.console.print(
                f"run {event.run_id} started: {escape(event.workflow)} "
                f"(version {escape(event.version)})", soft_wrap=True, highlight=False,
            )

    def _apply(self, label: str, event: ev.Event) -> str | None:
        """Update the row for ``label``; return the plain line describing the event."""
        name = escape(label)
        with self._lock:
            row = self._rows.setdefault(label, _Row())
            if isinstance(event, ev.StepReady):
                row.status = "ready"
                return None
            if isinstance(event, ev.StepStarted):
                row.status, row.attempt, row.started = "running", event.attempt, time.monotonic()
                row.note = ""
                suffix = f" (attempt {event.attempt})" if event.attempt > 1 else ""
                return f"  start   {name}{suffix}"
            if isinstance(event, ev.StepCompleted):
                row.status, row.duration_ms, row.started = "completed", event.duration_ms, None
                return f"  [green]done[/]    {name}  {format_ms(event.duration_ms)}"
            if isinstance(event, ev.StepFailed):
                row.status = "retrying" if event.will_retry else "failed"
                row.duration_ms, row.started = event.duration_ms, None
                row.note = " ".join(f"{event.error_type}: {event.message}".split())
                then = " (will retry)" if event.will_retry else ""
                return f"  [red]failed[/]  {name}  {escape(row.note)}{then}"
            if isinstance(event, ev.StepRetrying):
                row.status = "retrying"
                return (f"  retry   {name} in {event.delay:.2f}s (attempt {event.attempt})")
            if isinstance(event, ev.StepSkipped):
                row.status = "skipped"
                cause = f" by {event.cause_step_id}" if event.cause_step_id else ""
                row.note = f"{event.reason}{cause}"
                return f"  [dim]skip[/]    {name} ({escape(row.note)})"
            if isinstance(event, ev.StepReused):
                row.status = "completed"
                row.note = "reused"
                return f"  reuse   {name} (result from the journal)"
            return None

    # -- the live table ----------------------------------------------------------------------

    def __rich__(self) -> Table:
        """Render the current state of every step seen so far."""
        table = Table(box=None, show_header=True, pad_edge=False)
        table.add_column("", width=2)
        table.add_column("step", style="bold")
        table.add_column("status")
        table.add_column("attempt", justify="right")
        table.add_column("time", justify="right")
        table.add_column("note", overflow="ellipsis", no_wrap=True, max_width=60)
        now = time.monotonic()
        with self._lock:
            rows = list(self._rows.items())
        for label, row in rows:
            icon: Any = self._spinner if row.status == "running" else ""
            elapsed = (now - row.started) * 1000 if row.started is not None else row.duration_ms
            table.add_row(icon, escape(label), status_text(row.status),
                          str(row.attempt) if row.attempt else "", format_ms(elapsed),
                          escape(row.note))
        return table
