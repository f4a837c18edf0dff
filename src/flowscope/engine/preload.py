"""What a resumed or forked run starts with, and the clock of time spent paused."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flowscope.engine import events as ev
from flowscope.engine.journal import Journal
from flowscope.engine.records import RunRecord, StepAttemptRecord
from flowscope.engine.state import STATE_KINDS, fold_vars
from flowscope.engine.status import StepStatus
from flowscope.errors import RunStateError
from flowscope.model.workflow import Workflow


@dataclass(slots=True)
class Preloaded:
    """What a resumed or forked run starts with instead of executing some steps."""

    results: dict[str, StepAttemptRecord]
    """Step id -> the recorded attempt to reuse (completed or skipped)."""
    next_attempt: dict[str, int]
    """Step id -> the attempt number to use when the step runs again."""
    last_seq: int = 0
    """The highest event seq already stored for the run."""
    reused_from: str | None = None
    """For a fork: the run the results come from (recorded as ``StepReused``)."""
    vars: dict[str, Any] | None = None
    """The run's variables, folded from its journal (resume)."""
    uncertain: dict[str, tuple[int, str]] = field(default_factory=dict)
    """External step id -> (attempt, action): an attempt that started and never committed."""
    first_step: str | None = None
    """For a fork: the step it is forked from, started before any other ready step so
    that it sees exactly the state of the fork point."""



class PauseClock:
    """Counts the time a run tree spends paused, so timeouts can leave it out."""

    __slots__ = ("paused_runs", "since", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.since = 0.0
        self.paused_runs = 0

    def pause(self) -> None:
        if self.paused_runs == 0:
            self.since = time.monotonic()
        self.paused_runs += 1

    def unpause(self) -> None:
        if self.paused_runs == 0:
            return
        self.paused_runs -= 1
        if self.paused_runs == 0:
            self.total += time.monotonic() - self.since

    def elapsed(self) -> float:
        if self.paused_runs:
            return self.total + (time.monotonic() - self.since)
        return self.total


def preload(store: Journal, record: RunRecord, workflow: Workflow, *,
            on_crash: str | None = None) -> Preloaded:
    """Read what a resumed run starts with from its journal: results, attempts, vars.

    Raises:
        RunStateError: an external step's attempt started and never committed, and its
            ``on_crash`` policy (or ``on_crash``) is ``ask``.
    """
    results: dict[str, StepAttemptRecord] = {}
    next_attempt: dict[str, int] = {}
    attempts = store.get_steps(record.id, include_rewound=True)  # read once for both uses
    for att in attempts:
        if att.rewound:
            continue
        if att.status in (StepStatus.COMPLETED, StepStatus.SKIPPED):
            results[att.step_id] = att
        else:
            next_attempt[att.step_id] = max(next_attempt.get(att.step_id, 1),
                                            att.attempt + 1)
    for sid, _nxt in list(next_attempt.items()):
        if sid in results:
            del next_attempt[sid]
    external = [s for s in workflow.steps if s.is_external and s.id not in results]
    events = store.get_events(record.id, kinds=STATE_KINDS)  # step starts are state kinds
    pre = Preloaded(results=results, next_attempt=next_attempt,
                    last_seq=store.last_seq(record.id), vars=fold_vars(events))
    if external:
        recorded = {(a.step_id, a.attempt) for a in attempts}
        started: dict[str, int] = {}
        for e in events:
            if isinstance(e, ev.StepStarted) and e.step_id is not None:
                started[e.step_id] = e.attempt
        for step in external:
            attempt = started.get(step.id)
            if attempt is None or (step.id, attempt) in recorded:
                continue
            action = on_crash or step.on_crash
            if action == "ask":
                raise RunStateError(
                    f"step {step.id!r} of run {record.id} started (attempt {attempt}) "
                    "before the process died and never committed: its external effect "
                    "may already have happened",
                    hint=f"check the outside system, then `flowscope resume {record.id} "
                    "--on-crash rerun` (same idempotency key) or `--on-crash fail`",
                )
            pre.uncertain[step.id] = (attempt, action)
            # The same attempt again: the same idempotency key reaches the outside.
            pre.next_attempt[step.id] = attempt
    return pre
