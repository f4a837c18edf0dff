"""Where sessions, breakpoints and snapshot history are kept.

On a SQL store they go to the debugger's own tables (migration ``0002_debugger``); on
the memory store (``store.dialect == "memory"``) they are kept in this object.

Snapshot history rows are stored as they are given; their delta format is written and
read by :mod:`flowscope.debugger.history`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowscope.debugger import schema
from flowscope.debugger.breakpoints import Breakpoint
from flowscope.errors import StoreError


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
    """Debugger persistence on top of a journal store (SQL tables or memory)."""

    def __init__(self, store: Any) -> None:
        self.dialect: str = getattr(store, "dialect", "memory")
        self._sql: sa.Engine | None = None
        if self.dialect != "memory":
            engine = getattr(store, "engine", None)
            if not isinstance(engine, sa.Engine):
                raise StoreError(f"store {store!r} has no SQL engine for debugger tables",
                                 hint="use open_store(...) to open the store")
            self._sql = engine
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionRecord] = {}
        self._bps: dict[tuple[str, int], dict[str, Any]] = {}
        self._snaps: list[SnapshotRow] = []

    def _write(self, stmt: Any, params: Any = None) -> None:
        assert self._sql is not None
        try:
            with self._sql.begin() as conn:
                conn.execute(stmt, params) if params is not None else conn.execute(stmt)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot write debugger data: {str(exc).splitlines()[0]}",
                             hint="check that the database is reachable and migrated") from exc

    def _read(self, stmt: Any) -> list[sa.Row[Any]]:
        assert self._sql is not None
        try:
            with self._sql.connect() as conn:
                return list(conn.execute(stmt))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read debugger data: {str(exc).splitlines()[0]}",
                             hint="check that the database is reachable and migrated") from exc

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, rec: SessionRecord) -> None:
        """Store a new session."""
        if self._sql is None:
            with self._lock:
                self._sessions[rec.id] = copy.deepcopy(rec)
            return
        self._write(schema.debug_sessions.insert().values(
            id=rec.id, user_id=rec.user, run_id=rec.run_id, workflow=rec.workflow,
            options=rec.options, created_at=rec.created_at, closed_at=rec.closed_at))

    def close_session(self, session_id: str, at: datetime) -> None:
        """Mark a session closed."""
        if self._sql is None:
            with self._lock:
                if session_id in self._sessions:
                    self._sessions[session_id].closed_at = at
            return
        t = schema.debug_sessions
        self._write(t.update().where(t.c.id == session_id).values(closed_at=at))

    def get_session(self, session_id: str) -> SessionRecord | None:
        """Return the stored session, or None."""
        if self._sql is None:
            with self._lock:
                rec = self._sessions.get(session_id)
                return copy.deepcopy(rec) if rec else None
        t = schema.debug_sessions
        rows = self._read(sa.select(t).where(t.c.id == session_id))
        if not rows:
            return None
        r = rows[0]
        return SessionRecord(r.id, r.user_id, r.run_id, r.workflow, dict(r.options or {}),
                             r.created_at, r.closed_at)

    # -- breakpoints --------------------------------------------------------------------

    def put_breakpoint(self, session_id: str, bp: Breakpoint, at: datetime) -> None:
        """Insert or replace a breakpoint."""
        row = {"session_id": session_id, "id": bp.id, "kind": bp.kind.value,
               "spec": bp.spec(), "enabled": bp.enabled, "hit_count": bp.hit_count,
               "created_at": at}
        if self._sql is None:
            with self._lock:
                self._bps[(session_id, bp.id)] = copy.deepcopy(row)
            return
        t = schema.debug_breakpoints
        assert self._sql is not None
        try:
            with self._sql.begin() as conn:
                conn.execute(t.delete().where(t.c.session_id == session_id, t.c.id == bp.id))
                conn.execute(t.insert().values(**row))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot store breakpoint: {str(exc).splitlines()[0]}",
                             hint="check that the database is reachable and migrated") from exc

    def update_breakpoint_state(self, session_id: str, bp: Breakpoint) -> None:
        """Store a breakpoint's hit count and enabled flag."""
        if self._sql is None:
            with self._lock:
                row = self._bps.get((session_id, bp.id))
                if row is not None:
                    row["hit_count"], row["enabled"] = bp.hit_count, bp.enabled
            return
        t = schema.debug_breakpoints
        self._write(t.update().where(t.c.session_id == session_id, t.c.id == bp.id)
                    .values(hit_count=bp.hit_count, enabled=bp.enabled))

    def delete_breakpoint(self, session_id: str, bp_id: int) -> None:
        """Remove a breakpoint."""
        if self._sql is None:
            with self._lock:
                self._bps.pop((session_id, bp_id), None)
            return
        t = schema.debug_breakpoints
        self._write(t.delete().where(t.c.session_id == session_id, t.c.id == bp_id))

    def breakpoints(self, session_id: str) -> list[dict[str, Any]]:
        """Return the session's stored breakpoints (spec, enabled, hit_count), by id."""
        if self._sql is None:
            with self._lock:
                rows = [copy.deepcopy(r) for (s, _), r in self._bps.items() if s == session_id]
            return sorted(rows, key=lambda r: r["id"])
        t = schema.debug_breakpoints
        got = self._read(sa.select(t).where(t.c.session_id == session_id).order_by(t.c.id))
        return [dict(r._mapping) for r in got]

    # -- snapshots ----------------------------------------------------------------------

    def add_snapshots(self, rows: Sequence[SnapshotRow]) -> None:
        """Append snapshot rows (one transaction)."""
        if not rows:
            return
        if self._sql is None:
            with self._lock:
                self._snaps.extend(rows)
            return
        self._write(schema.debug_snapshots.insert(), [
            {"session_id": r.session_id, "id": r.id, "run_id": r.run_id, "seq": r.seq,
             "step_id": r.step_id, "label": r.label, "state": dict(r.state),
             "taken_at": r.taken_at} for r in rows])

    def snapshot_rows(self, session_id: str, run_id: str) -> list[SnapshotRow]:
        """Return a run's stored snapshot rows in the order they were taken."""
        if self._sql is None:
            with self._lock:
                return [r for r in self._snaps if r.session_id == session_id
                        and r.run_id == run_id]
        t = schema.debug_snapshots
        got = self._read(sa.select(t).where(t.c.session_id == session_id, t.c.run_id == run_id)
                         .order_by(t.c.id))
        return [SnapshotRow(r.session_id, r.id, r.run_id, r.seq, r.step_id, r.label,
                            r.state, r.taken_at) for r in got]
