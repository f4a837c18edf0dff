"""The debugger's storage in process memory (the memory store's ``debug_storage()``).

Same contract and semantics as :mod:`flowscope.store.debug_sql`: the debugger declares it
(``flowscope.debugger.persistence.DebugStorage``) in plain data, dicts of JSON values,
strings, numbers and timezone-aware datetimes. Values are copied on the way in and on
the way out, following JSON rules (tuples become lists, other objects are refused), so
neither the writer nor a reader can change what is stored, and a test on this store
means the same as one on SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flowscope.errors import StoreError
from flowscope.store._codec import copy_json_fast
from flowscope.store._debug_rows import breakpoint_row, session_row, snapshot_row
from flowscope.store.schema import to_utc

_HINT = "the debugger opens a session before it stores its breakpoints and snapshots"


class MemoryDebugStorage:
    """Debug sessions, breakpoints and snapshot rows kept in dicts.

    Args:
        is_closed: Tells whether the owning store was closed (then every call refuses,
            as on a closed SQL store).
    """

    def __init__(self, is_closed: Callable[[], bool] = lambda: False) -> None:
        self._is_closed = is_closed
        self._lock = threading.Lock()
        self._sessions: dict[str, dict[str, Any]] = {}
        #: session id -> breakpoint id -> stored row (the SQL primary key).
        self._breakpoints: dict[str, dict[int, dict[str, Any]]] = {}
        #: session id -> snapshot id -> stored row (the SQL primary key).
        self._snapshots: dict[str, dict[int, dict[str, Any]]] = {}

    def _check(self) -> None:
        if self._is_closed():
            raise StoreError("the store is closed", hint="open a new one with open_store()")

    def _need_session(self, session_id: str, doing: str) -> None:
        if session_id not in self._sessions:
            raise StoreError(f"cannot {doing}: no debug session {session_id!r} is stored",
                             hint=_HINT)

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, session: Mapping[str, Any]) -> None:
        """Store a new session (keys: id, user, run_id, workflow, options, created_at,
        closed_at).

        Raises:
            StoreError: A session with this id exists, a datetime is naive, or the
                options are not JSON data.
        """
        row = session_row(session)
        sid = row["id"]
        with self._lock:
            self._check()
            if sid in self._sessions:
                raise StoreError(f"cannot store debug session {sid!r}: that id is taken",
                                 hint="give each session a new id")
            self._sessions[sid] = row

    def close_session(self, session_id: str, at: datetime) -> None:
        """Mark a session closed at ``at`` (nothing happens for an unknown id)."""
        at = to_utc(at)
        with self._lock:
            self._check()
            row = self._sessions.get(session_id)
            if row is not None:
                row["closed_at"] = at

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """Return a copy of the stored session, or ``None``."""
        with self._lock:
            self._check()
            row = self._sessions.get(session_id)
            return None if row is None else {**row, "options": copy_json_fast(row["options"])}

    # -- breakpoints ------------------------------------------------------------------

    def put_breakpoint(self, session_id: str, breakpoint: Mapping[str, Any]) -> None:
        """Insert or replace a breakpoint of a session (keys: id, kind, spec, enabled,
        hit_count, created_at).

        Raises:
            StoreError: The session is not stored, a datetime is naive, or the spec is
                not JSON data.
        """
        row = breakpoint_row(session_id, breakpoint)
        bp_id = row["id"]
        with self._lock:
            self._check()
            self._need_session(session_id, f"store breakpoint {bp_id}")
            self._breakpoints.setdefault(session_id, {})[bp_id] = row

    def update_breakpoint_state(self, session_id: str, breakpoint_id: int, *,
                                hit_count: int, enabled: bool) -> None:
        """Store a breakpoint's hit count and enabled flag (nothing for an unknown one)."""
        with self._lock:
            self._check()
            row = self._breakpoints.get(session_id, {}).get(breakpoint_id)
            if row is not None:
                row["hit_count"], row["enabled"] = int(hit_count), bool(enabled)

    def delete_breakpoint(self, session_id: str, breakpoint_id: int) -> None:
        """Remove a breakpoint (nothing happens for an unknown one)."""
        with self._lock:
            self._check()
            self._breakpoints.get(session_id, {}).pop(breakpoint_id, None)

    def breakpoints(self, session_id: str) -> list[dict[str, Any]]:
        """Return copies of the session's breakpoints, by id."""
        with self._lock:
            self._check()
            rows = self._breakpoints.get(session_id, {})
            return [{**rows[i], "spec": copy_json_fast(rows[i]["spec"])} for i in sorted(rows)]

    # -- snapshot history -------------------------------------------------------------

    def add_snapshots(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append snapshot rows, all or none (keys: session_id, id, run_id, seq, step_id,
        label, state, taken_at).

        Raises:
            StoreError: A session is not stored, a (session, id) pair is taken, a
                datetime is naive, or a state is not JSON data.
        """
        copies = [snapshot_row(r) for r in rows]
        with self._lock:
            self._check()
            seen: set[tuple[str, int]] = set()
            for row in copies:
                key = (row["session_id"], row["id"])
                self._need_session(key[0], f"store snapshot {key[1]}")
                if key in seen or key[1] in self._snapshots.get(key[0], {}):
                    raise StoreError(
                        f"cannot store snapshot {key[1]} of session {key[0]!r}: that id is "
                        "taken", hint="give each snapshot of a session a new id")
                seen.add(key)
            for row in copies:
                self._snapshots.setdefault(row["session_id"], {})[row["id"]] = row

    def snapshot_rows(self, session_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return copies of a run's snapshot rows in a session, by id (the order taken)."""
        with self._lock:
            self._check()
            rows = self._snapshots.get(session_id, {})
            return [{**rows[i], "state": copy_json_fast(rows[i]["state"])}
                    for i in sorted(rows) if rows[i]["run_id"] == run_id]

    def __repr__(self) -> str:
        return "MemoryDebugStorage()"

