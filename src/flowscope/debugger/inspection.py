"""Inspect and edit the state at a stop: scopes, paged variables, values, edits.

Every function here reads (or, for :func:`edit`, changes) the state before one pending
step; the session calls them on the run's loop thread while the run is stopped, so the
state cannot change underneath.
"""

from __future__ import annotations

import copy
from typing import Any

from flowscope.debugger.breaking import scope_of
from flowscope.debugger.values import (
    MISSING,
    Variable,
    assign,
    check_json,
    children,
    lookup,
    preview,
    split_path,
)
from flowscope.engine.hooks import PendingStep
from flowscope.errors import DebuggerError
from flowscope.expressions import Expression

#: The top-level names a person inspects at a stop.
SCOPES = frozenset({"inputs", "steps", "vars", "input", "run"})

_NO_VARIABLE_HINT = "list the scopes (inputs, steps, vars, input)"


def _scopes(pending: PendingStep) -> dict[str, Any]:
    return {k: v for k, v in scope_of(pending).items() if k in SCOPES}


def scopes(pending: PendingStep) -> list[Variable]:
    """The top-level scopes: inputs, steps, vars, run, input (the pending step's)."""
    return children(_scopes(pending))


def variables(pending: PendingStep, path: str = "", start: int = 0,
              count: int | None = None) -> list[Variable]:
    """The children of the value at ``path`` (``""``: the scopes), a page at a time."""
    scope = _scopes(pending)
    value = scope if not path else lookup(scope, path)
    if value is MISSING:
        raise DebuggerError(f"no variable {path!r} at this stop", hint=_NO_VARIABLE_HINT)
    return children(value, path, start, count)


def inspect(pending: PendingStep, path: str) -> dict[str, Any]:
    """The value at ``path`` with its preview: ``{"path", "value", "preview"}``."""
    value = lookup(scope_of(pending), path)
    if value is MISSING:
        raise DebuggerError(f"no variable {path!r} at this stop", hint=_NO_VARIABLE_HINT)
    return {"path": path, "value": copy.deepcopy(value), "preview": preview(value).to_dict()}


def evaluate(pending: PendingStep, expression: Expression) -> Any:
    """The value of a compiled expression over the state (a copy)."""
    return copy.deepcopy(expression.evaluate(scope_of(pending)))


def check_edit(path: str, value: Any) -> tuple[list[str], Any]:
    """Refuse an edit of anything but ``vars.*`` and ``input.*``; return (path parts, copy).

    Raises:
        DebuggerError: The path is not editable, or the value is not JSON data.
    """
    parts = split_path(path)
    if parts[0] not in ("vars", "input"):
        raise DebuggerError(f"cannot set {path!r}: only vars.* and input.* can be edited",
                            hint="inputs and step outputs are history; fork to change them")
    check_json(value, f"the value for {path!r}")
    return parts, copy.deepcopy(value)


def edit(pending: PendingStep, parts: list[str], value: Any) -> Any:
    """Set ``vars...`` or ``input...`` (checked by :func:`check_edit`); return the old value.

    The old value is None when there was none.
    """
    target = pending.state.vars if parts[0] == "vars" else pending.input
    if len(parts) == 1:
        if not isinstance(value, dict):
            raise DebuggerError(f"{parts[0]} must be set to an object",
                                hint=f"pass a dict, or set one key: {parts[0]}.name")
        old: Any = copy.deepcopy(target)
        target.clear()
        target.update(value)
    else:
        old = assign(target, ".".join(parts[1:]), value)
    return None if old is MISSING else old
