"""Values at a stop: dotted paths, previews of large values, paged children, diffs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowscope.errors import DebuggerError

#: Characters of text a preview shows before it is cut.
PREVIEW_CHARS = 80


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Missing:
        return self


MISSING: Any = _Missing()
"""Returned by :func:`lookup` when a path does not exist."""


def split_path(path: str) -> list[str]:
    """Split a dotted path (``"items.0.id"``) into its parts."""
    if not isinstance(path, str) or not path or any(p == "" for p in path.split(".")):
        raise DebuggerError(f"invalid variable path {path!r}",
                            hint="write a dotted path such as vars.total or items.0.id")
    return path.split(".")


def _child(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(key, MISSING)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        try:
            return value[int(key)]
        except (ValueError, IndexError):
            return MISSING
    return MISSING


def lookup(root: Any, path: str) -> Any:
    """Return the value at ``path`` under ``root`` or :data:`MISSING`."""
    value = root
    for part in split_path(path):
        value = _child(value, part)
        if value is MISSING:
            return MISSING
    return value


def assign(root: Any, path: str, value: Any) -> Any:
    """Set the value at ``path`` (its parent must exist); return the old value or MISSING.

    Raises:
        DebuggerError: The parent does not exist or cannot hold the key.
    """
    parts = split_path(path)
    parent = root
    for part in parts[:-1]:
        parent = _child(parent, part)
        if parent is MISSING:
            raise DebuggerError(f"cannot set {path!r}: {part!r} does not exist",
                                hint="set an existing container's key, or the whole value")
    key = parts[-1]
    if isinstance(parent, dict):
        old = parent.get(key, MISSING)
        parent[key] = value
        return old
    if isinstance(parent, list):
        try:
            index = int(key)
            old = parent[index]
        except (ValueError, IndexError):
            raise DebuggerError(f"cannot set {path!r}: no item {key!r} in a list of "
                                f"{len(parent)}", hint="use an existing index") from None
        parent[index] = value
        return old
    raise DebuggerError(f"cannot set {path!r}: its parent is a {type(parent).__name__}",
                        hint="only dict keys and list items can be set")


def check_json(value: Any, what: str) -> None:
    """Raise DebuggerError unless ``value`` is plain JSON data."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DebuggerError(f"{what} is not JSON data: {exc}",
                            hint="use dicts, lists, strings, numbers, booleans and None") from None


@dataclass(frozen=True, slots=True)
class Preview:
    """A short description of a value: its type, size and (possibly cut) text."""

    type: str
    length: int | None
    """Items of a container or characters of a string; None for other scalars."""
    text: str
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        """Return JSON data."""
        return {"type": self.type, "length": self.length, "text": self.text,
                "truncated": self.truncated}


def type_name(value: Any) -> str:
    """The JSON-ish type name of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def preview(value: Any, limit: int = PREVIEW_CHARS) -> Preview:
    """Describe ``value`` in at most ``limit`` characters of text."""
    length: int | None = None
    if isinstance(value, (Mapping, list, tuple, str)):
        length = len(value)
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    truncated = len(text) > limit
    if truncated:
        text = text[: max(0, limit - 3)] + "..."
    return Preview(type_name(value), length, text, truncated)


@dataclass(frozen=True, slots=True)
class Variable:
    """One variable as a front end lists it."""

    name: str
    path: str
    preview: Preview
    has_children: bool

    def to_dict(self) -> dict[str, Any]:
        """Return JSON data."""
        return {"name": self.name, "path": self.path, "has_children": self.has_children,
                **self.preview.to_dict()}


def children(value: Any, path: str = "", start: int = 0,
             count: int | None = None) -> list[Variable]:
    """The children of a container, a page at a time (``start``, ``count``)."""
    if start < 0 or (count is not None and count < 0):
        raise DebuggerError(f"invalid page start={start} count={count}",
                            hint="start and count must not be negative")
    items: list[tuple[str, Any]]
    if isinstance(value, Mapping):
        keys = list(value)[start: None if count is None else start + count]
        items = [(str(k), value[k]) for k in keys]
    elif isinstance(value, (list, tuple)):
        stop = len(value) if count is None else min(len(value), start + count)
        items = [(str(i), value[i]) for i in range(start, stop)]
    else:
        return []
    prefix = f"{path}." if path else ""
    return [
        Variable(name, prefix + name, preview(item),
                 isinstance(item, (Mapping, list, tuple)) and len(item) > 0)
        for name, item in items
    ]


def compare_states(a: Any, b: Any) -> dict[str, dict[str, Any]]:
    """Compare two states: ``{"added", "removed", "changed"}`` keyed by dotted paths.

    Dicts and lists are walked (list items by index); a key only on one side is reported
    once, at its own path, with its whole value; a changed leaf (or a value whose type
    changed) is reported as ``{"old": ..., "new": ...}``.
    """
    out: dict[str, dict[str, Any]] = {"added": {}, "removed": {}, "changed": {}}
    _walk(a, b, "", out)
    return out


def _walk(a: Any, b: Any, path: str, out: dict[str, dict[str, Any]]) -> None:
    prefix = f"{path}." if path else ""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in a:
            if key not in b:
                out["removed"][f"{prefix}{key}"] = a[key]
            else:
                _walk(a[key], b[key], f"{prefix}{key}", out)
        for key in b:
            if key not in a:
                out["added"][f"{prefix}{key}"] = b[key]
        return
    if isinstance(a, list) and isinstance(b, list):
        for i in range(min(len(a), len(b))):
            _walk(a[i], b[i], f"{prefix}{i}", out)
        for i in range(len(b), len(a)):
            out["removed"][f"{prefix}{i}"] = a[i]
        for i in range(len(a), len(b)):
            out["added"][f"{prefix}{i}"] = b[i]
        return
    if type(a) is not type(b) or a != b:
        out["changed"][path] = {"old": a, "new": b}
