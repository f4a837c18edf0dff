"""Rich tables and small formatters shared by the commands.

Functions here only turn records into renderables or text: they never open a store and
never print, so that every command decides where its output goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from flowscope.engine.events import Event
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord

#: Colour of each run or step status.
STATUS_STYLES: Mapping[str, str] = {
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "skipped": "dim",
    "running": "cyan",
    "paused": "magenta",
    "interrupted": "yellow",
    "pending": "blue",
}


def status_text(status: str) -> Text:
    """Return a status word in its colour."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def short_id(run_id: str) -> str:
    """Return the first 8 characters of a run id (enough to be unique in practice)."""
    return run_id[:8]


def format_ms(ms: float | None) -> str:
    """Format milliseconds for people: ``850 ms``, ``2.4 s``, ``3m 05s``, ``1h 02m``."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_time(moment: datetime | None) -> str:
    """Format a timestamp in UTC, to the second."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def error_line(error: ErrorInfo | None) -> str:
    """Return ``Type: message`` on one line (empty when there is no error)."""
    if error is None:
        return ""
    message = " ".join(error.message.split())
    return f"{error.type}: {message}" if message else error.type


def to_json(value: Any) -> str:
    """Dump a value as indented JSON (datetimes and other odd values as text)."""
    return json.dumps(value, indent=2, sort_keys=False, default=str, ensure_ascii=False)


def preview(value: Any, limit: int = 80) -> str:
    """Return a one-line preview of a value."""
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) \
        else value
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- steps ---------------------------------------------------------------------------------


def summarise_steps(attempts: Sequence[StepAttemptRecord]) -> list[dict[str, Any]]:
    """Fold a run's attempts into one row per step, in the order steps first appeared.

    Each row has ``step``, ``status`` (of the last attempt), ``attempts`` (attempts that
    ran; 0 for a skipped step), ``duration_ms`` (summed over attempts), ``error`` (the
    last attempt's ``Type: message``), ``skip_reason`` and ``child_run_id``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for rec in attempts:
        row = rows.setdefault(rec.step_id, {
            "step": rec.step_id, "status": "", "attempts": 0, "duration_ms": None,
            "error": "", "skip_reason": None, "child_run_id": None,
        })
        row["status"] = rec.status.value
        row["attempts"] = max(row["attempts"], rec.attempt)
        if rec.duration_ms is not None:
            row["duration_ms"] = (row["duration_ms"] or 0.0) + rec.duration_ms
        row["error"] = error_line(rec.error)
        row["skip_reason"] = rec.skip_reason
        row["child_run_id"] = rec.child_run_id or row["child_run_id"]
    return list(rows.values())


def step_summary_table(attempts: Sequence[StepAttemptRecord], title: str | None = None) -> Table:
    """One row per step: id, status, attempts, duration, error."""
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("step", style="bold")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("error", overflow="fold")
    for row in summarise_steps(attempts):
        error = row["error"]
        if row["status"] == "skipped" and row["skip_reason"]:
            error = f"(skipped: {row['skip_reason']})"
        table.add_row(
            escape(row["step"]), status_text(row["status"]),
            str(row["attempts"]) if row["attempts"] else "-",
            format_ms(row["duration_ms"]), escape(error),
        )
    return table


def attempts_table(attempts: Sequence[StepAttemptRecord]) -> Table:
    """One row per attempt: step, attempt, status, duration, queue wait, error."""
    table = Table(title="steps", title_justify="left")
    table.add_column("step", style="bold")
    table.add_column("attempt", justify="right")
    table.add_column("status")
    table.add_column("duration", justify="right")
    table.add_column("queue wait", justify="right")
    table.add_column("error", overflow="fold")
    for rec in attempts:
        note = error_line(rec.error)
        if not note and rec.skip_reason:
            cause = f" by {rec.cause_step_id}" if rec.cause_step_id else ""
            note = f"(skipped: {rec.skip_reason}{cause})"
        if rec.reused_from_run_id:
            reused = f"(reused from {short_id(rec.reused_from_run_id)})"
            note = f"{note} {reused}" if note else reused
        table.add_row(
            escape(rec.step_id), str(rec.attempt) if rec.attempt else "-",
            status_text(rec.status.value), format_ms(rec.duration_ms),
            format_ms(rec.queue_wait_ms), escape(note),
        )
    return table


def attempt_dict(rec: StepAttemptRecord) -> dict[str, Any]:
    """A step attempt as a JSON-ready dict."""
    return {
        "step": rec.step_id,
        "attempt": rec.attempt,
        "status": rec.status.value,
        "input": rec.input,
        "output": rec.output,
        "error": rec.error.to_dict() if rec.error else None,
        "started_at": rec.started_at.isoformat() if rec.started_at else None,
        "ended_at": rec.ended_at.isoformat() if rec.ended_at else None,
        "duration_ms": rec.duration_ms,
        "queue_wait_ms": rec.queue_wait_ms,
        "cpu_time_ms": rec.cpu_time_ms,
        "child_run_id": rec.child_run_id,
        "skip_reason": rec.skip_reason,
        "cause_step_id": rec.cause_step_id,
    }


# -- runs ----------------------------------------------------------------------------------


def run_dict(run: RunRecord) -> dict[str, Any]:
    """A run as a JSON-ready dict (without its definition, which can be large)."""
    return {
        "id": run.id,
        "workflow": run.workflow,
        "version": run.version,
        "status": run.status.value,
        "user": run.user,
        "tags": dict(run.tags),
        "inputs": dict(run.inputs),
        "outputs": dict(run.outputs) if run.outputs is not None else None,
        "vars": dict(run.vars),
        "error": run.error.to_dict() if run.error else None,
        "failed_step": run.failed_step,
        "parent_run_id": run.parent_run_id,
        "parent_step_id": run.parent_step_id,
        "root_run_id": run.root_run_id,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "duration_ms": run.duration_ms,
        "owner": run.owner,
        "owner_gone": run.owner_gone(),
        "source": run.source,
    }


def run_status_text(run: RunRecord) -> Text:
    """A run's status, saying so when its owner died (its lease expired) before the end."""
    text = status_text(run.status.value)
    if run.owner_gone():
        text.append(" (owner gone)", style="yellow")
    return text


def runs_table(runs: Iterable[RunRecord], title: str = "runs") -> Table:
    """Recent runs: id, workflow, version, status, user, started, duration."""
    table = Table(title=title, title_justify="left")
    table.add_column("id", style="bold")
    table.add_column("workflow")
    table.add_column("version")
    table.add_column("status")
    table.add_column("user")
    table.add_column("started (UTC)")
    table.add_column("duration", justify="right")
    for run in runs:
        name = run.workflow if run.parent_run_id is None else f"  {run.workflow} (child)"
        table.add_row(
            short_id(run.id), escape(name), escape(run.version), run_status_text(run),
            escape(run.user or "-"), format_time(run.started_at or run.created_at),
            format_ms(run.duration_ms),
        )
    return table


def run_header(run: RunRecord) -> Table:
    """The facts of one run as a two-column grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("run", escape(run.id))
    grid.add_row("workflow", escape(f"{run.workflow} (version {run.version})"))
    grid.add_row("status", run_status_text(run))
    grid.add_row("user", escape(run.user or "-"))
    if run.tags:
        grid.add_row("tags", escape(", ".join(f"{k}={v}" for k, v in sorted(run.tags.items()))))
    if run.parent_run_id:
        grid.add_row("parent", escape(f"{run.parent_run_id} (step {run.parent_step_id})"))
    if run.forked_from_run_id:
        grid.add_row("forked from", escape(f"{run.forked_from_run_id} at {run.forked_from_step}"))
    grid.add_row("started", format_time(run.started_at or run.created_at))
    grid.add_row("duration", format_ms(run.duration_ms))
    if run.inputs:
        grid.add_row("inputs", escape(preview(dict(run.inputs), 200)))
    if run.outputs is not None:
        grid.add_row("outputs", escape(to_json(dict(run.outputs))))
    if run.error is not None:
        where = f" (step {run.failed_step})" if run.failed_step else ""
        grid.add_row("error", Text(error_line(run.error) + where, style="red"))
    return grid


def events_table(events: Sequence[Event]) -> Table:
    """A run's events: seq, time, kind, step, details."""
    table = Table(title="events", title_justify="left")
    table.add_column("seq", justify="right")
    table.add_column("time (UTC)")
    table.add_column("kind")
    table.add_column("step")
    table.add_column("details", overflow="fold")
    for event in events:
        stamp = event.ts.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]
        details = ", ".join(f"{k}={preview(v, 60)}" for k, v in event.payload().items()
                            if v not in (None, "", {}, ()))
        table.add_row(str(event.seq), stamp, event.kind.value, escape(event.step_id or ""),
                      escape(details))
    return table


def event_dict(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready dict."""
    return {"seq": event.seq, "ts": event.ts.isoformat(), "kind": event.kind.value,
            "step_id": event.step_id, **event.payload()}
