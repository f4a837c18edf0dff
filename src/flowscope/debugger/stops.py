"""What a stop reports, how stepping is recorded, and watch results."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flowscope.debugger.breakpoints import Breakpoint
from flowscope.engine.hooks import Frame
from flowscope.engine.records import ErrorInfo


class StopReason(StrEnum):
    """Why a run stopped."""

    ENTRY = "entry"
    BREAKPOINT = "breakpoint"
    STEP = "step"
    PAUSE = "pause"
    EXCEPTION = "exception"
    WATCH = "watch"


class StepMode(StrEnum):
    """Where the next stop is (recorded by a command, checked before each step)."""

    CONTINUE = "continue"
    """Only at breakpoints."""
    OVER = "step_over"
    """At the next step of the same run (or of an ancestor, once that run ended)."""
    INTO = "step_into"
    """At the first step of the sub-workflow started by the current step."""
    OUT = "step_out"
    """At the next step of the parent run."""
    PAUSE = "pause"
    """Before the next step that starts anywhere in the run tree."""


@dataclass(frozen=True, slots=True)
class WatchValue:
    """A watch's value at a stop."""

    expression: str
    value: Any = None
    changed: bool = False
    """Whether the value differs from the one at the previous stop."""
    error: str | None = None
    """Set (and ``value`` is None) when the expression could not be evaluated."""


@dataclass(frozen=True, slots=True)
class Stop:
    """One stop of a run, as front ends see it."""

    reason: StopReason
    run_id: str
    step_id: str
    frames: tuple[Frame, ...]
    """From the root run down to the stopped step."""
    breakpoint: Breakpoint | None = None
    """The breakpoint hit (reason ``breakpoint``, or ``exception`` for a failure breakpoint)."""
    depth: int = 1
    """1 in the root run, 2 in a sub-workflow, ..."""
    session_id: str = ""
    number: int = 0
    """Counts the session's stops from 1."""
    error: ErrorInfo | None = None
    """For ``exception`` stops: the failure."""
    watches: tuple[WatchValue, ...] = ()
    snapshot_id: int | None = None
    """The snapshot taken at this step boundary."""
    attempt: int = 1

    @property
    def root_run_id(self) -> str:
        """The root run of the stopped tree."""
        return self.frames[0].run_id

    def to_dict(self) -> dict[str, Any]:
        """Return JSON data."""
        return {
            "reason": self.reason.value, "run_id": self.run_id, "step_id": self.step_id,
            "frames": [{"run_id": f.run_id, "workflow": f.workflow, "step_id": f.step_id}
                       for f in self.frames],
            "breakpoint": self.breakpoint.id if self.breakpoint else None,
            "depth": self.depth, "session_id": self.session_id, "number": self.number,
            "error": self.error.to_dict() if self.error else None,
            "watches": [{"expression": w.expression, "value": w.value, "changed": w.changed,
                         "error": w.error} for w in self.watches],
            "snapshot_id": self.snapshot_id, "attempt": self.attempt,
        }
