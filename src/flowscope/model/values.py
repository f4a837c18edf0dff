"""Plain values every room checks the same way: JSON data, durations, aware datetimes.

Each function here is the one definition of its check. The engine, the store, the
debugger, diagnosis, analytics and the CLI all call it (the engine may import ``model``),
passing the ``FlowscopeError`` subclass their callers expect through ``error``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.errors import FlowscopeError, InvalidValueError
from flowscope.types import JSONValue

__all__ = ["is_duration", "parse_duration", "parse_seconds", "plain_json", "require_aware"]

# -- JSON data -------------------------------------------------------------------------------


class _NotPlain(Exception):
    """Internal: the fast walk met something that is not plain JSON data."""


def plain_json(
    value: Any, what: str = "the value", *, allow_nan: bool = False,
    error: type[FlowscopeError] = InvalidValueError,
) -> JSONValue:
    """Return a private copy of ``value`` as plain JSON data; tuples become lists.

    Accepted: dicts with string keys, lists and tuples, strings, integers, booleans,
    ``None`` and finite floats (NaN and infinity too with ``allow_nan``). Subclasses of
    these (``IntEnum``, ``StrEnum``, ``OrderedDict``) are copied as their base type, as a
    JSON round trip would give them back. Scalars are shared (they are immutable),
    containers are rebuilt.

    Args:
        value: The value to check and copy.
        what: Names the value in the error, e.g. ``"the output of step 'load'"``; the
            offending place is appended as a path (``$.items[2].price``).
        allow_nan: Let NaN and infinities through (JSON has no such numbers).
        error: The ``FlowscopeError`` subclass to raise.

    Raises:
        FlowscopeError: ``error``, naming the path of the first value that is not plain
            JSON data.
    """
    try:
        copied: JSONValue = _copy(value, allow_nan)
        return copied
    except (_NotPlain, RecursionError):
        pass
    # The slow walk runs only to name the place: the fast one builds no path strings.
    try:
        path, problem = _find_problem(value, "$", allow_nan, set())
    except RecursionError:
        path, problem = "$", "nests too deeply"
    raise error(f"{what} is not JSON data: {path} {problem}",
                hint="use dicts with string keys, lists, strings, numbers (finite), "
                "booleans and None; convert other objects first")


def _copy(value: Any, allow_nan: bool) -> Any:
    kind = type(value)
    # Exact types first: they are nearly all values, and ``type() is`` is the cheap test.
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                if not isinstance(key, str):
                    raise _NotPlain
                key = key[:]  # a str subclass: its plain text
            out[key] = _copy(item, allow_nan)
        return out
    if kind is list or kind is tuple:
        return [_copy(item, allow_nan) for item in value]
    if kind is float:
        if not allow_nan and not math.isfinite(value):
            raise _NotPlain
        return value
    # Subclasses, as json.dumps sees them (bool cannot be subclassed).
    if isinstance(value, str):
        return value[:]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _copy(float(value), allow_nan)
    if isinstance(value, dict | list | tuple):
        return _copy(dict(value) if isinstance(value, dict) else list(value), allow_nan)
    raise _NotPlain


def _find_problem(value: Any, path: str, allow_nan: bool,
                  seen: set[int]) -> tuple[str, str]:
    if isinstance(value, str | int | bool) or value is None:
        return path, "is fine"
    if isinstance(value, float):
        return path, f"is {value}, which JSON cannot hold"
    if isinstance(value, dict | list | tuple):
        if id(value) in seen:
            return path, "contains itself"
        seen.add(id(value))
        items = (value.items() if isinstance(value, dict) else enumerate(value))
        for key, item in items:
            if isinstance(value, dict) and not isinstance(key, str):
                return path, f"has a key {key!r} that is not a string"
            sub = _key_path(path, str(key)) if isinstance(value, dict) else f"{path}[{key}]"
            try:
                _copy(item, allow_nan)
            except (_NotPlain, RecursionError):
                return _find_problem(item, sub, allow_nan, seen)
        return path, "nests too deeply"
    return path, f"is a {type(value).__name__}"


def _key_path(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


# -- durations -------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
                 "w": 7 * 86400.0}


def is_duration(text: str, *, unit_required: bool = True) -> bool:
    """Whether ``text`` has the form of a duration (``30s``, ``2m``; ``30`` too without
    ``unit_required``), so that a caller can tell a duration from a date."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    return match is not None and (match.group(2) is not None or not unit_required)


def parse_duration(
    value: str | float | timedelta, what: str = "duration", *, unit_required: bool = False,
    error: type[FlowscopeError] = InvalidValueError,
) -> timedelta:
    """Like :func:`parse_seconds`, returning a timedelta (microsecond resolution)."""
    return timedelta(seconds=parse_seconds(value, what, unit_required=unit_required,
                                           error=error))


def parse_seconds(
    value: str | float | timedelta, what: str = "duration", *, unit_required: bool = False,
    error: type[FlowscopeError] = InvalidValueError,
) -> float:
    """Turn ``500ms``, ``30s``, ``2m``, ``1h``, ``7d``, ``2w`` or a number of seconds into a
    positive number of seconds (units in any case; ``m`` is minutes).

    Args:
        value: Text, a number of seconds, or a timedelta.
        what: Names the value in the error, e.g. ``"`timeout`"`` or ``"--since"``.
        unit_required: Refuse text without a unit (``"30"``): where a bare number could
            also be something else, such as a year.
        error: The ``FlowscopeError`` subclass to raise.

    Raises:
        FlowscopeError: ``error``: not a duration, or not positive and finite.
    """
    seconds: float | None = None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and is_duration(value, unit_required=unit_required):
        match = _DURATION.match(value)
        assert match is not None
        seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise error(f"{what} must be a positive duration, got {value!r}",
                    hint='write e.g. 30, "30s", "2m", "500ms", "1h" or "7d"')
    return seconds


# -- timezone-aware datetimes ----------------------------------------------------------------


def require_aware(
    value: Any, what: str, *, error: type[FlowscopeError] = InvalidValueError
) -> datetime:
    """Return ``value`` converted to UTC; refuse a naive datetime or a non-datetime.

    Every time Flowscope keeps is UTC and timezone-aware; a naive one would be read in
    whatever zone the machine happens to be in.

    Args:
        value: The datetime to check.
        what: Names the value in the error, e.g. ``"since"``.
        error: The ``FlowscopeError`` subclass to raise.

    Raises:
        FlowscopeError: ``error``, when ``value`` is not a timezone-aware datetime.
    """
    if not isinstance(value, datetime):
        raise error(f"{what} must be a datetime, not {type(value).__name__}",
                    hint="pass e.g. datetime(2026, 1, 1, tzinfo=UTC)")
    if value.tzinfo is None or value.utcoffset() is None:
        raise error(f"{what} is a naive datetime ({value.isoformat()})",
                    hint="pass a timezone-aware one, e.g. datetime.now(UTC) or "
                    "value.replace(tzinfo=UTC)")
    return value if value.tzinfo is UTC else value.astimezone(UTC)
