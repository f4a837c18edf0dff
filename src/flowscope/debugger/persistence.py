"""Where sessions, breakpoints and snapshot history are kept: the debugger's storage contract.

:class:`DebugStorage` is the contract, in plain data (dicts of JSON values, strings,
numbers and timezone-aware datetimes), so that ``store/`` implements it without
importing the debugger: ``flowscope.store.debug_sql`` on the SQL tables and
``flowscope.store.debug_memory`` in dicts. A journal store hands out its implementation
from one method, ``debug_storage()``; the debugger never asks which kind of store it has.
:class:`DebugStore` turns the debugger's own types into those rows and back.

Snapshot history rows are stored as they are given; their delta format is written and
read by :mod:`flowscope.debugger.history`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from flowscope.debugger.breakpoints import Breakpoint
from flowscope.errors import DebuggerError


@runtime_checkable
class DebugStorage(Protocol):
    """What the debugger needs from a store: sessions, breakpoints, snapshot rows.

    Rows are plain dicts. Implementations copy them on the way in and out (a caller
    cannot change what is stored), refuse naive datetimes and non-JSON values with a
    ``StoreError``, and return timezone-aware UTC datetimes.

    - A session: ``id``, ``user``, ``run_id``, ``workflow``, ``options`` (JSON object),
      ``created_at``, ``closed_at``.
    - A breakpoint: ``id`` (unique in its session), ``kind``, ``spec`` (JSON object),
      ``enabled``, ``hit_count``, ``created_at``; read back with ``session_id`` too.
    - A snapshot row: ``session_id``, ``id`` (unique in its session), ``run_id``,
      ``seq``, ``step_id``, ``label``, ``state`` (JSON object), ``taken_at``.

    Breakpoints and snapshot rows belong to a stored session. (Runtime-checkable so a
    test can check that a store's object has every method.)
    """

    def create_session(self, session: Mapping[str, Any]) -> None:
        """Store a new session."""

    def close_session(self, session_id: str, at: datetime) -> None:
        """Mark a session closed (nothing happens for an unknown id)."""

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """Return the stored session, or None."""

    def put_breakpoint(self, session_id: str, breakpoint: Mapping[str, Any]) -> None:
        """Insert or replace a breakpoint of a session."""

    def update_breakpoint_state(self, session_id: str, breakpoint_id: int, *,
                                hit_count: int, enabled: bool) -> None:
        """Store a breakpoint's hit count and enabled flag (nothing for an unknown one)."""

    def delete_breakpoint(self, session_id: str, breakpoint_id: int) -> None:
        """Remove a breakpoint (nothing happens for an unknown one)."""

    def breakpoints(self, session_id: str) -> list[dict[str, Any]]:
        """Return the session's breakpoints, by id."""

    def add_snapshots(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append snapshot rows, all or none."""

    def snapshot_rows(self, session_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return a run's snapshot rows in a session, by id (the order they were taken)."""


class NoDebugStorageError(DebuggerError):
    """The engine's store keeps no debugger data (it has no ``debug_storage()``)."""

    def __init__(self, store: object) -> None:
        self.store = store
        super().__init__(
            f"the store {store!r} cannot keep debug sessions (it has no debug_storage())",
            hint="debug with a store from open_store(...), or give your journal a "
            "debug_storage() method that returns a DebugStorage")


def storage_of(store: object) -> DebugStorage:
    """Return the debugger's storage of a journal store, from its ``debug_storage()``.

    Raises:
        NoDebugStorageError: The store has no such method.
    """
    accessor = getattr(store, "debug_storage", None)
    if not callable(accessor):
        raise NoDebugStorageError(store)
    storage: DebugStorage = accessor()
    return storage


@dataclass(slots=True)
class SessionRecord:
    """A debug session as stored."""

    id: str
    user: str
    run_id: str | None
    workflow: str | None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One stored snapshot (``state`` is a delta; see :mod:`flowscope.debugger.history`)."""

    session_id: str
    id: int
    run_id: str
    seq: int
    step_id: str | None
    label: str | None
    state: Mapping[str, Any]
    taken_at: datetime


class DebugStore:
    """The debugger's persistence: its own types on top of a store's :class:`DebugStorage`.

    Args:
        store: The engine's journal store; its ``debug_storage()`` is used.

    Raises:
        NoDebugStorageError: The store keeps no debugger data.
    """

    def __init__(self, store: object) -> None:
        self.storage = storage_of(store)

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, rec: SessionRecord) -> None:
        """Store a new session."""
        self.storage.create_session({
            "id": rec.id, "user": rec.user, "run_id": rec.run_id, "workflow": rec.workflow,
            "options": rec.options, "created_at": rec.created_at, "closed_at": rec.closed_at})

    def close_session(self, session_id: str, at: datetime) -> None:
        """Mark a session closed."""
        self.storage.close_session(session_id, at)

    def get_session(self, session_id: str) -> SessionRecord | None:
        """Return the stored session, or None."""
        row = self.storage.get_session(session_id)
        if row is None:
            return None
        return SessionRecord(row["id"], row["user"], row["run_id"], row["workflow"],
                             dict(row["options"] or {}), row["created_at"], row["closed_at"])

    # -- breakpoints --------------------------------------------------------------------

    def put_breakpoint(self, session_id: str, bp: Breakpoint, at: datetime) -> None:
        """Insert or replace a breakpoint."""
        self.storage.put_breakpoint(session_id, {
            "id": bp.id, "kind": bp.kind.value, "spec": bp.spec(), "enabled": bp.enabled,
            "hit_count": bp.hit_count, "created_at": at})

    def update_breakpoint_state(self, session_id: str, bp: Breakpoint) -> None:
        """Store a breakpoint's hit count and enabled flag."""
        self.storage.update_breakpoint_state(session_id, bp.id, hit_count=bp.hit_count,
                                             enabled=bp.enabled)

    def delete_breakpoint(self, session_id: str, bp_id: int) -> None:
        """Remove a breakpoint."""
        self.storage.delete_breakpoint(session_id, bp_id)

    def breakpoints(self, session_id: str) -> list[dict[str, Any]]:
        """Return the session's stored breakpoints (spec, enabled, hit_count), by id."""
        return self.storage.breakpoints(session_id)

    # -- snapshots ----------------------------------------------------------------------

    def add_snapshots(self, rows: Sequence[SnapshotRow]) -> None:
        """Append snapshot rows (one transaction)."""
        if rows:
            self.storage.add_snapshots([
                {"session_id": r.session_id, "id": r.id, "run_id": r.run_id, "seq": r.seq,
                 "step_id": r.step_id, "label": r.label, "state": r.state,
                 "taken_at": r.taken_at} for r in rows])

    def snapshot_rows(self, session_id: str, run_id: str) -> list[SnapshotRow]:
        """Return a run's stored snapshot rows in the order they were taken."""
        return [SnapshotRow(r["session_id"], r["id"], r["run_id"], r["seq"], r["step_id"],
                            r["label"], r["state"], r["taken_at"])
                for r in self.storage.snapshot_rows(session_id, run_id)]
