"""The breakpoint decision: which breakpoint, if any, stops a step (bdb's ``break_here``).

Checking a breakpoint counts its hit (stored), and a logpoint that fires logs its message
as an event instead of stopping. A condition that fails to evaluate is logged once and
counts as false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flowscope.debugger.breakpoints import Breakpoint, BreakpointTable, Outcome
from flowscope.debugger.persistence import DebugStore
from flowscope.engine import events as ev
from flowscope.engine.hooks import FailedStep, PendingStep, RunControl
from flowscope.expressions import interpolate_braces

Scope = dict[str, Any]
"""The names an expression sees at a step: ``inputs``, ``steps``, ``vars``, ``run``, ``input``."""


def scope_of(pending: PendingStep, **extra: Any) -> Scope:
    """The expression scope before ``pending`` (``input`` is its resolved input)."""
    return {**pending.state.scope, "input": pending.input, **extra}


class BreakpointDecision:
    """Decides which breakpoint of a session's table stops a step.

    Args:
        table: The session's breakpoints.
        session_id: Whose breakpoints (for storing hit counts).
        db: Where hit counts are stored.
        control: The engine's ``control(run_id)``, to log logpoints and condition errors.
    """

    def __init__(self, table: BreakpointTable, session_id: str, db: DebugStore,
                 control: Callable[[str], RunControl | None]) -> None:
        self.table = table
        self._session_id = session_id
        self._db = db
        self._control = control

    def at_step(self, pending: PendingStep, entry: bool) -> Breakpoint | None:
        """The breakpoint that stops before ``pending`` (``entry``: the run's first step)."""
        table = self.table
        step_id = pending.step.id
        hit: Breakpoint | None = None
        scope: Scope | None = None
        if entry and table.entry:
            scope = scope_of(pending)
            for key in (pending.workflow.name, None):
                for bp in list(table.entry.get(key, {}).values()):
                    hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        bucket = table.by_step.get(step_id)
        if bucket:
            scope = scope or scope_of(pending)
            for bp in list(bucket.values()):
                if bp.workflow is None or bp.workflow == pending.workflow.name:
                    hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        if pending.via is not None and table.by_edge:
            bucket = table.by_edge.get((pending.via, step_id))
            if bucket:
                scope = scope or scope_of(pending)
                for bp in list(bucket.values()):
                    hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        return hit

    def at_failure(self, failed: FailedStep) -> Breakpoint | None:
        """The failure breakpoint that stops at a step that failed for good."""
        if not self.table.failure:
            return None
        pending = failed.pending
        scope = scope_of(pending, error=failed.error.to_dict())
        hit: Breakpoint | None = None
        for bp in list(self.table.failure.values()):
            if bp.categories and failed.error.category not in bp.categories:
                continue
            if bp.workflow is not None and bp.workflow != pending.workflow.name:
                continue
            hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        return hit

    def _fire(self, bp: Breakpoint, outcome: Outcome, pending: PendingStep,
              scope: Mapping[str, Any]) -> Breakpoint | None:
        execution = self._control(pending.run_id)
        if bp.last_error is not None:
            if execution is not None:
                execution.emit(ev.Log, pending.step.id, source="debugger",
                               message=f"breakpoint {bp.id} condition failed: {bp.last_error}")
            bp.last_error = None
        if outcome is Outcome.SKIP:
            return None
        self._db.update_breakpoint_state(self._session_id, bp)
        if outcome is Outcome.LOG:
            assert bp.log_message is not None
            if execution is not None:
                execution.emit(ev.Log, pending.step.id, source="logpoint",
                               message=interpolate_braces(bp.log_message, scope))
            return None
        return bp
