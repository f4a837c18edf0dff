"""Watches: expressions re-evaluated at each stop, reporting when their value changed.

A watch may also stop the run when its value changes between two step boundaries
(``stop_on_change``); only such watches are evaluated before every step, so plain
watches cost nothing while the run goes on.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowscope.debugger.stops import WatchValue
from flowscope.errors import ExpressionError
from flowscope.expressions import Expression, compile_expression


@dataclass(slots=True)
class Watch:
    """A watch expression (compiled when added)."""

    expression: str
    compiled: Expression
    stop_on_change: bool = False
    last: Any = None
    """The value at the previous stop."""
    has_last: bool = False
    seen: Any = None
    """The value at the previous step boundary (for stop-on-change)."""
    has_seen: bool = False

    def evaluate(self, scope: Mapping[str, Any]) -> tuple[Any, str | None]:
        """Return (value, None), or (None, the error message) when it cannot be evaluated."""
        try:
            return self.compiled.evaluate(scope), None
        except ExpressionError as exc:
            return None, exc.message


class Watches:
    """The watches of one session, by expression (in the order they were added)."""

    def __init__(self) -> None:
        self._all: dict[str, Watch] = {}
        #: Only the stop-on-change watches; read before every step, so kept apart.
        self.stopping: list[Watch] = []
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._all)

    def add(self, expression: str, *, stop_on_change: bool = False,
            baseline: Mapping[str, Any] | None = None) -> None:
        """Watch an expression (refused now if it does not compile).

        ``baseline`` is the scope at the stop where it is added, if any: its value there
        is what the next stop compares with.
        """
        watch = Watch(expression, compile_expression(expression), stop_on_change)
        if baseline is not None:
            value, err = watch.evaluate(baseline)
            if err is None:
                watch.last, watch.has_last = copy.deepcopy(value), True
                watch.seen, watch.has_seen = copy.deepcopy(value), True
        with self._lock:
            self._all[expression] = watch
            self.stopping = [w for w in self._all.values() if w.stop_on_change]

    def remove(self, expression: str) -> bool:
        """Stop watching an expression; return whether it was watched."""
        with self._lock:
            found = self._all.pop(expression, None) is not None
            self.stopping = [w for w in self._all.values() if w.stop_on_change]
        return found

    def expressions(self) -> list[str]:
        """The watched expressions."""
        return list(self._all)

    def at_stop(self, scope: Mapping[str, Any]) -> tuple[WatchValue, ...]:
        """Evaluate every watch at a stop, marking those changed since the previous stop."""
        out = []
        for watch in list(self._all.values()):
            value, err = watch.evaluate(scope)
            changed = watch.has_last and value != watch.last
            watch.last, watch.has_last = copy.deepcopy(value), True
            out.append(WatchValue(watch.expression, copy.deepcopy(value), changed, err))
        return tuple(out)

    def changed(self, scope: Mapping[str, Any]) -> bool:
        """Whether a stop-on-change watch changed since the previous step boundary."""
        hit = False
        for watch in self.stopping:
            value, _ = watch.evaluate(scope)
            if watch.has_seen and value != watch.seen:
                hit = True
            watch.seen, watch.has_seen = value, True
        return hit

    def last_values(self) -> list[WatchValue]:
        """Each watch's value at the last stop (None before the first)."""
        return [WatchValue(w.expression, w.last) for w in list(self._all.values())]
