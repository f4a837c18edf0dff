"""The journal contract: what the engine needs from a store.

The engine calls these methods on its event loop thread. Each method is one
transaction: ``record_step`` commits a step's result together with the events that led
to it, before any step that needs it starts (the durability rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from flowscope.engine.events import Event
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus


@runtime_checkable
class Journal(Protocol):
    """Durable record of runs, step attempts and events."""

    def create_run(self, run: RunRecord, events: Sequence[Event] = ()) -> None:
        """Insert a new run (and its first events) in one transaction."""
        ...

    def record_step(
        self,
        attempt: StepAttemptRecord,
        events: Sequence[Event] = (),
        *,
        run_vars: Mapping[str, Any] | None = None,
    ) -> None:
        """Commit one step attempt, its events and (if given) the run's new variables."""
        ...

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus,
        events: Sequence[Event] = (),
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        outputs: Mapping[str, Any] | None = None,
        error: ErrorInfo | None = None,
        failed_step: str | None = None,
        run_vars: Mapping[str, Any] | None = None,
    ) -> None:
        """Change a run's status (and the fields given) with its events, in one transaction."""
        ...

    def append_events(self, events: Sequence[Event]) -> None:
        """Store events that belong to no step result (pauses, logs, edits)."""
        ...

    def mark_rewound(self, run_id: str, step_ids: Sequence[str]) -> None:
        """Flag the live attempts of these steps as rewound (kept, but no longer state)."""
        ...

    def get_run(self, run_id: str) -> RunRecord:
        """Return the run with this id or unique id prefix (``RunNotFoundError`` otherwise)."""
        ...

    def get_steps(self, run_id: str, *, include_rewound: bool = False) -> list[StepAttemptRecord]:
        """Return the run's step attempts in the order they were recorded."""
        ...

    def get_events(self, run_id: str, *, after_seq: int = 0) -> list[Event]:
        """Return the run's events with ``seq > after_seq``, in order."""
        ...

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | str | None = None,
        user: str | None = None,
        parent_run_id: str | None = None,
        roots_only: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 50,
    ) -> list[RunRecord]:
        """Return runs, newest first, filtered by the arguments given."""
        ...

    def find_child_run(self, parent_run_id: str, parent_step_id: str) -> RunRecord | None:
        """Return the newest child run started by this step, if any (used by resume)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
