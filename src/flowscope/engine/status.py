"""Run and step statuses, and the one place where run transitions are validated."""

from __future__ import annotations

from enum import StrEnum

from flowscope.errors import InvalidTransitionError


class RunStatus(StrEnum):
    """Where a run is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        """Whether the run has ended (completed, failed or cancelled)."""
        return self in FINISHED


FINISHED: frozenset[RunStatus] = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
)

#: Allowed run transitions. ``pending -> failed`` covers a run that fails before its
#: first step (for example a sub-workflow that cannot be loaded).
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.PAUSED, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED,
         RunStatus.INTERRUPTED}
    ),
    RunStatus.PAUSED: frozenset(
        {RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.INTERRUPTED}
    ),
    # Its owner stopped executing it (Ctrl-C, SIGTERM): resume picks it up again.
    RunStatus.INTERRUPTED: frozenset(
        {RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}
    ),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


def check_transition(current: RunStatus, new: RunStatus, *, run_id: str | None = None) -> RunStatus:
    """Return ``new`` if a run may go from ``current`` to it; raise otherwise."""
    if new not in TRANSITIONS[current]:
        raise InvalidTransitionError(current.value, new.value, run_id=run_id)
    return new


class StepStatus(StrEnum):
    """The outcome of one step attempt (or of a step that never ran)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
