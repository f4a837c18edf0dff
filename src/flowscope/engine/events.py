"""Typed engine events: one frozen dataclass per kind.

Every event carries the run id, a per-run monotonic ``seq`` and a UTC timestamp. The
engine hands events to observers and to the journal, which stores them with the step
result they belong to, in one transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


class EventKind(StrEnum):
    """What happened."""

    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    RUN_PAUSED = "run_paused"
    RUN_CONTINUED = "run_continued"
    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    RUN_CANCELLED = "run_cancelled"
    STEP_READY = "step_ready"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    STEP_RETRYING = "step_retrying"
    STEP_SKIPPED = "step_skipped"
    STEP_REUSED = "step_reused"
    VARS_SET = "vars_set"
    LOG = "log"
    VARIABLE_EDITED = "variable_edited"
    RUN_REWOUND = "run_rewound"
    RUN_INTERRUPTED = "run_interrupted"
    STEP_EFFECT_UNCERTAIN = "step_effect_uncertain"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event."""

    kind: ClassVar[EventKind]
    run_id: str
    """The run the event belongs to."""
    seq: int
    """Per-run, strictly increasing from 1."""
    ts: datetime
    """When it happened (UTC, timezone-aware)."""
    step_id: str | None = None
    """The step it concerns, if any."""

    def payload(self) -> dict[str, Any]:
        """Return the kind-specific fields as a JSON-serialisable dict."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in _BASE_FIELDS
        }


_BASE_FIELDS = frozenset({"run_id", "seq", "ts", "step_id"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    """A run began (its first status change to ``running``)."""

    kind: ClassVar[EventKind] = EventKind.RUN_STARTED
    workflow: str
    version: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None
    parent_step_id: str | None = None
    vars: Mapping[str, Any] | None = None
    """The variables the run starts with, when it starts with some (a fork)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed(Event):
    """A run interrupted by a crash was picked up again from its journal."""

    kind: ClassVar[EventKind] = EventKind.RUN_RESUMED
    completed_steps: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPaused(Event):
    """The debugger stopped the run."""

    kind: ClassVar[EventKind] = EventKind.RUN_PAUSED
    reason: str = "pause"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContinued(Event):
    """A stopped run went on."""

    kind: ClassVar[EventKind] = EventKind.RUN_CONTINUED


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted(Event):
    """The run finished successfully."""

    kind: ClassVar[EventKind] = EventKind.RUN_COMPLETED
    outputs: Mapping[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(Event):
    """The run failed; ``failed_step`` is the first step whose failure ended it."""

    kind: ClassVar[EventKind] = EventKind.RUN_FAILED
    error_type: str = ""
    message: str = ""
    category: str = "internal"
    failed_step: str | None = None
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCancelled(Event):
    """The run was cancelled."""

    kind: ClassVar[EventKind] = EventKind.RUN_CANCELLED
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReady(Event):
    """All the step's needs are met; ``via`` is the need whose completion made it ready."""

    kind: ClassVar[EventKind] = EventKind.STEP_READY
    via: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(Event):
    """An attempt of the step began executing."""

    kind: ClassVar[EventKind] = EventKind.STEP_STARTED
    attempt: int = 1
    state_seq: int | None = None
    """The run's last committed seq when the attempt began: the state it saw is what the
    events up to this seq leave behind (``None`` in journals written before 0.2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepCompleted(Event):
    """An attempt succeeded."""

    kind: ClassVar[EventKind] = EventKind.STEP_COMPLETED
    attempt: int = 1
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed(Event):
    """An attempt failed (``will_retry`` tells whether another attempt follows)."""

    kind: ClassVar[EventKind] = EventKind.STEP_FAILED
    attempt: int = 1
    error_type: str = ""
    message: str = ""
    category: str = "internal"
    will_retry: bool = False
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRetrying(Event):
    """A failed step will be tried again after ``delay`` seconds."""

    kind: ClassVar[EventKind] = EventKind.STEP_RETRYING
    attempt: int = 2
    delay: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSkipped(Event):
    """The step did not run: its condition was false, or a step it needs did not complete."""

    kind: ClassVar[EventKind] = EventKind.STEP_SKIPPED
    reason: str = "condition"
    cause_step_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReused(Event):
    """A recorded output was used instead of running the step (resume or fork)."""

    kind: ClassVar[EventKind] = EventKind.STEP_REUSED
    from_run_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VarsSet(Event):
    """A step's ``set`` wrote run variables."""

    kind: ClassVar[EventKind] = EventKind.VARS_SET
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Log(Event):
    """A line recorded for people (logpoints, engine notes)."""

    kind: ClassVar[EventKind] = EventKind.LOG
    message: str = ""
    source: str = "engine"


@dataclass(frozen=True, slots=True, kw_only=True)
class VariableEdited(Event):
    """Someone changed the run state by hand (the debugger's ``set_variable``)."""

    kind: ClassVar[EventKind] = EventKind.VARIABLE_EDITED
    path: str = ""
    old: Any = None
    new: Any = None
    user: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRewound(Event):
    """A stopped run was rewound; ``discarded`` lists the steps whose results were set aside."""

    kind: ClassVar[EventKind] = EventKind.RUN_REWOUND
    to_step: str | None = None
    discarded: tuple[str, ...] = ()
    vars: Mapping[str, Any] | None = None
    """The run variables after the rewind (``None`` in journals written before 0.2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInterrupted(Event):
    """The run's owner stopped executing it (Ctrl-C, SIGTERM); it can be resumed."""

    kind: ClassVar[EventKind] = EventKind.RUN_INTERRUPTED
    reason: str = "interrupt"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepEffectUncertain(Event):
    """An external step's attempt started but never committed: its effect may have happened.

    Recorded on resume; ``action`` says what the step's ``on_crash`` policy did about it.
    """

    kind: ClassVar[EventKind] = EventKind.STEP_EFFECT_UNCERTAIN
    attempt: int = 1
    idempotency_key: str = ""
    action: str = "rerun"


EVENT_TYPES: dict[EventKind, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted, RunResumed, RunPaused, RunContinued, RunCompleted, RunFailed,
        RunCancelled, StepReady, StepStarted, StepCompleted, StepFailed, StepRetrying,
        StepSkipped, StepReused, VarsSet, Log, VariableEdited, RunRewound, RunInterrupted,
        StepEffectUncertain,
    )
}


def event_from_parts(
    kind: str, *, run_id: str, seq: int, ts: datetime, step_id: str | None,
    payload: Mapping[str, Any],
) -> Event:
    """Rebuild an event from its stored parts (unknown payload keys are dropped)."""
    cls = EVENT_TYPES[EventKind(kind)]
    names = {f.name for f in dataclasses.fields(cls)}
    fields_ = {k: (tuple(v) if isinstance(v, list) and k == "discarded" else v)
               for k, v in payload.items() if k in names}
    return cls(run_id=run_id, seq=seq, ts=ts, step_id=step_id, **fields_)
