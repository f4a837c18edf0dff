"""A debug session: breakpoints, stepping, watches, snapshots and inspection of stops.

The session decides whether a run stops (:meth:`Session.dispatch_step`, called by the
:class:`~flowscope.debugger.core.Debugger` hook) and records commands as state
(``step_over`` only records where to stop next; the next ``before_step`` checks it with
the pure predicate :func:`~flowscope.debugger.stepping.stop_here`). It never prints or
reads input: front ends call :meth:`wait_for_stop` or :meth:`subscribe` and then the
commands.

Ownership is checked once, where a session is looked up
(:meth:`Debugger.get_session <flowscope.debugger.core.Debugger.get_session>` hands a
session only to its owner); the session's own methods take no user.
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

from flowscope.debugger import history, inspection
from flowscope.debugger.breaking import BreakpointDecision, scope_of
from flowscope.debugger.breakpoints import Breakpoint, BreakpointTable, make_breakpoint
from flowscope.debugger.errors import DebuggerError, NotStoppedError, StopTimeoutError
from flowscope.debugger.persistence import DebugStore, SessionRecord
from flowscope.debugger.restore import Rewound, rewind_to
from flowscope.debugger.snapshots import Snapshot, SnapshotRing
from flowscope.debugger.stepping import stop_here
from flowscope.debugger.stops import StepMode, Stop, StopReason, WatchValue
from flowscope.debugger.tree import RunTree
from flowscope.debugger.values import Variable, compare_states
from flowscope.debugger.watches import Watches
from flowscope.engine import events as ev
from flowscope.engine.hooks import FailedStep, FailureAction, PendingStep
from flowscope.engine.status import RunStatus
from flowscope.expressions import compile_expression

if TYPE_CHECKING:
    from flowscope.debugger.traces import TraceEntry
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
        self._breaks = BreakpointDecision(self.table, self.id, persistence, engine.control)
        self._watches = Watches()
        self.ring = SnapshotRing(max_snapshots)
        self.trees: dict[str, RunTree] = {}
        self._subscribers: list[StopCallback] = []
        self._stops: queue.Queue[Stop | None] = queue.Queue()
        self._stop_count = 0
        self._retry: set[int] = set()
        self._pause_new = False
        self._lock = threading.Lock()
        self.closed = False

    # -- breakpoints ---------------------------------------------------------------------------

    def set_breakpoint(self, step_id: str | None = None, *, kind: str = "step",
                       source: str | None = None, workflow: str | None = None,
                       categories: Iterable[str] = (), enabled: bool = True,
                       condition: str | None = None, hit_condition: str | int | None = None,
                       hit_limit: int | None = None,
                       log_message: str | None = None) -> Breakpoint:
        """Add a breakpoint (applies from the next step); bad specs are refused here."""
        bp = make_breakpoint(
            self.table.next_id(), kind, step_id=step_id, source=source, workflow=workflow,
            categories=frozenset(categories), enabled=enabled, condition=condition,
            hit_condition=hit_condition, hit_limit=hit_limit, log_message=log_message)
        self._db.put_breakpoint(self.id, bp, _now())
        return self.table.add(bp)

    def update_breakpoint(self, bp_id: int, **changes: Any) -> Breakpoint:
        """Change fields of a breakpoint (validated as when set); the hit count is kept."""
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

    def remove_breakpoint(self, bp_id: int) -> bool:
        """Remove a breakpoint; return whether there was one."""
        removed = self.table.remove(bp_id) is not None
        if removed:
            self._db.delete_breakpoint(self.id, bp_id)
        return removed

    def breakpoints(self) -> list[Breakpoint]:
        """The session's breakpoints, by id."""
        return list(self.table)

    # -- watches -------------------------------------------------------------------------------

    def add_watch(self, expression: str, *, stop_on_change: bool = False) -> None:
        """Watch an expression (refused now if it does not compile).

        Added at a stop, its value there is what the next stop compares with.
        """
        stopped = self._stopped_pending()
        self._watches.add(expression, stop_on_change=stop_on_change,
                          baseline=None if stopped is None else scope_of(stopped))

    def remove_watch(self, expression: str) -> bool:
        """Stop watching an expression; return whether it was watched."""
        return self._watches.remove(expression)

    def watch_expressions(self) -> list[str]:
        """The watched expressions."""
        return self._watches.expressions()

    def watches(self) -> list[WatchValue]:
        """The watches as of the current stop (or their last values)."""
        stop = self.current_stop()
        if stop is not None:
            return list(stop.watches)
        return self._watches.last_values()

    # -- stops -----------------------------------------------------------------------------------

    def subscribe(self, callback: StopCallback) -> None:
        """Call ``callback(stop)`` at each stop (and ``callback(None)`` when a run ends)."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: StopCallback) -> None:
        """Stop calling ``callback``."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def wait_for_stop(self, timeout: float | None = None) -> Stop | None:
        """Return the next stop, or None when a debugged run ended instead.

        Raises:
            StopTimeoutError: Neither happened within ``timeout`` seconds (the run goes on).
        """
        try:
            return self._stops.get(timeout=timeout)
        except queue.Empty:
            raise StopTimeoutError(timeout or 0.0) from None

    def current_stop(self) -> Stop | None:
        """The stop the session is at, if any."""
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
            # On a plain step, step_into is step_over.
            use = StepMode.OVER if mode is StepMode.INTO and not _is_subworkflow(tree) else mode
            tree.mode, tree.ref_frames = use, stop.frames
            tree.open_gate()

        tree.call(go)

    def step_over(self, *, run_id: str | None = None) -> None:
        """Run the current step (a whole sub-workflow included); stop before the next one."""
        self._resume("step over", StepMode.OVER, run_id)

    def step_into(self, *, run_id: str | None = None) -> None:
        """Enter the current sub-workflow step (on a plain step: step over)."""
        self._resume("step into", StepMode.INTO, run_id)

    def step_out(self, *, run_id: str | None = None) -> None:
        """Finish the current sub-workflow; stop at the next step of the parent."""
        self._resume("step out", StepMode.OUT, run_id)

    def continue_(self, *, run_id: str | None = None) -> None:
        """Run to the next breakpoint."""
        self._resume("continue", StepMode.CONTINUE, run_id)

    def retry(self) -> None:
        """At an ``exception`` stop: run the failed step again (with its input as edited)."""
        tree = self._stopped("retry")
        stop = tree.stop
        if stop is None or stop.reason is not StopReason.EXCEPTION:
            raise DebuggerError("retry only applies at an exception stop",
                                hint="use continue, or set stop_on_error=True")
        self._retry.add(stop.number)
        self._resume("retry", StepMode.CONTINUE, None)

    def pause(self) -> None:
        """Stop every debugged run before its next step starts (anywhere in its tree)."""
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
        snap = history.take_snapshot(self.ring, tree, pending, self.record_history)
        reason, hit = self._decide(tree, pending)
        if reason is not None:
            await self._stop_here(tree, pending, reason, hit, snap)

    async def dispatch_failure(self, tree: RunTree, failed: FailedStep) -> FailureAction:
        """Decide whether to stop at a failed step; return whether to retry it."""
        tree.bind_loop()
        if tree.stop is not None:
            await tree.wait_gate()
        hit = self._breaks.at_failure(failed)
        if hit is None and not self.stop_on_error:
            return FailureAction.FAIL
        tree.failed = failed
        number = await self._stop_here(tree, failed.pending, StopReason.EXCEPTION, hit, None,
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
        del self.trees[run_id]
        self._notify(None)

    def _decide(self, tree: RunTree, pending: PendingStep) -> tuple[StopReason | None,
                                                                    Breakpoint | None]:
        reason: StopReason | None = None
        entry = pending.is_first
        if entry and pending.depth == 1 and self.stop_on_entry and not tree.entered:
            tree.entered = True
            reason = StopReason.ENTRY
        table = self.table
        # The decision is only asked when a breakpoint may apply: most steps have none, and
        # this runs before every step.
        if (entry and table.entry) or pending.step.id in table.by_step \
                or (pending.via is not None and table.by_edge):
            hit = self._breaks.at_step(pending, entry)
            if hit is not None:
                return StopReason.BREAKPOINT, hit
        mode = tree.mode
        if reason is None and mode is not StepMode.CONTINUE \
                and stop_here(mode, tree.ref_frames, pending):
            reason = tree.pause_reason if mode is StepMode.PAUSE else StopReason.STEP
        if self._watches.stopping and reason is None \
                and self._watches.changed(scope_of(pending)):
            reason = StopReason.WATCH
        return reason, None

    async def _stop_here(self, tree: RunTree, pending: PendingStep, reason: StopReason,
                         hit: Breakpoint | None, snap: Snapshot | None, *,
                         error: FailedStep | None = None) -> int:
        with self._lock:
            self._stop_count += 1
            number = self._stop_count
        watches = self._watches.at_stop(scope_of(pending)) if self._watches else ()
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

    def _flush(self, tree: RunTree) -> None:
        """Write the snapshots taken since the last flush (as deltas) to the store."""
        if not tree.history:
            return
        rows = history.encode(self.id, tree)
        try:
            self._db.add_snapshots(rows)
        except Exception:  # losing history must not break the run
            log.exception("cannot store debugger snapshots of run %s", tree.root_id)

    def snapshots(self) -> list[Snapshot]:
        """The in-memory ring, oldest first."""
        return list(self.ring)

    def snapshot(self, snapshot_id: int) -> Snapshot:
        """One snapshot of the ring."""
        return self.ring.get(snapshot_id)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Every stored snapshot of a run (full states rebuilt), oldest first."""
        for tree in list(self.trees.values()):
            if tree.loop is not None and tree.loop.is_running():
                tree.call(functools.partial(self._flush, tree))
        return history.decode(self._db.snapshot_rows(self.id, run_id))

    def compare(self, a: int | Snapshot, b: int | Snapshot) -> dict[str, dict[str, Any]]:
        """Compare two snapshots: added / removed / changed by dotted path."""
        sa = a if isinstance(a, Snapshot) else self.ring.get(a)
        sb = b if isinstance(b, Snapshot) else self.ring.get(b)
        return compare_states(sa.to_dict(), sb.to_dict())

    def restore(self, snapshot: int | Snapshot, *, rerun_effects: bool = False) -> Rewound:
        """Rewind the stopped run to a snapshot; the steps after it run again.

        Steps with ``effects: external`` that would run again keep their recorded results
        (and the variables they set) unless ``rerun_effects`` is true.

        Returns:
            The steps set aside, in definition order (a list, as before), with
            ``kept_external``: the external steps that kept their results.
        """
        snap = snapshot if isinstance(snapshot, Snapshot) else self.ring.get(snapshot)
        tree = self._stopped("restore", snap.run_id)

        def rewind() -> Rewound:
            if tree.failed is not None:
                raise DebuggerError("cannot restore at an exception stop",
                                    hint="retry or continue first, then restore at a step stop")
            execution = self._engine.control(snap.run_id or "")
            if execution is None:
                raise DebuggerError(f"run {snap.run_id} is not live",
                                    hint="restore works on a stopped live run; fork past runs")
            self._flush(tree)
            self.ring.materialize_run(execution.run_id)
            store = self._engine.store
            done = rewind_to(execution, snap.to_dict(), rerun_effects=rerun_effects,
                             events=lambda run_id: store.get_events(
                                 run_id, kinds=(ev.EventKind.VARS_SET,)))
            history.forget_run(tree, execution.run_id)
            tree.mode, tree.ref_frames = StepMode.PAUSE, ()
            tree.pause_reason = StopReason.STEP
            tree.open_gate()
            return done

        return tree.call(rewind)

    # -- inspect and edit ----------------------------------------------------------------------

    def _at_stop(self, command: str, fn: Callable[[PendingStep], Any]) -> Any:
        tree = self._stopped(command)

        def call() -> Any:
            pending = tree.pending
            if pending is None:
                raise NotStoppedError(command)
            return fn(pending)

        return tree.call(call)

    def scopes(self) -> list[Variable]:
        """The top-level scopes at the stop: inputs, steps, vars, input (pending), run."""
        return list(self._at_stop("list scopes", inspection.scopes))

    def variables(self, path: str = "", start: int = 0,
                  count: int | None = None) -> list[Variable]:
        """The children of the value at ``path`` (``""``: the scopes), a page at a time."""
        return list(self._at_stop("list variables", lambda p: inspection.variables(
            p, path, start, count)))

    def inspect(self, path: str) -> dict[str, Any]:
        """The value at ``path`` with its preview: ``{"path", "value", "preview"}``."""
        return dict(self._at_stop("inspect", lambda p: inspection.inspect(p, path)))

    def evaluate(self, expression: str) -> Any:
        """Evaluate an expression over the state at the stop (``input`` = pending input)."""
        compiled = compile_expression(expression)
        return self._at_stop("evaluate", lambda p: inspection.evaluate(p, compiled))

    def set_variable(self, path: str, value: Any) -> Any:
        """Edit ``vars.*`` or ``input.*`` (the pending step's input) at the stop.

        The edit is recorded as a ``variable_edited`` event (old, new, the session's
        user). Returns the old value (None when there was none).
        """
        parts, new = inspection.check_edit(path, value)

        def edit(pending: PendingStep) -> Any:
            old = inspection.edit(pending, parts, new)
            execution = self._engine.control(pending.run_id)
            if execution is not None:
                execution.emit(ev.VariableEdited, pending.step.id, path=path, old=old,
                               new=copy.deepcopy(new), user=self.user)
            return old

        return self._at_stop("set a variable", edit)

    # -- fork and traces ---------------------------------------------------------------------------

    def fork(self, run_id: str, from_step: str, state_edits: Mapping[str, Any] | None = None,
             rerun_effects: bool = False) -> RunResult:
        """Run a new run from ``from_step`` of a past run (``Engine.fork``)."""
        return self._engine.fork(run_id, from_step, state_edits, rerun_effects)

    def fork_preview(self, run_id: str, from_step: str,
                     rerun_effects: bool = False) -> dict[str, Any]:
        """Which steps a fork would reuse and run, and which external calls would repeat."""
        return self._engine.fork_preview(run_id, from_step, rerun_effects=rerun_effects)

    def trace(self, run_id: str, step_id: str | None = None) -> list[TraceEntry]:
        """Trace entries of a run (optionally one step), from the journal."""
        from flowscope.debugger.traces import build_trace

        return list(build_trace(self._engine.store, run_id, step_id))

    def live_execution(self, run_id: str) -> RunControl | None:
        """The live execution of a run, if it is executing in the engine."""
        return self._engine.control(run_id)


def _now() -> datetime:
    return datetime.now(UTC)


def _is_subworkflow(tree: RunTree) -> bool:
    return tree.pending is not None and tree.pending.step.is_subworkflow


def _resume_paused(tree: RunTree) -> None:
    if tree.stop is None:
        return
    tree.mode, tree.ref_frames = StepMode.PAUSE, tree.stop.frames
    tree.pause_reason = StopReason.PAUSE
    tree.open_gate()
