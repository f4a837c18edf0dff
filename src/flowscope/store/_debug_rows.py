"""The debugger's rows as both debug storages take them in: checked and copied once.

The SQL and memory implementations of the debugger's storage contract read the same
keys, refuse the same values (naive datetimes, data that is not JSON) with the same
``StoreError``, and keep private copies, so neither can accept what the other refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flowscope.errors import FlowscopeError, StoreError
from flowscope.store._codec import json_copy
from flowscope.store.schema import to_utc


def session_row(session: Mapping[str, Any]) -> dict[str, Any]:
    """A session's stored values: id, user, run_id, workflow, options, created_at, closed_at."""
    sid = str(session["id"])
    return {
        "id": sid,
        "user": str(session["user"]),
        "run_id": session.get("run_id"),
        "workflow": session.get("workflow"),
        "options": json_value(session.get("options") or {}, f"the options of session {sid}"),
        "created_at": to_utc(session["created_at"]),
        "closed_at": utc_or_none(session.get("closed_at")),
    }


def breakpoint_row(session_id: str, breakpoint: Mapping[str, Any]) -> dict[str, Any]:
    """A breakpoint's stored values: session_id, id, kind, spec, enabled, hit_count,
    created_at."""
    bp_id = int(breakpoint["id"])
    return {
        "session_id": session_id,
        "id": bp_id,
        "kind": str(breakpoint["kind"]),
        "spec": json_value(breakpoint["spec"], f"the spec of breakpoint {bp_id}"),
        "enabled": bool(breakpoint["enabled"]),
        "hit_count": int(breakpoint["hit_count"]),
        "created_at": to_utc(breakpoint["created_at"]),
    }


def snapshot_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A snapshot row's stored values: session_id, id, run_id, seq, step_id, label, state,
    taken_at."""
    return {
        "session_id": str(row["session_id"]),
        "id": int(row["id"]),
        "run_id": str(row["run_id"]),
        "seq": int(row["seq"]),
        "step_id": row.get("step_id"),
        "label": row.get("label"),
        "state": json_value(row["state"], f"the state of snapshot {row['id']}"),
        "taken_at": to_utc(row["taken_at"]),
    }


def utc_or_none(value: datetime | None) -> datetime | None:
    """``value`` in UTC (naive ones refused), or None."""
    return None if value is None else to_utc(value)


def json_value(value: Any, what: str) -> Any:
    """A private copy of JSON data, as a JSON round trip gives it back.

    Raises:
        StoreError: ``value`` is not JSON data.
    """
    try:
        return json_copy(value, lambda: what)
    except FlowscopeError as exc:
        raise StoreError(f"cannot store debugger data: {exc.message}", hint=exc.hint) from exc
