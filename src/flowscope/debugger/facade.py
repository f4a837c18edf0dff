"""``WorkflowDebugger``: the seed-compatible facade over the debugger.

Standalone (``engine=None``) it is bookkeeping on plain dicts: breakpoints tested with
:meth:`WorkflowDebugger.should_pause`, snapshots, watches, step mode. Attached to an
engine it owns a :class:`~flowscope.debugger.core.Debugger` and one session for its
user: :meth:`WorkflowDebugger.start` runs a workflow under it in a background thread
(with its own event loop) and the stepping and inspection methods act on the stopped run.
"""

from __future__ import annotations

import concurrent.futures
import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flowscope.background import InThread, start_in_thread
from flowscope.debugger.breakpoints import Breakpoint, Outcome, make_breakpoint
from flowscope.debugger.errors import DebuggerValueError, RunWaitTimeoutError
from flowscope.debugger.snapshots import Snapshot, SnapshotRing
from flowscope.debugger.stops import Stop
from flowscope.debugger.traces import TraceEntry, build_trace
from flowscope.debugger.values import MISSING, compare_states, lookup
from flowscope.errors import ExpressionError
from flowscope.expressions import Expression, compile_expression, interpolate_braces

if TYPE_CHECKING:
    from flowscope.debugger.core import Debugger
    from flowscope.debugger.restore import Rewound
    from flowscope.debugger.session import Session
    from flowscope.engine.runner import Engine, RunResult

STEP_MODES = ("step_over", "step_into", "step_out", "continue")


class BackgroundRun:
    """A run going on in a background thread (``WorkflowDebugger.start``)."""

    def __init__(self, run_id: str, job: InThread[RunResult]) -> None:
        self.run_id = run_id
        self._job = job

    def done(self) -> bool:
        """Whether the run has ended."""
        return self._job.done()

    def result(self, timeout: float | None = None) -> RunResult:
        """Wait for the run to end and return its result.

        Raises:
            RunWaitTimeoutError: It did not end within ``timeout`` seconds.
        """
        try:
            return self._job.result(timeout)
        except concurrent.futures.TimeoutError:
            raise RunWaitTimeoutError(
                f"run {self.run_id} did not end within {timeout}s",
                hint="it may be stopped in the debugger: continue it, or wait longer",
            ) from None


class WorkflowDebugger:
    """The debugger's seed-compatible API (see the module docstring).

    Args:
        engine: Attach to this engine (None: standalone bookkeeping).
        max_snapshots: Bound of the in-memory snapshot ring (oldest dropped).
        user: The owner of the debug session.
    """

    def __init__(self, engine: Engine | None = None, *, max_snapshots: int = 100,
                 user: str = "default") -> None:
        self._engine = engine
        self._store = engine.store if engine is not None else None
        self._user = user
        self.max_snapshots = max_snapshots
        self.current_step = 0
        self.total_steps = 0
        self.step_mode = "continue"
        self.logs: list[str] = []
        """Messages of logpoints hit through :meth:`should_pause`."""
        self._bps: dict[str, Breakpoint] = {}
        self._next_bp = 1
        self._watches: dict[str, Expression] = {}
        self._watch_seen: dict[str, Any] = {}
        self._tracing = False
        self._trace: list[TraceEntry] = []
        self._traced_runs: list[str] = []
        self._last_state: dict[str, Any] = {}
        self._debugger: Debugger | None = None
        self._session: Session | None = None
        self._runs: list[BackgroundRun] = []
        if engine is not None:
            from flowscope.debugger.core import Debugger

            self._debugger = Debugger(engine, max_snapshots=max_snapshots)
            self._session = self._debugger.open_session(user=user)
            self._ring = self._session.ring
        else:
            self._ring = SnapshotRing(max_snapshots)

    @property
    def session(self) -> Session | None:
        """The debug session (attached mode)."""
        return self._session

    @property
    def debugger(self) -> Debugger | None:
        """The debugger core (attached mode)."""
        return self._debugger

    # -- breakpoints ---------------------------------------------------------------------------

    def set_breakpoint(self, step_id: str, *, enabled: bool = True, condition: str | None = None,
                       hit_condition: str | int | None = None, hit_limit: int | None = None,
                       log_message: str | None = None) -> Breakpoint:
        """Set the breakpoint of a step (replacing one there, once the new one is valid)."""
        if self._session is not None:
            bp = self._session.set_breakpoint(
                step_id, enabled=enabled, condition=condition,
                hit_condition=hit_condition, hit_limit=hit_limit, log_message=log_message)
        else:
            bp = make_breakpoint(self._next_bp, step_id=step_id, enabled=enabled,
                                 condition=condition, hit_condition=hit_condition,
                                 hit_limit=hit_limit, log_message=log_message)
            self._next_bp += 1
        if step_id in self._bps:
            self.clear_breakpoint(step_id)
        self._bps[step_id] = bp
        return bp

    def clear_breakpoint(self, step_id: str) -> bool:
        """Remove the breakpoint of a step; return whether there was one."""
        bp = self._bps.pop(step_id, None)
        if bp is None:
            return False
        if self._session is not None:
            self._session.remove_breakpoint(bp.id)
        return True

    def has_breakpoint(self, step_id: str) -> bool:
        """Whether an enabled breakpoint is set on the step."""
        bp = self._bps.get(step_id)
        return bp is not None and bp.enabled

    def list_breakpoints(self) -> list[Breakpoint]:
        """Every breakpoint, in the order they were set."""
        return sorted(self._bps.values(), key=lambda b: b.id)

    def breakpoint_count(self) -> int:
        """How many breakpoints are set (enabled or not)."""
        return len(self._bps)

    def should_pause(self, step_id: str, variables: Mapping[str, Any] | None = None) -> bool:
        """Test the step's breakpoint on ``variables`` (counting a hit; logpoints log)."""
        scope = dict(variables or {})
        if self._tracing:
            self._trace.append(TraceEntry(run_id="", step_id=step_id, attempt=0,
                                          status="checked", input=copy.deepcopy(scope)))
        bp = self._bps.get(step_id)
        if bp is None:
            return False
        outcome = bp.check(scope)
        if outcome is Outcome.LOG:
            assert bp.log_message is not None
            self.logs.append(interpolate_braces(bp.log_message, scope))
            return False
        return outcome is Outcome.STOP

    # -- state -----------------------------------------------------------------------------------

    def capture_state(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Return a deep copy of ``variables`` (independent of later changes)."""
        self._last_state = copy.deepcopy(dict(variables))
        return copy.deepcopy(self._last_state)

    @staticmethod
    def get_variable(state: Mapping[str, Any], path: str) -> Any:
        """The value at a dotted path (``"a.b"``, ``"items.0.id"``), or None."""
        value = lookup(state, path)
        return None if value is MISSING else copy.deepcopy(value)

    def set_current_step(self, step: int, total_steps: int) -> None:
        """Record the position; ValueError unless ``0 <= step < total_steps``."""
        if isinstance(step, bool) or isinstance(total_steps, bool) \
                or not isinstance(step, int) or not isinstance(total_steps, int) \
                or not 0 <= step < total_steps:
            raise DebuggerValueError(f"step {step!r} is not in range for {total_steps!r} steps",
                                     hint="pass 0 <= step < total_steps")
        self.current_step, self.total_steps = step, total_steps

    def set_step_mode(self, mode: str) -> None:
        """Record the stepping mode: step_over, step_into, step_out or continue."""
        if mode not in STEP_MODES:
            raise DebuggerValueError(f"unknown step mode {mode!r}",
                                     hint="use one of " + ", ".join(STEP_MODES))
        self.step_mode = mode

    # -- snapshots -------------------------------------------------------------------------------

    def take_snapshot(self, state: Mapping[str, Any], *, label: str | None = None) -> Snapshot:
        """Keep a deep copy of ``state`` in the ring (the oldest is dropped when full)."""
        return self._ring.append(Snapshot(self._ring.next_id(), state, label=label))

    create_snapshot = take_snapshot

    def get_snapshots(self) -> list[Snapshot]:
        """The snapshots in the ring, oldest first."""
        return list(self._ring)

    def snapshot_count(self) -> int:
        """How many snapshots the ring holds (never more than max_snapshots)."""
        return len(self._ring)

    def restore_snapshot(self, snapshot_id: int, *,
                         rerun_effects: bool = False) -> dict[str, Any]:
        """Return a snapshot's state; attached and stopped, also rewind the run to it.

        Steps with external effects keep their recorded results unless ``rerun_effects``
        (:meth:`restore` also says which ones were kept).
        """
        snap = self._ring.get(snapshot_id)
        session = self._session
        if session is not None and snap.run_id is not None \
                and session.current_stop() is not None:
            session.restore(snap, rerun_effects=rerun_effects)
        return snap.to_dict()

    def restore(self, snapshot_id: int, *, rerun_effects: bool = False) -> Rewound:
        """Rewind the stopped run to a snapshot (attached mode); see :meth:`Session.restore`.

        Returns:
            The steps set aside (they run again), with ``kept_external``: the steps with
            external effects that kept their recorded results.
        """
        return self._need_session("restore").restore(snapshot_id, rerun_effects=rerun_effects)

    def compare_states(self, a: Mapping[str, Any] | int,
                       b: Mapping[str, Any] | int) -> dict[str, dict[str, Any]]:
        """Compare two states or snapshot ids: added / removed / changed by dotted path."""
        sa = self._ring.get(a).to_dict() if isinstance(a, int) else a
        sb = self._ring.get(b).to_dict() if isinstance(b, int) else b
        return compare_states(sa, sb)

    # -- watches ---------------------------------------------------------------------------------

    def add_watch(self, expression: str) -> None:
        """Watch an expression (refused now if it does not compile)."""
        self._watches[expression] = compile_expression(expression)
        if self._session is not None:
            self._session.add_watch(expression)

    watch_variable = add_watch

    def get_watched_values(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Expression -> value over ``state`` (omitted when it cannot be evaluated)."""
        out: dict[str, Any] = {}
        for text, expr in self._watches.items():
            try:
                out[text] = expr.evaluate(state)
            except ExpressionError:
                continue
        return out

    def watch_triggered(self, state: Mapping[str, Any]) -> list[str]:
        """Watches whose value changed since the last call (the first call sets the baseline)."""
        values = self.get_watched_values(state)
        changed = []
        for text in self._watches:
            value = values.get(text, MISSING)
            if text in self._watch_seen and self._watch_seen[text] != value:
                changed.append(text)
            self._watch_seen[text] = copy.deepcopy(value)
        return changed

    # -- attached: runs, stops, stepping ---------------------------------------------------------

    def _need_session(self, what: str) -> Session:
        if self._session is None:
            raise DebuggerValueError(f"{what} needs an engine",
                                     hint="create WorkflowDebugger(engine)")
        return self._session

    def start(self, workflow: Any, inputs: Mapping[str, Any] | None = None, *,
              stop_on_entry: bool = False, stop_on_error: bool = False,
              **run_options: Any) -> BackgroundRun:
        """Start a run under this debugger in a background thread; return its handle."""
        session = self._need_session("start")
        assert self._engine is not None and self._debugger is not None
        run_options.setdefault("user", self._user)
        execution = self._engine.prepare(workflow, inputs, **run_options)
        session.stop_on_entry, session.stop_on_error = stop_on_entry, stop_on_error
        self._debugger.attach(session.id, execution.run_id, user=self._user)
        if self._tracing:
            self._traced_runs.append(execution.run_id)
        job = start_in_thread(execution.execute, name=f"flowscope-debug-{execution.run_id[:8]}",
                              start=False)
        handle = BackgroundRun(execution.run_id, job)
        self._runs.append(handle)
        job.start()
        return handle

    def wait_for_stop(self, timeout: float | None = None) -> Stop | None:
        """The next stop; None when the run ended instead.

        Raises:
            StopTimeoutError: Neither happened within ``timeout`` seconds.
        """
        return self._need_session("wait_for_stop").wait_for_stop(timeout)

    def step_over(self) -> None:
        """Run the current step (a sub-workflow included); stop before the next one."""
        self.step_mode = "step_over"
        self._need_session("step_over").step_over()

    def step_into(self) -> None:
        """Enter the current sub-workflow step (on a plain step: step over)."""
        self.step_mode = "step_into"
        self._need_session("step_into").step_into()

    def step_out(self) -> None:
        """Finish the current sub-workflow; stop at the next step of the parent."""
        self.step_mode = "step_out"
        self._need_session("step_out").step_out()

    def continue_execution(self) -> None:
        """Run to the next breakpoint."""
        self.step_mode = "continue"
        self._need_session("continue_execution").continue_()

    def pause_execution(self) -> None:
        """Stop the run before its next step starts."""
        self._need_session("pause_execution").pause()

    # -- attached: inspect -----------------------------------------------------------------------

    def _stop(self) -> Stop | None:
        return None if self._session is None else self._session.current_stop()

    def inspect_variable(self, path: str) -> Any:
        """The value at a dotted path: at the stop (attached) or in the last captured state."""
        if self._session is not None and self._stop() is not None:
            return self._session.inspect(path)["value"]
        return self.get_variable(self._last_state, path)

    def list_variables(self) -> dict[str, Any]:
        """Top-level variables: the scopes at the stop, or the last captured state."""
        if self._session is not None and self._stop() is not None:
            return {v.name: self._session.inspect(v.name)["value"]
                    for v in self._session.scopes()}
        return copy.deepcopy(self._last_state)

    def get_execution_state(self) -> dict[str, Any]:
        """``{"status", "run_id", "step_id", "frames", "variables"}`` (+ position, mode)."""
        stop = self._stop()
        run_id = stop.run_id if stop else (self._runs[-1].run_id if self._runs else None)
        status = "idle"
        if run_id is not None and self._store is not None:
            status = self._store.get_run(run_id).status.value
        return {
            "status": status, "run_id": run_id, "step_id": stop.step_id if stop else None,
            "frames": [{"run_id": f.run_id, "workflow": f.workflow, "step_id": f.step_id}
                       for f in stop.frames] if stop else [],
            "variables": self.list_variables(),
            "current_step": self.current_step, "total_steps": self.total_steps,
            "step_mode": self.step_mode,
        }

    # -- tracing and fork --------------------------------------------------------------------------

    def start_tracing(self) -> None:
        """Record traces from now on (checks, and runs started with :meth:`start`)."""
        self._tracing = True

    def stop_tracing(self) -> None:
        """Stop recording traces (what was recorded is kept)."""
        self._tracing = False

    def get_trace(self) -> list[TraceEntry]:
        """The recorded trace: breakpoint checks, then the traced runs' step attempts."""
        out = list(self._trace)
        if self._store is not None:
            for run_id in self._traced_runs:
                out.extend(build_trace(self._store, run_id, include_children=True))
        return out

    def fork(self, run_id: str, from_step: str, state_edits: Mapping[str, Any] | None = None,
             rerun_effects: bool = False) -> RunResult:
        """Run a new run from ``from_step`` of a past run, reusing what came before."""
        return self._need_session("fork").fork(run_id, from_step, state_edits, rerun_effects)

    def fork_preview(self, run_id: str, from_step: str,
                     rerun_effects: bool = False) -> dict[str, Any]:
        """Which steps a fork would reuse and run, and which external calls would repeat."""
        return self._need_session("fork_preview").fork_preview(
            run_id, from_step, rerun_effects)

    def close(self) -> None:
        """Detach from the engine (stopped runs go on)."""
        if self._debugger is not None:
            self._debugger.close()
