"""The text form of values (templates, ``str()``, ``join()``), copies, and key lookup."""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from itertools import islice
from typing import Any

from flowscope.expressions._limits import (
    MAX_INT_BITS,
    _check_text_size,
    _Fail,
    _short,
    _type_name,
)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    return list(value) if isinstance(value, (set, frozenset)) else str(value)


def _to_json(value: Any) -> str:
    _check_text_size(value)
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _to_text(value: Any) -> str:
    """The text form used by templates, ``str()`` and ``join()``."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return {None: "", True: "true", False: "false"}[value]
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _Fail(f"{_short(value)} is too large to turn into text")
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return _to_json(value)
    return str(value)


def _copy(value: Any) -> Any:
    """Copy the containers of a JSON-like value so that callers may mutate the result."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(item) for item in value)
    return value


def _lookup(obj: Any, key: Any, label: str, dotted: bool) -> Any:
    """``obj.key`` (mappings only) or ``obj[key]`` (mappings, lists, tuples, strings)."""
    if isinstance(obj, Mapping):
        try:
            return obj[key]
        except KeyError:
            keys = ", ".join(_short(k) for k in islice(obj, 10)) + ("..." if len(obj) > 10 else "")
            known = f"its keys are: {keys}" if keys else f"{label} is empty"
            raise _Fail(
                f"{label} has no key {_short(key)}",
                hint=f"{known}; use get({label}, {_short(key)}) when the key may be missing",
            ) from None
    if dotted or not isinstance(obj, (list, tuple, str)):
        access = f".{key}" if dotted else "[]"
        raise _Fail(f"cannot use {access} on {label}: it is a {_type_name(obj)}",
                    hint=". reads keys of mappings; [] also indexes lists and strings; "
                    "there are no methods: use the functions, e.g. lower(s)")  # fmt: skip
    if not isinstance(key, int):
        raise _Fail(f"an index into {label} must be an integer, not {_type_name(key)}")
    try:
        return obj[key]
    except IndexError:
        raise _Fail(
            f"index {_short(key)} is out of range for {label} (length {len(obj)})",
            hint=f"check len({label}) first or use get({label}, index)",
        ) from None
