"""The journal contract: what the engine needs from a store.

The engine calls these methods on its event loop thread. Each method is one
transaction: ``record_step`` commits a step's result together with the events that led
to it, before any step that needs it starts (the durability rule).

Every write of a run takes the writer's ``fence`` (see ``engine/leases.py``): the store
refuses it with ``LeaseLostError`` when the run's lease epoch moved on. ``fence=None``
writes unfenced (tests, tools that own the store outright).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from flowscope.engine.events import Event, EventKind
from flowscope.engine.leases import Fence, Lease, LeaseInfo, RunCommand
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus


@runtime_checkable
class Journal(Protocol):
    """Durable record of runs, step attempts and events."""

    def create_run(self, run: RunRecord, events: Sequence[Event] = (), *,
                   fence: Fence | None = None) -> None:
        """Insert a new run (and its first events) in one transaction."""
        ...

    def record_step(
        self,
        attempt: StepAttemptRecord,
        events: Sequence[Event] = (),
        *,
        run_vars: Mapping[str, Any] | None = None,
        fence: Fence | None = None,
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
        fence: Fence | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """Change a run's status (and the fields given) with its events, in one transaction.

        ``duration_ms`` keeps a duration reported from outside (a run tracked by
        analytics); by default a finished run's duration is its end minus its start.
        """
        ...

    def append_events(self, events: Sequence[Event], *, fence: Fence | None = None,
                      run_vars: tuple[str, Mapping[str, Any]] | None = None) -> None:
        """Store events that belong to no step result (pauses, logs, edits).

        ``run_vars`` is ``(run_id, vars)``: also write the run's variables (an edit).
        """
        ...

    def mark_rewound(self, run_id: str, step_ids: Sequence[str], *,
                     fence: Fence | None = None) -> None:
        """Flag the live attempts of these steps as rewound (kept, but no longer state)."""
        ...

    def last_seq(self, run_id: str) -> int:
        """The highest event seq stored for the run (0 when it has none)."""
        ...

    # -- ownership ---------------------------------------------------------------------

    def acquire_lease(self, run_id: str, owner: str, *, ttl: float,
                      force: bool = False) -> Lease:
        """Take the run's lease (a new epoch); ``RunOwnedError`` if another owner holds
        a live one, unless ``force``."""
        ...

    def renew_lease(self, lease: Lease, *, ttl: float) -> Lease:
        """Push the lease's expiry ``ttl`` seconds past now; ``LeaseLostError`` if it moved on."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up (its epoch stays, so the old holder stays fenced out)."""
        ...

    def lease_info(self, run_id: str) -> LeaseInfo:
        """Who holds the run's lease, read against the database clock."""
        ...

    def send_command(self, run_id: str, kind: str, *, user: str | None = None) -> None:
        """Ask the owner of a run to do something (``cancel``)."""
        ...

    def take_commands(self, run_ids: list[str]) -> list[RunCommand]:
        """Return the commands not yet taken for these runs, and mark them taken."""
        ...

    def get_run(self, run_id: str) -> RunRecord:
        """Return the run with this id or unique id prefix (``RunNotFoundError`` otherwise)."""
        ...

    def get_steps(self, run_id: str, *, include_rewound: bool = False) -> list[StepAttemptRecord]:
        """Return the run's step attempts in the order they were recorded."""
        ...

    def get_events(self, run_id: str, *, after_seq: int = 0,
                   kinds: Sequence[EventKind] | None = None) -> list[Event]:
        """Return the run's events with ``seq > after_seq`` (of these kinds), in order."""
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
