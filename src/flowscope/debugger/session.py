"""A debug session: breakpoints, stepping, watches, snapshots and inspection of stops.

The session decides whether a run stops (:meth:`Session.dispatch_step`, called by the
:class:`~flowscope.debugger.core.Debugger` hook) and records commands as state
(``step_over`` only records where to stop next; the next ``before_step`` checks it).
It never prints or reads input: front ends call :meth:`wait_for_stop` or
:meth:`subscribe` and then the ``set_*``-like commands. Every public method takes the
calling ``user`` and refuses anyone but the owner (:class:`AccessDeniedError`).
"""

from __future__ import annotations

import copy
import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flowscope.debugger.breakpoints import Breakpoint, BreakpointTable, Outcome, make_breakpoint
from flowscope.debugger.errors import AccessDeniedError, DebuggerError, NotStoppedError
from flowscope.debugger.persistence import DebugStore, SessionRecord, SnapshotRow
from flowscope.debugger.snapshots import Snapshot, SnapshotRing
from flowscope.debugger.stops import StepMode, Stop, StopReason, Watch, WatchValue
from flowscope.debugger.tree import RunTree
from flowscope.debugger.values import (
    MISSING,
    Variable,
    assign,
    check_json,
    children,
    compare_states,
    lookup,
    preview,
    split_path,
)
from flowscope.engine import events as ev
from flowscope.engine.hooks import FailedStep, FailureAction, PendingStep
from flowscope.engine.status import RunStatus
from flowscope.errors import ExpressionError
from flowscope.expressions import compile_expression, interpolate_braces
from flowscope.store._codec import NotPlainJSON, copy_json_fast

if TYPE_CHECKING:
    from flowscope.engine.hooks import RunControl
    from flowscope.engine.runner import Engine, RunResult

log = logging.getLogger("flowscope.debugger")

StopCallback = Callable[[Stop | None], None]
"""Called on the run's loop thread at each stop, and with ``None`` when a run ends."""


class Session:
    """One user's debug session over live runs (see the module docstring)."""

    def __init__(
        self,
        record: SessionRecord,
        engine: Engine,
        persistence: DebugStore,
        *,
        stop_on_entry: bool = False,
        stop_on_error: bool = False,
        max_snapshots: int = 100,
        record_history: bool = True,
    ) -> None:
        self.record = record
        self.id = record.id
        self.user = record.user
        self.stop_on_entry = stop_on_entry
        self.stop_on_error = stop_on_error
        self.record_history = record_history
        self._engine = engine
        self._db = persistence
        self.table = BreakpointTable()
        self.ring = SnapshotRing(max_snapshots)
        self.trees: dict[str, RunTree] = {}
        self._watches: dict[str, Watch] = {}
        self._stop_watches: list[Watch] = []
        self._subscribers: list[StopCallback] = []
        self._stops: queue.Queue[Stop | None] = queue.Queue()
        self._stop_count = 0
        self._retry: set[int] = set()
        self._pause_new = False
        self._lock = threading.Lock()
        self.closed = False

    # -- ownership ---------------------------------------------------------------------------

    def check_user(self, user: str) -> None:
        """Refuse anyone but the owner."""
        if user != self.user:
            raise AccessDeniedError(
                f"user {user!r} may not use debug session {self.id} (it belongs to another "
                "user)", hint="open your own session")

    # -- breakpoints ---------------------------------------------------------------------------

    def set_breakpoint(self, step_id: str | None = None, *, user: str, kind: str = "step",
                       source: str | None = None, workflow: str | None = None,
                       categories: Iterable[str] = (), enabled: bool = True,
                       condition: str | None = None, hit_condition: str | int | None = None,
                       hit_limit: int | None = None,
                       log_message: str | None = None) -> Breakpoint:
        """Add a breakpoint (applies from the next step); bad specs are refused here."""
        self.check_user(user)
        bp = make_breakpoint(
            self.table.next_id(), kind, step_id=step_id, source=source, workflow=workflow,
            categories=frozenset(categories), enabled=enabled, condition=condition,
            hit_condition=hit_condition, hit_limit=hit_limit, log_message=log_message)
        self._db.put_breakpoint(self.id, bp, _now())
        return self.table.add(bp)

    def update_breakpoint(self, bp_id: int, *, user: str, **changes: Any) -> Breakpoint:
        """Change fields of a breakpoint (validated as when set); the hit count is kept."""
        self.check_user(user)
        old = self.table.by_id.get(bp_id)
        if old is None:
            raise DebuggerError(f"no breakpoint with id {bp_id}",
                                hint="list the session's breakpoints and use one of their ids")
        spec: dict[str, Any] = {**old.spec(), "enabled": old.enabled, **changes}
        spec.pop("kind", None)
        kind = changes.get("kind", old.kind)
        new = make_breakpoint(bp_id, kind, hit_count=old.hit_count, **spec)
        new.fire_count = old.fire_count
        self._db.put_breakpoint(self.id, new, _now())
        return self.table.add(new)

    def remove_breakpoint(self, bp_id: int, *, user: str) -> bool:
        """Remove a breakpoint; return whether there was one."""
        self.check_user(user)
        removed = self.table.remove(bp_id) is not None
        if removed:
            self._db.delete_breakpoint(self.id, bp_id)
        return removed

    def breakpoints(self, *, user: str) -> list[Breakpoint]:
        """The session's breakpoints, by id."""
        self.check_user(user)
        return list(self.table)

    # -- watches -------------------------------------------------------------------------------

    def add_watch(self, expression: str, *, user: str, stop_on_change: bool = False) -> None:
        """Watch an expression (refused now if it does not compile)."""
        self.check_user(user)
        watch = Watch(expression, compile_expression(expression), stop_on_change)
        stopped = self._stopped_pending()
        if stopped is not None:
            # Added at a stop: the value now is the baseline the next stop compares with.
            value, err = _evaluate(watch, self._scope(stopped))
            if err is None:
                watch.last, watch.has_last = copy.deepcopy(value), True
                watch.seen, watch.has_seen = copy.deepcopy(value), True
        with self._lock:
            self._watches[expression] = watch
            self._stop_watches = [w for w in self._watches.values() if w.stop_on_change]

    def remove_watch(self, expression: str, *, user: str) -> bool:
        """Stop watching an expression; return whether it was watched."""
        self.check_user(user)
        with self._lock:
            found = self._watches.pop(expression, None) is not None
            self._stop_watches = [w for w in self._watches.values() if w.stop_on_change]
        return found

    def watch_expressions(self, *, user: str) -> list[str]:
        """The watched expressions."""
        self.check_user(user)
        return list(self._watches)

    # -- stops -----------------------------------------------------------------------------------

    def subscribe(self, callback: StopCallback, *, user: str) -> None:
        """Call ``callback(stop)`` at each stop (and ``callback(None)`` when a run ends)."""
        self.check_user(user)
        self._subscribers.append(callback)

    def unsubscribe(self, callback: StopCallback, *, user: str) -> None:
        """Stop calling ``callback``."""
        self.check_user(user)
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def wait_for_stop(self, timeout: float | None = None, *, user: str) -> Stop | None:
        """Return the next stop; None when a debugged run ended (or on timeout)."""
        self.check_user(user)
        try:
            return self._stops.get(timeout=timeout)
        except queue.Empty:
            return None

    def current_stop(self, *, user: str) -> Stop | None:
        """The stop the session is at, if any."""
        self.check_user(user)
        for tree in list(self.trees.values()):
            if tree.stop is not None:
                return tree.stop
        return None

    def _stopped_pending(self) -> PendingStep | None:
        for tree in list(self.trees.values()):
            if tree.stop is not None and tree.pending is not None:
                return tree.pending
        return None

    def _stopped(self, command: str, run_id: str | None = None) -> RunTree:
        for tree in list(self.trees.values()):
            stop = tree.stop
            if stop is not None and (run_id is None or run_id == tree.root_id
                                     or any(f.run_id == run_id for f in stop.frames)):
                return tree
        raise NotStoppedError(command)

    # -- stepping commands ---------------------------------------------------------------------

    def _resume(self, command: str, mode: StepMode, run_id: str | None) -> None:
        tree = self._stopped(command, run_id)

        def go() -> None:
            stop = tree.stop
            if stop is None:
                return
            ref = stop.frames
            # On a plain step, step_into is step_over.
            use = StepMode.OVER if mode is StepMode.INTO and not _is_subworkflow(tree) else mode
            tree.mode, tree.ref_frames = use, ref
            tree.open_gate()

        tree.call(go)

    def step_over(self, *, user: str, run_id: str | None = None) -> None:
        """Run the current step (a whole sub-workflow included); stop before the next one."""
        self.check_user(user)
        self._resume("step over", StepMode.OVER, run_id)

    def step_into(self, *, user: str, run_id: str | None = None) -> None:
        """Enter the current sub-workflow step (on a plain step: step over)."""
        self.check_user(user)
        self._resume("step into", StepMode.INTO, run_id)

    def step_out(self, *, user: str, run_id: str | None = None) -> None:
        """Finish the current sub-workflow; stop at the next step of the parent."""
        self.check_user(user)
        self._resume("step out", StepMode.OUT, run_id)

    def continue_(self, *, user: str, run_id: str | None = None) -> None:
        """Run to the next breakpoint."""
        self.check_user(user)
        self._resume("continue", StepMode.CONTINUE, run_id)

    def retry(self, *, user: str) -> None:
        """At an ``exception`` stop: run the failed step again (with its input as edited)."""
        self.check_user(user)
        tree = self._stopped("retry")
        stop = tree.stop
        if stop is None or stop.reason is not StopReason.EXCEPTION:
            raise DebuggerError("retry only applies at an exception stop",
                                hint="use continue, or set stop_on_error=True")
        self._retry.add(stop.number)
        self._resume("retry", StepMode.CONTINUE, None)

    def pause(self, *, user: str) -> None:
        """Stop every debugged run before its next step starts (anywhere in its tree)."""
        self.check_user(user)
        self._pause_new = not self.trees
        for tree in list(self.trees.values()):
            if tree.stop is None:
                tree.mode = StepMode.PAUSE  # one atomic store; the loop reads it per step
            else:
                # Stopped already: go on, and stop again before the next step anywhere.
                tree.call(functools.partial(_resume_paused, tree))

    # -- the engine side -------------------------------------------------------------------------

    def bind(self, root_id: str) -> RunTree:
        """Debug the run tree under ``root_id`` from its next step."""
        tree = self.trees.get(root_id)
        if tree is None:
            tree = RunTree(root_id)
            if self._pause_new:
                tree.mode, self._pause_new = StepMode.PAUSE, False
            self.trees[root_id] = tree
        return tree

    async def dispatch_step(self, tree: RunTree, pending: PendingStep) -> None:
        """Decide whether to stop before ``pending`` and wait while stopped."""
        tree.bind_loop()
        if tree.stop is not None:
            await tree.wait_gate()
        snap = self._take_snapshot(tree, pending)
        reason, hit = self._decide(tree, pending)
        if reason is not None:
            await self._stop_here(tree, pending, reason, hit, snap)

    async def dispatch_failure(self, tree: RunTree, failed: FailedStep) -> FailureAction:
        """Decide whether to stop at a failed step; return whether to retry it."""
        tree.bind_loop()
        if tree.stop is not None:
            await tree.wait_gate()
        pending = failed.pending
        hit: Breakpoint | None = None
        if self.table.failure:
            scope = self._scope(pending, error=failed.error.to_dict())
            for bp in list(self.table.failure.values()):
                if bp.categories and failed.error.category not in bp.categories:
                    continue
                if bp.workflow is not None and bp.workflow != pending.workflow.name:
                    continue
                hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        if hit is None and not self.stop_on_error:
            return FailureAction.FAIL
        tree.failed = failed
        number = await self._stop_here(tree, pending, StopReason.EXCEPTION, hit, None,
                                       error=failed)
        if number in self._retry:
            self._retry.discard(number)
            return FailureAction.RETRY
        return FailureAction.FAIL

    def run_finished(self, run_id: str) -> None:
        """A run ended: write its history; tell front ends when a root run ended."""
        tree = self.trees.get(run_id)
        if tree is None:
            return
        self._flush(tree)
        tree.finished = True
        del self.trees[run_id]
        self._notify(None)

    def _decide(self, tree: RunTree, pending: PendingStep) -> tuple[StopReason | None,
                                                                    Breakpoint | None]:
        table = self.table
        step_id = pending.step.id
        reason: StopReason | None = None
        hit: Breakpoint | None = None
        scope: dict[str, Any] | None = None
        if pending.is_first:
            if pending.depth == 1 and self.stop_on_entry and not tree.entered:
                tree.entered = True
                reason = StopReason.ENTRY
            if table.entry:
                scope = self._scope(pending)
                for key in (pending.workflow.name, None):
                    for bp in list(table.entry.get(key, {}).values()):
                        hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        bucket = table.by_step.get(step_id)
        if bucket:
            scope = scope or self._scope(pending)
            for bp in list(bucket.values()):
                if bp.workflow is None or bp.workflow == pending.workflow.name:
                    hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        if pending.via is not None and table.by_edge:
            bucket = table.by_edge.get((pending.via, step_id))
            if bucket:
                scope = scope or self._scope(pending)
                for bp in list(bucket.values()):
                    hit = self._fire(bp, bp.check(scope), pending, scope) or hit
        if hit is not None:
            return StopReason.BREAKPOINT, hit
        mode = tree.mode
        if mode is not StepMode.CONTINUE and reason is None:
            reason = _step_reason(mode, tree, pending)
        if self._stop_watches and reason is None:
            scope = scope or self._scope(pending)
            for watch in self._stop_watches:
                value, _ = _evaluate(watch, scope)
                if watch.has_seen and value != watch.seen:
                    reason = StopReason.WATCH
                watch.seen, watch.has_seen = value, True
        return reason, None

    def _fire(self, bp: Breakpoint, outcome: Outcome, pending: PendingStep,
              scope: Mapping[str, Any]) -> Breakpoint | None:
        execution = self._engine.control(pending.run_id)
        if bp.last_error is not None:
            if execution is not None:
                execution.emit(ev.Log, pending.step.id, source="debugger",
                               message=f"breakpoint {bp.id} condition failed: {bp.last_error}")
            bp.last_error = None
        if outcome is Outcome.SKIP:
            return None
        self._db.update_breakpoint_state(self.id, bp)
        if outcome is Outcome.LOG:
            assert bp.log_message is not None
            if execution is not None:
                execution.emit(ev.Log, pending.step.id, source="logpoint",
                               message=interpolate_braces(bp.log_message, scope))
            return None
        return bp

    async def _stop_here(self, tree: RunTree, pending: PendingStep, reason: StopReason,
                         hit: Breakpoint | None, snap: Snapshot | None, *,
                         error: FailedStep | None = None) -> int:
        with self._lock:
            self._stop_count += 1
            number = self._stop_count
        watches = self._watch_values(self._scope(pending)) if self._watches else ()
        stop = Stop(reason=reason, run_id=pending.run_id, step_id=pending.step.id,
                    frames=pending.frames, breakpoint=hit, depth=pending.depth,
                    session_id=self.id, number=number,
                    error=error.error if error else None, watches=watches,
                    snapshot_id=snap.id if snap else None, attempt=pending.attempt)
        tree.close_gate(stop)
        tree.pending = pending
        tree.mode, tree.pause_reason = StepMode.CONTINUE, StopReason.PAUSE
        for frame in reversed(pending.frames):
            execution = self._engine.control(frame.run_id)
            if execution is not None and execution.status is RunStatus.RUNNING:
                execution.pause(reason.value)
                tree.paused.append(execution)
        self._flush(tree)
        self._notify(stop)
        try:
            while tree.stop is stop:
                assert tree.gate is not None
                await tree.gate.wait()
            # Another branch may have stopped the tree between our release and our wake-up;
            # this step has not started yet, so it waits for that stop too (all-stop).
            await tree.wait_gate()
        finally:
            if tree.stop is stop:  # cancelled while stopped (run cancelled or rewound)
                tree.open_gate()
        return number

    def _notify(self, stop: Stop | None) -> None:
        self._stops.put(stop)
        for callback in list(self._subscribers):
            try:
                callback(stop)
            except Exception:  # a front end never breaks a run
                log.exception("debugger stop callback %r failed", callback)

    # -- snapshots -------------------------------------------------------------------------------

    def _take_snapshot(self, tree: RunTree, pending: PendingStep) -> Snapshot:
        state = pending.state
        run_id = pending.run_id
        last = tree.last_vars.get(run_id)
        if last is None or state.vars != last:
            last = copy.deepcopy(state.vars)
            tree.last_vars[run_id] = last
        snap = Snapshot(self.ring.next_id(), run_id=run_id, step_id=pending.step.id,
                        lazy=(state, len(state.steps), last))
        snap.seq = snap.id
        self.ring.append(snap)
        if self.record_history:
            tree.history.append(snap)
        return snap

    def _flush(self, tree: RunTree) -> None:
        """Write the snapshots taken since the last flush (as deltas) to the store."""
        if not tree.history:
            return
        rows: list[SnapshotRow] = []
        for snap in tree.history:
            run_id = snap.run_id or ""
            start = tree.stored_steps.get(run_id)
            base = start is None
            inputs, steps, vars_ = snap.parts(0 if start is None else start)
            delta: dict[str, Any] = {"steps": steps}
            if base:
                delta.update(base=True, inputs=inputs, vars=vars_)
            elif tree.stored_vars.get(run_id) is not vars_:
                delta["vars"] = vars_
            tree.stored_steps[run_id] = (start or 0) + len(steps)
            tree.stored_vars[run_id] = vars_
            rows.append(SnapshotRow(self.id, snap.id, run_id, snap.seq or snap.id, snap.step_id,
                                    snap.label, _copy_plain(delta), snap.taken_at))
        tree.history = []
        try:
            self._db.add_snapshots(rows)
        except Exception:  # losing history must not break the run
            log.exception("cannot store debugger snapshots of run %s", tree.root_id)

    def snapshots(self, *, user: str) -> list[Snapshot]:
        """The in-memory ring, oldest first."""
        self.check_user(user)
        return list(self.ring)

    def snapshot(self, snapshot_id: int, *, user: str) -> Snapshot:
        """One snapshot of the ring."""
        self.check_user(user)
        return self.ring.get(snapshot_id)

    def history(self, run_id: str, *, user: str) -> list[dict[str, Any]]:
        """Every stored snapshot of a run (full states rebuilt), oldest first."""
        self.check_user(user)
        for tree in list(self.trees.values()):
            if tree.loop is not None and tree.loop.is_running():
                tree.call(lambda t=tree: self._flush(t))  # type: ignore[misc]
        return self._db.history(self.id, run_id)

    def compare(self, a: int | Snapshot, b: int | Snapshot, *,
                user: str) -> dict[str, dict[str, Any]]:
        """Compare two snapshots: added / removed / changed by dotted path."""
        self.check_user(user)
        sa = a if isinstance(a, Snapshot) else self.ring.get(a)
        sb = b if isinstance(b, Snapshot) else self.ring.get(b)
        return compare_states(sa.to_dict(), sb.to_dict())

    def restore(self, snapshot: int | Snapshot, *, user: str) -> list[str]:
        """Rewind the stopped run to a snapshot; return the steps set aside (they run again)."""
        self.check_user(user)
        snap = snapshot if isinstance(snapshot, Snapshot) else self.ring.get(snapshot)
        tree = self._stopped("restore", snap.run_id)

        def rewind() -> list[str]:
            if tree.failed is not None:
                raise DebuggerError("cannot restore at an exception stop",
                                    hint="retry or continue first, then restore at a step stop")
            execution = self._engine.control(snap.run_id or "")
            if execution is None:
                raise DebuggerError(f"run {snap.run_id} is not live",
                                    hint="restore works on a stopped live run; fork past runs")
            self._flush(tree)
            self.ring.materialize_run(execution.run_id)
            data = snap.to_dict()
            forget = set(execution.state.statuses) - set(data.get("steps", {}))
            ordered = execution.rewind(forget, data.get("vars", {}))
            tree.last_vars.pop(execution.run_id, None)
            tree.stored_steps.pop(execution.run_id, None)
            tree.mode, tree.ref_frames = StepMode.PAUSE, ()
            tree.pause_reason = StopReason.STEP
            tree.open_gate()
            return ordered

        return tree.call(rewind)

    # -- inspect and edit ----------------------------------------------------------------------

    @staticmethod
    def _scope(pending: PendingStep, **extra: Any) -> dict[str, Any]:
        return {**pending.state.scope, "input": pending.input, **extra}

    def _watch_values(self, scope: Mapping[str, Any]) -> tuple[WatchValue, ...]:
        out = []
        for watch in list(self._watches.values()):
            value, err = _evaluate(watch, scope)
            changed = watch.has_last and value != watch.last
            watch.last, watch.has_last = copy.deepcopy(value), True
            out.append(WatchValue(watch.expression, copy.deepcopy(value), changed, err))
        return tuple(out)

    def _at_stop(self, command: str, fn: Callable[[RunTree, PendingStep], Any],
                 run_id: str | None = None) -> Any:
        tree = self._stopped(command, run_id)

        def call() -> Any:
            pending = tree.pending
            if pending is None:
                raise NotStoppedError(command)
            return fn(tree, pending)

        return tree.call(call)

    def scopes(self, *, user: str) -> list[Variable]:
        """The top-level scopes at the stop: inputs, steps, vars, input (pending), run."""
        self.check_user(user)
        return list(self._at_stop("list scopes", lambda t, p: children(
            {k: v for k, v in self._scope(p).items() if k in _SCOPES})))

    def variables(self, path: str = "", start: int = 0, count: int | None = None, *,
                  user: str) -> list[Variable]:
        """The children of the value at ``path`` (``""``: the scopes), a page at a time."""
        self.check_user(user)

        def get(tree: RunTree, pending: PendingStep) -> list[Variable]:
            scope = {k: v for k, v in self._scope(pending).items() if k in _SCOPES}
            value = scope if not path else lookup(scope, path)
            if value is MISSING:
                raise DebuggerError(f"no variable {path!r} at this stop",
                                    hint="list the scopes (inputs, steps, vars, input)")
            return children(value, path, start, count)

        return list(self._at_stop("list variables", get))

    def inspect(self, path: str, *, user: str) -> dict[str, Any]:
        """The value at ``path`` with its preview: ``{"path", "value", "preview"}``."""
        self.check_user(user)

        def get(tree: RunTree, pending: PendingStep) -> dict[str, Any]:
            value = lookup(self._scope(pending), path)
            if value is MISSING:
                raise DebuggerError(f"no variable {path!r} at this stop",
                                    hint="list the scopes (inputs, steps, vars, input)")
            return {"path": path, "value": copy.deepcopy(value),
                    "preview": preview(value).to_dict()}

        return dict(self._at_stop("inspect", get))

    def evaluate(self, expression: str, *, user: str) -> Any:
        """Evaluate an expression over the state at the stop (``input`` = pending input)."""
        self.check_user(user)
        compiled = compile_expression(expression)
        return self._at_stop("evaluate", lambda t, p: copy.deepcopy(
            compiled.evaluate(self._scope(p))))

    def watches(self, *, user: str) -> list[WatchValue]:
        """The watches as of the current stop (or their last values)."""
        self.check_user(user)
        stop = self.current_stop(user=user)
        if stop is not None:
            return list(stop.watches)
        return [WatchValue(w.expression, w.last) for w in self._watches.values()]

    def set_variable(self, path: str, value: Any, *, user: str) -> Any:
        """Edit ``vars.*`` or ``input.*`` (the pending step's input) at the stop.

        The edit is recorded as a ``variable_edited`` event (old, new, user). Returns the
        old value (None when there was none).
        """
        self.check_user(user)
        parts = split_path(path)
        if parts[0] not in ("vars", "input"):
            raise DebuggerError(f"cannot set {path!r}: only vars.* and input.* can be edited",
                                hint="inputs and step outputs are history; fork to change them")
        check_json(value, f"the value for {path!r}")
        new = copy.deepcopy(value)

        def edit(tree: RunTree, pending: PendingStep) -> Any:
            target = pending.state.vars if parts[0] == "vars" else pending.input
            if len(parts) == 1:
                if not isinstance(new, dict):
                    raise DebuggerError(f"{path} must be set to an object",
                                        hint="pass a dict, or set one key: vars.name")
                old: Any = copy.deepcopy(target)
                target.clear()
                target.update(new)
            else:
                old = assign(target, ".".join(parts[1:]), new)
            old = None if old is MISSING else old
            execution = self._engine.control(pending.run_id)
            if execution is not None:
                execution.emit(ev.VariableEdited, pending.step.id, path=path, old=old,
                               new=copy.deepcopy(new), user=user)
            return old

        return self._at_stop("set a variable", edit)

    # -- fork and traces ---------------------------------------------------------------------------

    def fork(self, run_id: str, from_step: str, state_edits: Mapping[str, Any] | None = None,
             rerun_effects: bool = False, *, user: str) -> RunResult:
        """Run a new run from ``from_step`` of a past run (``Engine.fork``)."""
        self.check_user(user)
        return self._engine.fork(run_id, from_step, state_edits, rerun_effects)

    def fork_preview(self, run_id: str, from_step: str, rerun_effects: bool = False, *,
                     user: str) -> dict[str, Any]:
        """Which steps a fork would reuse and run, and which external calls would repeat."""
        self.check_user(user)
        return self._engine.fork_preview(run_id, from_step, rerun_effects=rerun_effects)

    def trace(self, run_id: str, step_id: str | None = None, *, user: str) -> list[Any]:
        """Trace entries of a run (optionally one step), from the journal."""
        self.check_user(user)
        from flowscope.debugger.traces import build_trace

        return list(build_trace(self._engine.store, run_id, step_id))

    def live_execution(self, run_id: str) -> RunControl | None:
        """The live execution of a run, if it is executing in the engine."""
        return self._engine.control(run_id)


_SCOPES = frozenset({"inputs", "steps", "vars", "input", "run"})


def _now() -> datetime:
    return datetime.now(UTC)


def _is_subworkflow(tree: RunTree) -> bool:
    return tree.pending is not None and tree.pending.step.is_subworkflow


def _evaluate(watch: Watch, scope: Mapping[str, Any]) -> tuple[Any, str | None]:
    try:
        return watch.compiled.evaluate(scope), None
    except ExpressionError as exc:
        return None, exc.message


def _copy_plain(value: dict[str, Any]) -> dict[str, Any]:
    # Run state is plain JSON data (the engine checks outputs), so the fast copier almost
    # always applies; anything else still gets a faithful deep copy.
    try:
        copied: dict[str, Any] = copy_json_fast(value)
    except NotPlainJSON:
        copied = copy.deepcopy(value)
    return copied


def _resume_paused(tree: RunTree) -> None:
    if tree.stop is None:
        return
    tree.mode, tree.ref_frames = StepMode.PAUSE, tree.stop.frames
    tree.pause_reason = StopReason.PAUSE
    tree.open_gate()


def _step_reason(mode: StepMode, tree: RunTree, pending: PendingStep) -> StopReason | None:
    """Whether the recorded stepping mode stops before ``pending``."""
    if mode is StepMode.PAUSE:
        return tree.pause_reason
    ref = tree.ref_frames
    if not ref:
        return StopReason.STEP
    depth, ref_depth = pending.depth, len(ref)
    frames = pending.frames
    same = pending.run_id == ref[-1].run_id
    ancestor = depth < ref_depth and pending.run_id == ref[depth - 1].run_id
    if mode is StepMode.OUT:
        return StopReason.STEP if ancestor else None
    if same or ancestor:
        return StopReason.STEP
    if mode is StepMode.INTO and depth > ref_depth and frames[ref_depth - 1] == ref[-1]:
        return StopReason.STEP
    return None
