"""The console debugger's rendering: stop headers, positions, watches, tables, diffs.

Each function returns a renderable (``rich`` text or table) and prints nothing, except
:func:`show_end`, which prints how the run ended.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flowscope.cli.render import error_line, format_ms, short_id
from flowscope.cli.run import show_result
from flowscope.debugger import Breakpoint, Stop, StopReason
from flowscope.engine import events as ev
from flowscope.engine.journal import Journal
from flowscope.engine.runner import RunResult
from flowscope.engine.status import StepStatus
from flowscope.model.workflow import Workflow


def one_line(value: Any, limit: int = 80) -> str:
    """A value as compact JSON on one line (strings quoted), cut at ``limit`` characters."""
    text = " ".join(json.dumps(value, default=str, ensure_ascii=False).split())
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."

#: The marker of each step status in the position list.
STEP_MARKS: Mapping[str, tuple[str, str]] = {
    StepStatus.COMPLETED.value: ("✓", "green"),
    StepStatus.FAILED.value: ("✗", "bold red"),
    StepStatus.SKIPPED.value: ("-", "dim"),
    StepStatus.CANCELLED.value: ("-", "yellow"),
    StepStatus.RUNNING.value: ("~", "cyan"),
    "current": ("▶", "bold magenta"),
    "pending": ("·", "dim"),
}

_REASON_STYLE = {StopReason.BREAKPOINT: "bold red", StopReason.EXCEPTION: "bold red",
                 StopReason.ENTRY: "bold cyan", StopReason.WATCH: "bold yellow"}


def frame_path(stop: Stop) -> str:
    """``root_workflow > step > child step > ...`` down to the stopped step."""
    return " > ".join([stop.frames[0].workflow] + [f.step_id or "?" for f in stop.frames])


def stop_header(stop: Stop) -> Text:
    """The first line of a stop: number, reason (and breakpoint), step, run."""
    reason = stop.reason.value
    if stop.breakpoint is not None:
        reason += f" #{stop.breakpoint.id}"
    text = Text.assemble(
        (f"[stop {stop.number}] ", "bold"), (reason, _REASON_STYLE.get(stop.reason, "bold")),
        " at ", (stop.step_id, "bold"), f"  run {short_id(stop.run_id)}")
    if stop.attempt > 1:
        text.append(f"  attempt {stop.attempt}")
    return text


def steps_line(workflow: Workflow, statuses: Mapping[str, str], current: str,
               executing: Iterable[str] = ()) -> Text:
    """The steps of one frame in definition order, each behind its status marker."""
    running = set(executing)
    text = Text("  ")
    for i, step in enumerate(workflow.steps):
        if step.id == current:
            key = "current"
        elif step.id in running:
            key = StepStatus.RUNNING.value
        else:
            key = statuses.get(step.id, "pending")
        mark, style = STEP_MARKS.get(key, STEP_MARKS["pending"])
        if i:
            text.append("  ")
        text.append(f"{mark} {step.id}", style=style)
    return text


def watch_lines(stop: Stop, previous: dict[str, Any] | None = None) -> list[Text]:
    """One line per watch at a stop; a changed value is marked ``*``.

    ``previous`` (expression -> its value at the last stop, or when it was added) also
    counts as "before": the core has no earlier value for a watch added at a stop, but
    the person saw one. It is updated with the values at this stop.
    """
    out = []
    for w in stop.watches:
        value = f"<{w.error}>" if w.error else one_line(w.value, 100)
        changed = w.changed
        if previous is not None:
            changed = changed or (w.expression in previous and previous[w.expression] != w.value)
            previous[w.expression] = w.value
        mark, style = ("*", "bold yellow") if changed else (" ", "")
        out.append(Text.assemble(("  " + mark, style), f" watch {w.expression} = ",
                                 (value, style), ("  (changed)" if changed else "", style)))
    return out


def breakpoints_table(bps: Iterable[Breakpoint]) -> Table:
    """id, where, condition, hits, enabled (and hit condition, limit, log message)."""
    table = Table(expand=False, box=None, pad_edge=False)
    for name in ("id", "where", "condition", "hits", "enabled", "options"):
        table.add_column(name, justify="right" if name in ("id", "hits") else "left")
    for bp in bps:
        where = bp.describe()
        if bp.condition:
            where = where[: -len(f" if {bp.condition}")]
        options = []
        if bp.hit_condition:
            options.append(f"hits {bp.hit_condition}")
        if bp.hit_limit is not None:
            options.append(f"limit {bp.hit_limit}")
        if bp.log_message is not None:
            options.append(f"log {bp.log_message!r}")
        table.add_row(str(bp.id), where, bp.condition or "", str(bp.hit_count),
                      Text("yes", "green") if bp.enabled else Text("no", "dim"),
                      ", ".join(options))
    return table


def diff_lines(diff: Mapping[str, Mapping[str, Any]]) -> list[Text]:
    """``+ path = v`` / ``- path = v`` / ``~ path: old -> new`` lines of a comparison."""
    out = []
    for path, value in diff.get("added", {}).items():
        out.append(Text(f"  + {path} = {one_line(value, 100)}", "green"))
    for path, value in diff.get("removed", {}).items():
        out.append(Text(f"  - {path} = {one_line(value, 100)}", "red"))
    for path, change in diff.get("changed", {}).items():
        out.append(Text(f"  ~ {path}: {one_line(change['old'], 60)} -> "
                        f"{one_line(change['new'], 60)}", "yellow"))
    return out or [Text("  (no differences)", "dim")]


def trace_table(entries: Iterable[Any]) -> Table:
    """One row per step attempt: step, attempt, status, duration, input, result."""
    table = Table(expand=False, box=None, pad_edge=False)
    for name in ("step", "attempt", "status", "duration", "input", "output / error", "vars"):
        table.add_column(name)
    for e in entries:
        result = (f"{e.error['type']}: {e.error['message']}" if e.error
                  else one_line(e.output, 50))
        changes = sum(len(v) for v in e.vars_diff.values())
        table.add_row(e.step_id + (" (rewound)" if e.rewound else ""), str(e.attempt),
                      e.status, format_ms(e.duration_ms), one_line(e.input, 40), result,
                      f"{changes} change(s)" if changes else "")
    return table


def log_line(event: ev.Log) -> Text:
    """One line for a log event: ``log [step] message``."""
    style = "cyan" if event.source == "logpoint" else "yellow"
    return Text(f"{event.source or 'log'} [{event.step_id or '-'}] {event.message}", style)


def show_end(console: Console, store: Journal, result: RunResult) -> None:
    """Print how the run ended, and for a failure its root cause."""
    show_result(console, store, result)
    if result.status.value != "failed":
        return
    try:
        from flowscope.diagnosis import analyse_run
    except ImportError:  # diagnosis is optional for the debugger
        return
    root = analyse_run(store, result.id).root_cause
    if root is not None and root.step_id is not None:
        console.print(Text(f"root cause: {root.run.workflow} > {root.step_id}: "
                           f"{error_line(root.error)}", "bold red"), soft_wrap=True)
