"""Turning records and events into stored values and back, shared by both stores."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from flowscope.engine.events import Event
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.errors import OutputNotSerializableError, StoreError
from flowscope.store.schema import dumps_json

_BASE_FIELDS = frozenset({"run_id", "seq", "ts", "step_id"})
_PAYLOAD_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def payload_fields(cls: type[Event]) -> tuple[str, ...]:
    """Return the kind-specific field names of an event class (cached)."""
    names = _PAYLOAD_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS)
        _PAYLOAD_FIELDS[cls] = names
    return names


_NO_DEFAULT = object()
_PAYLOAD_DEFAULTS: dict[type[Event], tuple[tuple[str, Any], ...]] = {}


def _payload_defaults(cls: type[Event]) -> tuple[tuple[str, Any], ...]:
    found = _PAYLOAD_DEFAULTS.get(cls)
    if found is None:
        out = []
        for f in dataclasses.fields(cls):
            if f.name in _BASE_FIELDS:
                continue
            if f.default is not dataclasses.MISSING:
                out.append((f.name, f.default))
            elif f.default_factory is not dataclasses.MISSING:
                out.append((f.name, f.default_factory()))
            else:
                out.append((f.name, _NO_DEFAULT))
        found = tuple(out)
        _PAYLOAD_DEFAULTS[cls] = found
    return found


def event_payload(event: Event) -> dict[str, Any]:
    """Return the event's kind-specific fields to store, leaving out those at their default.

    Every event is rebuilt with its class's defaults (``event_from_parts``), so a field
    left out reads back the same; the journal then stores only what says something
    (a first attempt's ``attempt: 1`` is not written on every event).
    """
    out: dict[str, Any] = {}
    for name, default in _payload_defaults(type(event)):
        value = getattr(event, name)
        if default is _NO_DEFAULT or type(value) is not type(default) or value != default:
            out[name] = value
    return out


def event_name(event: Event, field_name: str | None = None) -> str:
    """Describe an event (or one of its fields) for an error message."""
    what = f"the {event.kind.value} event #{event.seq} of run {event.run_id}"
    return what if field_name is None else f"the {field_name} of {what}"


def encode(value: Any, what: Callable[[], str]) -> str:
    """Return compact JSON text for ``value``.

    Args:
        value: The value to encode.
        what: Describes the value for the error message (called only on failure).

    Raises:
        OutputNotSerializableError: ``value`` is not plain JSON data.
    """
    try:
        return dumps_json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise OutputNotSerializableError(
            f"{what()} cannot be stored as JSON: {exc}",
            hint="use only dicts with string keys, lists, strings, numbers (not NaN or "
            "infinity), booleans and None; convert other objects first",
        ) from exc


def encode_or_none(value: Any, what: Callable[[], str]) -> str | None:
    """Like :func:`encode`, but ``None`` stays ``None`` (SQL NULL)."""
    return None if value is None else encode(value, what)


def json_copy(value: Any, what: Callable[[], str]) -> Any:
    """Return a private copy of JSON data, as a JSON round trip would give it back.

    Much cheaper than ``json.loads(json.dumps(value))`` for the small values steps
    usually produce: scalars are shared (they are immutable), containers are rebuilt.
    Tuples become lists and non-string keys become strings, exactly as in the SQL store.

    Raises:
        OutputNotSerializableError: ``value`` is not plain JSON data.
    """
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        if value != value or value in (_INF, -_INF):
            encode(value, what)  # raises with the same message as the SQL store
        return value
    if kind is dict or kind is list or kind is tuple:
        # Rare shapes (non-string keys, subclasses, deep nesting) take the exact path.
        try:
            return copy_json_fast(value)
        except NotPlainJSON:
            return json.loads(encode(value, what))
    return json.loads(encode(value, what))


_INF = float("inf")


class NotPlainJSON(Exception):
    """Raised by :func:`copy_json_fast` for anything but plain JSON data."""


def copy_json_fast(value: Any) -> Any:
    """Copy plain JSON data (exact dicts with str keys, lists, tuples, scalars).

    Raises:
        NotPlainJSON: Anything else; use :func:`json_copy` for it (it converts or
            explains).
    """
    kind = type(value)
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise NotPlainJSON
            out[key] = copy_json_fast(item)
        return out
    if kind is list or kind is tuple:
        return [copy_json_fast(item) for item in value]
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float and value == value and value not in (_INF, -_INF):
        return value
    raise NotPlainJSON


def parse_status(status: RunStatus | str) -> RunStatus:
    """Return ``status`` as a :class:`RunStatus`.

    Raises:
        StoreError: ``status`` names no run status.
    """
    try:
        return RunStatus(status)
    except ValueError:
        valid = ", ".join(s.value for s in RunStatus)
        raise StoreError(
            f"unknown run status {status!r}", hint=f"use one of: {valid}"
        ) from None


def check_limit(limit: int | None) -> None:
    """Refuse a negative ``limit``."""
    if limit is not None and limit < 0:
        raise StoreError(f"limit must be 0 or more, got {limit}", hint="pass limit=None for all")


MIN_PREFIX = 4
"""The shortest run id prefix accepted by ``get_run``."""


def ambiguous_hint(candidates: list[str]) -> str:
    """Return the hint for a run id prefix that matches several runs."""
    shown = ", ".join(candidates[:5]) + (", ..." if len(candidates) > 5 else "")
    return f"the prefix matches several runs ({shown}); give more characters"


def short_prefix_hint() -> str:
    """Return the hint for a run id prefix that is too short."""
    return f"give at least {MIN_PREFIX} characters of the run id"


def _error(data: Any) -> ErrorInfo | None:
    return None if data is None else ErrorInfo.from_dict(data)


def run_from_row(row: Any) -> RunRecord:
    """Build a run record from a ``runs`` row."""
    return RunRecord(
        id=row.id,
        workflow=row.workflow,
        version=row.version,
        definition_hash=row.definition_hash,
        status=RunStatus(row.status),
        definition=row.definition or {},
        inputs=row.inputs,
        outputs=row.outputs,
        vars=row.vars,
        error=_error(row.error),
        failed_step=row.failed_step,
        user=row.user_id,
        tags=row.tags,
        parent_run_id=row.parent_run_id,
        parent_step_id=row.parent_step_id,
        root_run_id=row.root_run_id,
        forked_from_run_id=row.forked_from_run_id,
        forked_from_step=row.forked_from_step,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        source=row.source,
        owner=row.owner_id,
        lease_expires_epoch=row.lease_expires_epoch,
    )


def step_from_row(row: Any) -> StepAttemptRecord:
    """Build an attempt record from a ``step_attempts`` row."""
    return StepAttemptRecord(
        run_id=row.run_id,
        step_id=row.step_id,
        attempt=row.attempt,
        status=StepStatus(row.status),
        input=row.input,
        output=row.output,
        error=_error(row.error),
        ready_at=row.ready_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_ms=row.duration_ms,
        queue_wait_ms=row.queue_wait_ms,
        cpu_time_ms=row.cpu_time_ms,
        peak_memory_bytes=row.peak_memory_bytes,
        child_run_id=row.child_run_id,
        reused_from_run_id=row.reused_from_run_id,
        skip_reason=row.skip_reason,
        cause_step_id=row.cause_step_id,
        rewound=bool(row.rewound),
        vars_after=row.vars_after,
    )
