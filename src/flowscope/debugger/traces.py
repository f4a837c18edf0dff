"""Traces: per step attempt, entry and exit, input, output, variable diff, error, duration.

Built from the journal (step attempts and events), so they work for live and past runs
alike; nothing extra is recorded while a run executes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowscope.debugger.values import compare_states
from flowscope.engine import events as ev
from flowscope.engine.journal import Journal
from flowscope.engine.state import STATE_KINDS, apply_state_event, vars_at_starts


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One step attempt as a trace shows it."""

    run_id: str
    step_id: str
    attempt: int
    status: str
    entered_at: datetime | None = None
    exited_at: datetime | None = None
    input: Any = None
    output: Any = None
    vars_diff: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"added": {}, "removed": {}, "changed": {}})
    """What the attempt did to ``vars``: added / removed / changed by dotted path."""
    vars_before: dict[str, Any] | None = None
    """The variables the attempt started with (``None``: it never started, e.g. skipped)."""
    error: dict[str, Any] | None = None
    """``{"type", "message", "category", "traceback"}`` for a failed attempt."""
    duration_ms: float | None = None
    rewound: bool = False
    child_run_id: str | None = None
    reused_from_run_id: str | None = None
    skip_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON data (timestamps as ISO-8601 text)."""
        return {
            "run_id": self.run_id, "step_id": self.step_id, "attempt": self.attempt,
            "status": self.status,
            "entered_at": self.entered_at.isoformat() if self.entered_at else None,
            "exited_at": self.exited_at.isoformat() if self.exited_at else None,
            "input": self.input, "output": self.output, "vars_diff": self.vars_diff,
            "vars_before": self.vars_before,
            "error": self.error, "duration_ms": self.duration_ms, "rewound": self.rewound,
            "child_run_id": self.child_run_id, "reused_from_run_id": self.reused_from_run_id,
            "skip_reason": self.skip_reason,
        }


def _vars_diffs(events: Sequence[ev.Event]) -> dict[tuple[str, int], dict[str, Any]]:
    """(step id, attempt) -> the diff its ``set`` made to vars, replaying the events.

    The replay is the engine's own fold of run state, so edits, rewinds and a fork's
    starting vars count here exactly as they do for resume and fork.
    """
    current: dict[str, Any] = {}
    attempt: dict[str, int] = {}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for event in events:
        if isinstance(event, ev.StepStarted) and event.step_id:
            attempt[event.step_id] = event.attempt
        before = copy.deepcopy(current) if isinstance(event, ev.VarsSet) else None
        current = apply_state_event(current, event)
        if before is not None and event.step_id:
            out[(event.step_id, attempt.get(event.step_id, 1))] = compare_states(before, current)
    return out


def build_trace(journal: Journal, run_id: str, step_id: str | None = None, *,
                include_children: bool = False) -> list[TraceEntry]:
    """Return the trace of a run (optionally of one step), in the order attempts ended.

    Args:
        journal: The store.
        run_id: The run (id or unique prefix).
        step_id: Only this step's attempts.
        include_children: Also the traces of its sub-workflow runs, after each parent step.
    """
    run = journal.get_run(run_id)
    events = journal.get_events(run.id, kinds=STATE_KINDS)
    diffs = _vars_diffs(events)
    starts = vars_at_starts(events)
    out: list[TraceEntry] = []
    for att in journal.get_steps(run.id, include_rewound=True):
        if step_id is not None and att.step_id != step_id:
            continue
        error = None
        if att.error is not None:
            error = {"type": att.error.type, "message": att.error.message,
                     "category": att.error.category, "traceback": att.error.traceback}
        empty: dict[str, dict[str, Any]] = {"added": {}, "removed": {}, "changed": {}}
        out.append(TraceEntry(
            run_id=att.run_id, step_id=att.step_id, attempt=att.attempt,
            status=att.status.value, entered_at=att.started_at, exited_at=att.ended_at,
            input=copy.deepcopy(att.input), output=copy.deepcopy(att.output),
            vars_diff=diffs.get((att.step_id, att.attempt), empty),
            vars_before=starts.get((att.step_id, att.attempt)), error=error,
            duration_ms=att.duration_ms, rewound=att.rewound, child_run_id=att.child_run_id,
            reused_from_run_id=att.reused_from_run_id, skip_reason=att.skip_reason,
        ))
        if include_children and att.child_run_id:
            out.extend(build_trace(journal, att.child_run_id, include_children=True))
    return out


def export_json(entries: Sequence[TraceEntry], *, indent: int | None = 2) -> str:
    """Return the entries as a JSON array."""
    return json.dumps([e.to_dict() for e in entries], indent=indent, default=str)


__all__ = ["TraceEntry", "build_trace", "export_json"]
