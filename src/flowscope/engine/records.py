"""What the journal stores: runs, step attempts and errors, as frozen records; and the
failure records the store hands to diagnosis (``Failure``, ``Success``, ``StepSample``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowscope.engine.status import RunStatus, StepStatus


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """One frame of a stack trace."""

    file: str
    line: int
    function: str
    is_user_code: bool = True


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as stored: enough to diagnose it without the exception object."""

    type: str
    """Exception class name (qualified when not a builtin, e.g. ``requests.HTTPError``)."""
    message: str
    """``str(exception)``."""
    category: str = "internal"
    """Error category (see ``flowscope.engine.classify``)."""
    traceback: str = ""
    """The formatted traceback."""
    frames: tuple[FrameInfo, ...] = ()
    """Stack frames, innermost last."""
    bases: tuple[str, ...] = ()
    """Names of the exception's base classes (for classification after the fact)."""
    status_code: int | None = None
    """HTTP status carried by the exception, if any."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "type": self.type,
            "message": self.message,
            "category": self.category,
            "traceback": self.traceback,
            "frames": [
                {"file": f.file, "line": f.line, "function": f.function,
                 "is_user_code": f.is_user_code}
                for f in self.frames
            ],
            "bases": list(self.bases),
            "status_code": self.status_code,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorInfo:
        """Rebuild from ``to_dict``'s output."""
        return cls(
            type=data.get("type", ""),
            message=data.get("message", ""),
            category=data.get("category", "internal"),
            traceback=data.get("traceback", ""),
            frames=tuple(FrameInfo(**f) for f in data.get("frames", ())),
            bases=tuple(data.get("bases", ())),
            status_code=data.get("status_code"),
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run, as the journal keeps it."""

    id: str
    workflow: str
    """The workflow's name."""
    version: str
    definition_hash: str
    status: RunStatus
    definition: Mapping[str, Any] = field(default_factory=dict)
    """The whole definition (sub-workflows inlined), so a run can resume without its file."""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None
    failed_step: str | None = None
    """The step whose failure ended the run."""
    user: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    """Free labels; ``type`` is the workflow type used by analytics."""
    parent_run_id: str | None = None
    parent_step_id: str | None = None
    root_run_id: str | None = None
    """The top of the sub-workflow tree (itself for a root run)."""
    forked_from_run_id: str | None = None
    forked_from_step: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    source: str | None = None
    """The file the definition was loaded from, if any."""
    owner: str | None = None
    """Who holds the run's lease (``host:pid:id``), if anyone."""
    lease_expires_epoch: float | None = None
    """When that lease expires (Unix seconds, the database's clock)."""

    def owner_gone(self, now: float | None = None) -> bool:
        """Whether the run is unfinished and its owner's lease expired (the owner died).

        ``now`` defaults to this machine's clock, which is close enough for display.
        """
        import time

        if self.status.is_finished or self.lease_expires_epoch is None:
            return False
        return self.lease_expires_epoch <= (time.time() if now is None else now)

    @property
    def duration_ms(self) -> float | None:
        """Milliseconds from start to end, once finished."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() * 1000.0


@dataclass(frozen=True, slots=True)
class StepAttemptRecord:
    """One attempt of one step (skipped steps get one record with attempt 0)."""

    run_id: str
    step_id: str
    attempt: int
    status: StepStatus
    input: Mapping[str, Any] | None = None
    """The resolved input the attempt ran with."""
    output: Any = None
    error: ErrorInfo | None = None
    ready_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None
    queue_wait_ms: float | None = None
    """Ready to started: time spent waiting for a concurrency slot (and the debugger)."""
    cpu_time_ms: float | None = None
    """Thread CPU time of a sync step run in a worker thread; ``None`` otherwise."""
    peak_memory_bytes: int | None = None
    """Peak traced Python allocation during the attempt, when measurement is on."""
    child_run_id: str | None = None
    """For a sub-workflow step: the child run."""
    reused_from_run_id: str | None = None
    """Set when the output was taken from another run (fork) instead of executing."""
    skip_reason: str | None = None
    """For skipped steps: ``condition`` or ``upstream``."""
    cause_step_id: str | None = None
    """For a step skipped or cancelled because of another step: that step."""
    rewound: bool = False
    """Set aside by a debugger rewind (kept for history; not part of the run's state)."""
    vars_after: Mapping[str, Any] | None = None
    """The run variables after this step's ``set`` (only when it set any)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended."""

    id: str
    """The run id."""
    workflow: str
    """The workflow's name."""
    status: RunStatus
    """``completed``, ``failed`` or ``cancelled``."""
    outputs: dict[str, Any] | None = None
    """The workflow's outputs (completed runs only)."""
    error: ErrorInfo | None = None
    """The error that failed the run (the first failure in causal order)."""
    failed_step: str | None = None
    """The step whose failure ended the run."""
    duration_ms: float | None = None
    """Wall time of this execution, in milliseconds."""

    @property
    def ok(self) -> bool:
        """Whether the run completed."""
        return self.status is RunStatus.COMPLETED


# -- what diagnosis reads about past failures (the store fills these) --------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed step attempt with its fingerprint (see ``flowscope.engine.fingerprint``)."""

    run_id: str
    step_id: str
    attempt: int
    workflow: str
    version: str
    definition_hash: str | None
    user: str | None
    workflow_type: str | None
    error_type: str
    category: str
    fingerprint: str
    normalized: str
    """The error message with its variable parts replaced by placeholders."""
    is_cascade: bool
    """A sub-workflow step failing only because its child run failed."""
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class Success:
    """A completed attempt of a step (the evidence that a failure was resolved)."""

    run_id: str
    version: str
    definition_hash: str | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class StepSample:
    """Recent attempts of one step: how often it failed (durations come from
    :mod:`flowscope.diagnosis.durations`)."""

    attempts: int
    """Attempts that ended (completed or failed)."""
    failures: int

    @property
    def failure_rate(self) -> float | None:
        """Failed attempts over all attempts in [0, 1] (``None`` with no attempts)."""
        return self.failures / self.attempts if self.attempts else None
