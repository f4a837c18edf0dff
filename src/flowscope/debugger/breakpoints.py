"""Breakpoints: what they match, when they fire, and an O(1) table to look them up."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flowscope.debugger.errors import BreakpointError, HitConditionError
from flowscope.errors import ExpressionError
from flowscope.expressions import Expression, check_braces, compile_condition

_HIT_RE = re.compile(r"^\s*(>=|<=|==|!=|>|<|%|=)?\s*(\d+)\s*$")


class BreakpointKind(StrEnum):
    """What a breakpoint is attached to."""

    STEP = "step"
    """Before a step (optionally only in one workflow)."""
    EDGE = "edge"
    """Before ``step_id`` when it became ready through ``source`` (``a -> b``)."""
    ENTRY = "entry"
    """Before the first step of a run of ``workflow`` (any workflow when ``None``)."""
    FAILURE = "failure"
    """When a step fails for good, optionally only for some error categories."""


class Outcome(StrEnum):
    """What a breakpoint does at one check."""

    SKIP = "skip"
    STOP = "stop"
    LOG = "log"


@dataclass(frozen=True, slots=True)
class HitCondition:
    """A test on a breakpoint's hit count: ``>= 3``, ``== 2``, ``% 5``...

    A bare number ``n`` means ``>= n`` (stop from the n-th hit on); ``= n`` means ``== n``.
    """

    op: str
    n: int

    @classmethod
    def parse(cls, text: object) -> HitCondition:
        """Parse a hit condition; raise HitConditionError when it is not a known form."""
        if isinstance(text, bool):
            raise HitConditionError(text)
        if isinstance(text, int):
            text = str(text)
        match = _HIT_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise HitConditionError(text)
        op = match.group(1) or ">="
        n = int(match.group(2))
        if op == "=":
            op = "=="
        if op == "%" and n == 0:
            raise HitConditionError(text)
        return cls(op, n)

    def test(self, count: int) -> bool:
        """Whether the hit count passes."""
        n, op = self.n, self.op
        if op == ">=":
            return count >= n
        if op == ">":
            return count > n
        if op == "==":
            return count == n
        if op == "!=":
            return count != n
        if op == "<":
            return count < n
        if op == "<=":
            return count <= n
        return count % n == 0


@dataclass(eq=False, slots=True)
class Breakpoint:
    """One breakpoint. Build it with :func:`make_breakpoint` (which validates everything)."""

    id: int
    kind: BreakpointKind
    step_id: str | None = None
    """The step (STEP, EDGE: the target ``b``); ``None`` for ENTRY and FAILURE."""
    source: str | None = None
    """EDGE: the need ``a`` the step became ready through."""
    workflow: str | None = None
    """Only in runs of this workflow (``None``: any)."""
    categories: frozenset[str] = frozenset()
    """FAILURE: only these error categories (empty: any)."""
    enabled: bool = True
    condition: str | None = None
    hit_condition: str | None = None
    hit_limit: int | None = None
    """Fire (stop or log) at most this many times."""
    log_message: str | None = None
    """A logpoint: ``{expr}`` parts interpolated and logged; it never stops."""
    hit_count: int = 0
    """Times the condition held (the hit condition is tested on this)."""
    fire_count: int = 0
    """Times it stopped or logged."""
    last_error: str | None = None
    """The last error evaluating the condition (the breakpoint then does not fire)."""
    compiled: Expression | None = field(default=None, repr=False)
    hit_test: HitCondition | None = field(default=None, repr=False)

    @property
    def is_logpoint(self) -> bool:
        """Whether it logs instead of stopping."""
        return self.log_message is not None

    def check(self, scope: Mapping[str, Any]) -> Outcome:
        """Count a hit if the condition holds; say whether to stop, log or do nothing."""
        if not self.enabled:
            return Outcome.SKIP
        if self.compiled is not None:
            try:
                holds = bool(self.compiled.evaluate(scope))
            except ExpressionError as exc:
                # A condition that cannot be evaluated is false; the error is kept so the
                # front end can show it (the core also logs it as an event).
                self.last_error = exc.message
                return Outcome.SKIP
            if not holds:
                return Outcome.SKIP
        self.hit_count += 1
        if self.hit_test is not None and not self.hit_test.test(self.hit_count):
            return Outcome.SKIP
        if self.hit_limit is not None and self.fire_count >= self.hit_limit:
            return Outcome.SKIP
        self.fire_count += 1
        return Outcome.LOG if self.log_message is not None else Outcome.STOP

    def spec(self) -> dict[str, Any]:
        """Return the definition as JSON data (what the store keeps)."""
        return {
            "kind": self.kind.value, "step_id": self.step_id, "source": self.source,
            "workflow": self.workflow, "categories": sorted(self.categories),
            "condition": self.condition, "hit_condition": self.hit_condition,
            "hit_limit": self.hit_limit, "log_message": self.log_message,
        }

    def describe(self) -> str:
        """A short human label, e.g. ``a -> b`` or ``charge if vars.x > 1``."""
        if self.kind is BreakpointKind.EDGE:
            where = f"{self.source} -> {self.step_id}"
        elif self.kind is BreakpointKind.ENTRY:
            where = f"entry of {self.workflow or 'any workflow'}"
        elif self.kind is BreakpointKind.FAILURE:
            where = "failure" + (f" ({', '.join(sorted(self.categories))})"
                                 if self.categories else "")
        else:
            where = str(self.step_id)
        return where + (f" if {self.condition}" if self.condition else "")


def make_breakpoint(
    bp_id: int,
    kind: BreakpointKind | str = BreakpointKind.STEP,
    *,
    step_id: str | None = None,
    source: str | None = None,
    workflow: str | None = None,
    categories: frozenset[str] | set[str] | list[str] | tuple[str, ...] = frozenset(),
    enabled: bool = True,
    condition: str | None = None,
    hit_condition: str | int | None = None,
    hit_limit: int | None = None,
    log_message: str | None = None,
    hit_count: int = 0,
) -> Breakpoint:
    """Validate a breakpoint specification and build it.

    Raises:
        BreakpointError: The kind, step ids or hit limit are invalid.
        HitConditionError: The hit condition is not one of the accepted forms.
        ExpressionSyntaxError: The condition or a ``{expr}`` of the log message is invalid.
    """
    try:
        kind = BreakpointKind(kind)
    except ValueError:
        raise BreakpointError(f"unknown breakpoint kind {kind!r}",
                              hint="use step, edge, entry or failure") from None
    if kind in (BreakpointKind.STEP, BreakpointKind.EDGE):
        _require_id(step_id, "step_id")
    if kind is BreakpointKind.EDGE:
        _require_id(source, "source")
    if hit_limit is not None and (isinstance(hit_limit, bool) or not isinstance(hit_limit, int)
                                  or hit_limit < 1):
        raise BreakpointError(f"hit_limit must be a positive integer, got {hit_limit!r}",
                              hint="pass e.g. hit_limit=1 to stop only once, or None")
    compiled = compile_condition(condition) if condition is not None else None
    hit_test = HitCondition.parse(hit_condition) if hit_condition is not None else None
    if log_message is not None:
        check_braces(log_message)
    return Breakpoint(
        id=bp_id, kind=kind, step_id=step_id, source=source, workflow=workflow,
        categories=frozenset(categories), enabled=bool(enabled), condition=condition,
        hit_condition=None if hit_condition is None else str(hit_condition),
        hit_limit=hit_limit, log_message=log_message, hit_count=hit_count,
        compiled=compiled, hit_test=hit_test,
    )


def _require_id(value: object, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise BreakpointError(f"{name} must be a non-empty step id, got {value!r}",
                              hint="name the step as the workflow definition does")


_Bucket = dict[int, Breakpoint]


class BreakpointTable:
    """Breakpoints indexed so that the per-step check is a few dict lookups.

    Mutations take a lock (they come from other threads); the engine's reads do not,
    because a single dict lookup is atomic and a breakpoint added "during" a step simply
    applies from the next one.
    """

    def __init__(self) -> None:
        self.by_id: dict[int, Breakpoint] = {}
        self.by_step: dict[str, _Bucket] = {}
        self.by_edge: dict[tuple[str, str], _Bucket] = {}
        self.entry: dict[str | None, _Bucket] = {}
        self.failure: _Bucket = {}
        self._lock = threading.Lock()
        self._next = 1

    def next_id(self) -> int:
        """Reserve the next breakpoint id."""
        with self._lock:
            bp_id = self._next
            self._next += 1
            return bp_id

    def _index(self, bp: Breakpoint) -> tuple[dict[Any, _Bucket] | None, Any]:
        if bp.kind is BreakpointKind.STEP:
            return self.by_step, bp.step_id
        if bp.kind is BreakpointKind.EDGE:
            return self.by_edge, (bp.source, bp.step_id)
        if bp.kind is BreakpointKind.ENTRY:
            return self.entry, bp.workflow
        return None, None

    def add(self, bp: Breakpoint) -> Breakpoint:
        """Add (or replace, by id) a breakpoint."""
        with self._lock:
            self._next = max(self._next, bp.id + 1)
            old = self.by_id.get(bp.id)
            if old is not None:
                self._unindex(old)
            self.by_id[bp.id] = bp
            index, key = self._index(bp)
            bucket = self.failure if index is None else index.setdefault(key, {})
            bucket[bp.id] = bp
        return bp

    def remove(self, bp_id: int) -> Breakpoint | None:
        """Remove a breakpoint; return it, or None when there was none."""
        with self._lock:
            bp = self.by_id.pop(bp_id, None)
            if bp is not None:
                self._unindex(bp)
            return bp

    def _unindex(self, bp: Breakpoint) -> None:
        index, key = self._index(bp)
        if index is None:
            self.failure.pop(bp.id, None)
            return
        bucket = index.get(key)
        if bucket is not None:
            bucket.pop(bp.id, None)
            if not bucket:
                del index[key]

    def clear(self) -> None:
        """Remove every breakpoint."""
        with self._lock:
            self.by_id.clear()
            self.by_step.clear()
            self.by_edge.clear()
            self.entry.clear()
            self.failure.clear()

    def __iter__(self) -> Iterator[Breakpoint]:
        return iter(sorted(self.by_id.values(), key=lambda b: b.id))

    def __len__(self) -> int:
        return len(self.by_id)
