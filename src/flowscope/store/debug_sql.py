"""The debugger's storage on a SQL store (the SQL store's ``debug_storage()``).

The debugger declares the contract (``flowscope.debugger.persistence.DebugStorage``) in
plain data; this module keeps it in the ``debug_sessions``, ``debug_breakpoints`` and
``debug_snapshots`` tables of :mod:`flowscope.store.schema` (migration ``0002_debugger``)
with SQLAlchemy Core on the store's engine. Debugger writes are rare next to the
journal's (a session, a breakpoint, a hit, a run's history when it ends), so they take
the ordinary Core path rather than the journal's pre-rendered DBAPI statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowscope.errors import StoreError
from flowscope.store._debug_rows import breakpoint_row, session_row, snapshot_row
from flowscope.store.schema import debug_breakpoints, debug_sessions, debug_snapshots, to_utc

_HINT = "check that the database is reachable and migrated (the debug session must exist)"


class SQLDebugStorage:
    """Debug sessions, breakpoints and snapshot rows in the store's SQL tables.

    Args:
        engine: The store's SQLAlchemy engine (SQLite or PostgreSQL).
        is_closed: Tells whether the owning store was closed (then every call refuses).
    """

    def __init__(self, engine: sa.Engine, is_closed: Callable[[], bool] = lambda: False) -> None:
        self._engine = engine
        self._is_closed = is_closed

    def _write(self, doing: str, *statements: tuple[Any, Any]) -> None:
        """Run the statements (each with its parameters or None) in one transaction."""
        self._check()
        try:
            with self._engine.begin() as conn:
                for stmt, params in statements:
                    if params is None:
                        conn.execute(stmt)
                    else:
                        conn.execute(stmt, params)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot {doing}: {_first_line(exc)}", hint=_HINT) from exc

    def _read(self, stmt: sa.Select[Any]) -> list[sa.Row[Any]]:
        self._check()
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(stmt))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read debugger data: {_first_line(exc)}",
                             hint=_HINT) from exc

    def _check(self) -> None:
        if self._is_closed():
            raise StoreError("the store is closed", hint="open a new one with open_store()")

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, session: Mapping[str, Any]) -> None:
        """Store a new session (keys: id, user, run_id, workflow, options, created_at,
        closed_at).

        Raises:
            StoreError: A session with this id exists, a datetime is naive, the options
                are not JSON data, or the database cannot be written.
        """
        values = session_row(session)
        sid = values["id"]
        values["user_id"] = values.pop("user")
        self._write(f"store debug session {sid!r}", (debug_sessions.insert(), values))

    def close_session(self, session_id: str, at: datetime) -> None:
        """Mark a session closed at ``at`` (nothing happens for an unknown id)."""
        t = debug_sessions
        self._write(f"close debug session {session_id!r}",
                    (t.update().where(t.c.id == session_id).values(closed_at=to_utc(at)), None))

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """Return the stored session, or ``None``."""
        t = debug_sessions
        rows = self._read(sa.select(t).where(t.c.id == session_id))
        if not rows:
            return None
        r = rows[0]
        return {"id": r.id, "user": r.user_id, "run_id": r.run_id, "workflow": r.workflow,
                "options": dict(r.options or {}), "created_at": r.created_at,
                "closed_at": r.closed_at}

    # -- breakpoints ------------------------------------------------------------------

    def put_breakpoint(self, session_id: str, breakpoint: Mapping[str, Any]) -> None:
        """Insert or replace a breakpoint of a session (keys: id, kind, spec, enabled,
        hit_count, created_at).

        Raises:
            StoreError: The session is not stored, a datetime is naive, the spec is not
                JSON data, or the database cannot be written.
        """
        t = debug_breakpoints
        values = breakpoint_row(session_id, breakpoint)
        bp_id = values["id"]
        # Delete and insert, not a dialect-specific upsert: the same SQL on both.
        self._write(f"store breakpoint {bp_id}",
                    (t.delete().where(t.c.session_id == session_id, t.c.id == bp_id), None),
                    (t.insert(), values))

    def update_breakpoint_state(self, session_id: str, breakpoint_id: int, *,
                                hit_count: int, enabled: bool) -> None:
        """Store a breakpoint's hit count and enabled flag (nothing for an unknown one)."""
        t = debug_breakpoints
        stmt = (t.update().where(t.c.session_id == session_id, t.c.id == breakpoint_id)
                .values(hit_count=int(hit_count), enabled=bool(enabled)))
        self._write(f"store the state of breakpoint {breakpoint_id}", (stmt, None))

    def delete_breakpoint(self, session_id: str, breakpoint_id: int) -> None:
        """Remove a breakpoint (nothing happens for an unknown one)."""
        t = debug_breakpoints
        self._write(f"delete breakpoint {breakpoint_id}",
                    (t.delete().where(t.c.session_id == session_id, t.c.id == breakpoint_id),
                     None))

    def breakpoints(self, session_id: str) -> list[dict[str, Any]]:
        """Return the session's breakpoints, by id."""
        t = debug_breakpoints
        rows = self._read(sa.select(t).where(t.c.session_id == session_id).order_by(t.c.id))
        return [dict(r._mapping) for r in rows]

    # -- snapshot history -------------------------------------------------------------

    def add_snapshots(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append snapshot rows in one transaction (keys: session_id, id, run_id, seq,
        step_id, label, state, taken_at).

        Raises:
            StoreError: A session is not stored, a (session, id) pair is taken, a
                datetime is naive, a state is not JSON data, or the database cannot be
                written.
        """
        if not rows:
            return
        values = [snapshot_row(r) for r in rows]
        self._write("store debugger snapshots", (debug_snapshots.insert(), values))

    def snapshot_rows(self, session_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return a run's snapshot rows in a session, by id (the order they were taken)."""
        t = debug_snapshots
        rows = self._read(sa.select(t).where(t.c.session_id == session_id, t.c.run_id == run_id)
                          .order_by(t.c.id))
        return [dict(r._mapping) for r in rows]

    def __repr__(self) -> str:
        return f"SQLDebugStorage({self._engine.url.render_as_string(hide_password=True)!r})"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
