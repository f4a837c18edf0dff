"""One run in flight: scheduling its DAG, committing its events, controlling it.

Scheduling is driven by step completions rather than by a central loop: when a step's
result is committed, the steps it unblocks are started, and the task that ran the step
carries on with one of them. A linear chain therefore runs in a single task with no
scheduler round trip per step, which keeps per-step overhead low.

Every write goes through :meth:`RunExecution.commit`: drafts get their seqs there, are
written with the run's fence (its root's lease epoch), and only then reach observers.
Code outside the engine drives a run through the :class:`~flowscope.engine.hooks.RunControl`
methods here (``pause``, ``resume``, ``cancel``, ``interrupt``, ``rewind``, ``emit``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from flowscope.engine import events as ev
from flowscope.engine import memory
from flowscope.engine.actions import is_async_callable
from flowscope.engine.attempts import Draft, StepRunner, jsonable, utcnow
from flowscope.engine.context import idempotency_key
from flowscope.engine.controls import RunControls
from flowscope.engine.executors import Executor
from flowscope.engine.failure import ChildRunFailedError, error_info
from flowscope.engine.hooks import Frame, PendingStep
from flowscope.engine.leases import Fence, Lease
from flowscope.engine.preload import PauseClock, Preloaded
from flowscope.engine.records import ErrorInfo, RunRecord, RunResult, StepAttemptRecord
from flowscope.engine.state import RunState
from flowscope.engine.status import RunStatus, StepStatus, check_transition
from flowscope.errors import (
    ExpressionError,
    LeaseLostError,
    OutputNotSerializableError,
    StepTimeoutError,
)
from flowscope.model.workflow import Step, Workflow

if TYPE_CHECKING:
    from flowscope.engine.hooks import HookSet
    from flowscope.engine.journal import Journal

log = logging.getLogger("flowscope.engine")

__all__ = ["Host", "Preloaded", "RunExecution", "utcnow"]


class Host(Protocol):
    """What a run in flight needs from the engine that executes it (``Engine`` is one)."""

    store: Journal
    hooks: HookSet
    owner: str
    lease_ttl: float
    measure_memory: bool
    live: dict[str, RunExecution]

    def classify(self, exc: BaseException) -> str:
        """The error category of ``exc``."""
        ...

    def executor(self, name: str) -> Executor:
        """The executor registered as ``name``."""
        ...

    def keep_lease(self, lease: Lease, execution: RunExecution) -> None:
        """Renew ``lease`` while ``execution`` runs."""
        ...

    def drop_lease(self, lease: Lease, *, release: bool) -> None:
        """Stop renewing ``lease`` (and give it up)."""
        ...

    def finished_child(self, parent: RunExecution, step: Step) -> RunRecord | None:
        """On resume: the completed child run of ``step``, if any."""
        ...

    def child_execution(self, parent: RunExecution, step: Step,
                        pending: PendingStep) -> RunExecution:
        """Create (or pick up) the child run of a sub-workflow step."""
        ...


class RunExecution(StepRunner, RunControls):
    """The live side of one run (the journal holds the durable side)."""

    def __init__(
        self,
        engine: Host,
        workflow: Workflow,
        record: RunRecord,
        *,
        actions: Mapping[str, Callable[..., Any]],
        parent: RunExecution | None = None,
        frames: tuple[Frame, ...] = (),
        preloaded: Preloaded | None = None,
        max_concurrency: int = 8,
        lease: Lease | None = None,
    ) -> None:
        self.engine = engine
        self.journal = engine.store
        self.hooks = engine.hooks
        self.workflow = workflow
        self.record = record
        self.run_id = record.id
        self.status = record.status
        self.parent = parent
        self.root: RunExecution = parent.root if parent else self
        self.depth = len(frames) + 1 if parent else 1
        self.frames_prefix = frames
        self.actions = actions
        self._is_async = {sid: is_async_callable(fn) for sid, fn in actions.items()}
        self._executors = {s.id: engine.executor(s.executor or "thread")
                           for s in workflow.steps if s.id in actions}
        self._measure = engine.measure_memory
        self.preloaded = preloaded
        self.max_concurrency = max(1, max_concurrency)
        start_vars = preloaded.vars if preloaded and preloaded.vars is not None else record.vars
        self.state = RunState(
            inputs=record.inputs,
            run={"id": record.id, "workflow": workflow.name, "version": workflow.version,
                 "user": record.user, "tags": dict(record.tags),
                 "parent_run_id": record.parent_run_id},
            vars=start_vars,
        )
        self.children: dict[str, RunExecution] = {}
        self.pause_clock: PauseClock = parent.pause_clock if parent else PauseClock()
        self._by_id = {s.id: s for s in workflow.steps}
        self._dependents = workflow.dependents()
        self._seq = preloaded.last_seq if preloaded else 0
        self._remaining: dict[str, int] = {}
        self._ready: deque[tuple[str, str | None]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._task_step: dict[asyncio.Task[None], str] = {}
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._executing: set[str] = set()
        self._uncancellable: set[str] = set()
        self._unflushed: dict[Any, None] = {}
        self._flush_armed = False
        self._failures: list[tuple[str, ErrorInfo]] = []
        self._cancelled = False
        self._interrupted: str | None = None
        self._rewinding = False
        self._internal: BaseException | None = None
        self._lost: LeaseLostError | None = None
        self._lease: Lease | None = None
        self._fence: Fence | None = None
        self._hold(lease)
        self._done: asyncio.Future[None] | None = None
        self._pending_restart: list[str] = []
        self._started_any = False
        self._started_mono = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- RunControl: what others read --------------------------------------------------------

    @property
    def root_run_id(self) -> str:
        """The id of the root run of this run's tree."""
        return self.root.run_id

    @property
    def statuses(self) -> Mapping[str, StepStatus]:
        """Step id -> the final status of each finished step."""
        return self.state.statuses

    @property
    def executing(self) -> frozenset[str]:
        """Ids of the steps whose code is running right now."""
        return frozenset(self._executing)

    @property
    def waiting(self) -> frozenset[str]:
        """Ids of the steps held in a ``before_step`` hook (stopped before they start)."""
        return frozenset(self._waiting)

    @property
    def fence(self) -> Fence | None:
        """What this run's writes carry: its root's lease epoch."""
        return self.root._fence

    def _hold(self, lease: Lease | None) -> None:
        self._lease = lease
        self._fence = lease.fence if lease is not None else None

    @property
    def _stopping(self) -> bool:
        return self._cancelled or self._internal is not None or self._interrupted is not None \
            or self.root._lost is not None

    # -- events ---------------------------------------------------------------------------

    def commit(self, drafts: list[Draft], write: Callable[[list[ev.Event]], None]) -> None:
        """Number the drafts, write them with ``write``, then show them to observers.

        Numbering and writing happen in one call on the loop thread, so seqs are gap-free
        and stored in order; nothing reaches an observer unless its write succeeded.
        """
        seq = self._seq
        events: list[ev.Event] = []
        for cls, step_id, ts, fields in drafts:
            seq += 1
            events.append(cls(run_id=self.run_id, seq=seq, ts=ts, step_id=step_id, **fields))
        try:
            write(events)
        except LeaseLostError as exc:
            self.root.lose(exc)
            raise
        self._seq = seq
        observers = self.hooks.observers
        if observers:
            for event in events:
                for hook in observers:
                    try:
                        hook.on_event(event)
                    except Exception:  # an observer never breaks a run
                        log.exception("event observer %r failed on %s", hook, event.kind)

    def emit(self, cls: type[ev.Event], step_id: str | None = None, **fields: Any) -> ev.Event:
        """Commit an event that belongs to no step result (logs, edits); return it."""
        out: list[ev.Event] = []
        run_vars = None
        if cls is ev.VariableEdited and str(fields.get("path", "")).startswith("vars"):
            run_vars = (self.run_id, dict(self.state.vars))

        def write(events: list[ev.Event]) -> None:
            self.journal.append_events(events, fence=self.fence, run_vars=run_vars)
            out.extend(events)

        self.commit([self.draft(cls, step_id, **fields)], write)
        return out[0]

    def classify(self, exc: BaseException) -> str:
        """The error category of ``exc``."""
        return self.engine.classify(exc)

    # -- status -----------------------------------------------------------------------------

    def _set_status(self, new: RunStatus, drafts: list[Draft] | None = None,
                    **kwargs: Any) -> None:
        check_transition(self.status, new, run_id=self.run_id)
        self.commit(drafts or [], lambda events: self.journal.update_run(
            self.run_id, status=new, events=events, fence=self.fence, **kwargs))
        self.status = new

    def pause(self, reason: str) -> None:
        """Record that the run stopped (the debugger calls this; steps wait in its hook).

        Only a running run can stop; for any other status this does nothing.
        """
        if self.status is not RunStatus.RUNNING:
            return
        self._set_status(RunStatus.PAUSED, [self.draft(ev.RunPaused, reason=reason)])
        self.pause_clock.pause()

    def resume(self) -> None:
        """Record that a stopped run goes on."""
        if self.status is not RunStatus.PAUSED:
            return
        self._set_status(RunStatus.RUNNING, [self.draft(ev.RunContinued)])
        self.pause_clock.unpause()

    # -- the run ----------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        """Run to the end (or until cancelled, interrupted or taken over); return the result.

        Raises:
            LeaseLostError: another owner took the run over; nothing more was written.
        """
        self.loop = asyncio.get_running_loop()
        if self.parent is None and self._lease is None:
            self._hold(self.journal.acquire_lease(self.run_id, self.engine.owner,
                                                  ttl=self.engine.lease_ttl))
        self._done = self.loop.create_future()
        self._started_mono = time.monotonic()
        self.engine.live[self.run_id] = self
        measuring = self.parent is None and self.engine.measure_memory
        if measuring:
            memory.acquire()
        if self.parent is None and self._lease is not None:
            self.engine.keep_lease(self._lease, self)
        try:
            self._begin()
            self._start_ready()
            try:
                await self._done
            except asyncio.CancelledError:
                self._cancel_tasks()
                if self._tasks:
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                if self._interrupted is None:
                    self._cancelled = True
                self._finish()
                raise
            return self._finish()
        finally:
            self.engine.live.pop(self.run_id, None)
            if self.parent is None and self._lease is not None:
                self.engine.drop_lease(self._lease, release=self._lost is None
                                       and self.status is not RunStatus.RUNNING
                                       and self.status is not RunStatus.PAUSED)
            if measuring:
                memory.release()

    def _begin(self) -> None:
        pre = self.preloaded
        if pre is None or pre.reused_from is not None:
            fields: dict[str, Any] = dict(
                workflow=self.workflow.name, version=self.workflow.version,
                inputs=dict(self.state.inputs), parent_run_id=self.record.parent_run_id,
                parent_step_id=self.record.parent_step_id,
            )
            if self.state.vars:
                fields["vars"] = dict(self.state.vars)
            started = self.draft(ev.RunStarted, **fields)
            self._set_status(RunStatus.RUNNING, [started], started_at=started[2])
        else:
            resumed = self.draft(ev.RunResumed, completed_steps=len(pre.results))
            if self.status is RunStatus.RUNNING:
                self.commit([resumed], self._append)
            else:
                self._set_status(RunStatus.RUNNING, [resumed])
        done: set[str] = set()
        if pre is not None:
            for step in self.workflow.steps:
                rec = pre.results.get(step.id)
                if rec is None:
                    continue
                done.add(step.id)
                self.state.set_result(step.id, rec.status, rec.output)
                if pre.reused_from is not None:
                    self._record_reused(step, rec, pre.reused_from)
            for sid, (attempt, action) in pre.uncertain.items():
                self._record_uncertain(self._by_id[sid], attempt,
                                       idempotency_key(self.run_id, sid, attempt), action)
                if action == "fail":
                    done.add(sid)
        ready = self._count_remaining(done)
        if pre is not None and pre.first_step in ready:
            ready.remove(pre.first_step)
            ready.insert(0, pre.first_step)
        self._ready.extend((sid, None) for sid in ready)

    def _count_remaining(self, done: set[str]) -> list[str]:
        """Count what each step not in ``done`` still waits for; return those waiting for none."""
        self._remaining = {}
        for step in self.workflow.steps:
            if step.id not in done:
                self._remaining[step.id] = sum(1 for n in step.needs if n not in done)
        return [sid for sid, n in self._remaining.items() if n == 0]

    def _record_reused(self, step: Step, rec: StepAttemptRecord, source_run: str) -> None:
        now = utcnow()
        record = StepAttemptRecord(
            run_id=self.run_id, step_id=step.id, attempt=rec.attempt, status=rec.status,
            input=rec.input, output=rec.output, ready_at=now, started_at=now,
            ended_at=now, duration_ms=0.0, queue_wait_ms=0.0,
            reused_from_run_id=source_run, skip_reason=rec.skip_reason,
            cause_step_id=rec.cause_step_id, child_run_id=rec.child_run_id,
        )
        self.commit([self.draft(ev.StepReused, step.id, from_run_id=source_run)],
                    lambda events: self.journal.record_step(record, events, fence=self.fence))

    def _start_ready(self) -> None:
        while self._ready and self._running < self.max_concurrency and not self._stopping:
            step_id, via = self._ready.popleft()
            self._spawn(step_id, via)
        # During a rewind the cancelled tasks end before the steps are queued again.
        if self._running == 0 and (not self._ready or self._stopping) and not self._rewinding:
            self._resolve_done()

    def _spawn(self, step_id: str, via: str | None) -> None:
        assert self.loop is not None
        self._running += 1
        task = self.loop.create_task(self._step_task(step_id, via), name=f"step:{step_id}")
        self._tasks.add(task)
        task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._task_step.pop(task, None)

    def _resolve_done(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def _step_task(self, step_id: str, via: str | None) -> None:
        current: tuple[str, str | None] | None = (step_id, via)
        task = asyncio.current_task()
        try:
            while current is not None and not self._stopping:
                sid, svia = current
                if task is not None:
                    self._task_step[task] = sid
                await self._run_step(self._by_id[sid], svia)
                current = self._advance(sid)
        except asyncio.CancelledError:
            pass  # cancellation, interrupt or rewind: the step recorded what it had to
        except LeaseLostError:
            pass  # another owner has the run: write nothing more
        except BaseException as exc:  # an engine fault must end the run, not hang it
            log.exception("internal error in run %s", self.run_id)
            self._internal = exc
            self._cancel_tasks()
        finally:
            self._running -= 1
            self._start_ready()

    def _advance(self, step_id: str) -> tuple[str, str | None] | None:
        """Unblock the step's dependents; return one to run next in this task."""
        nxt: tuple[str, str | None] | None = None
        for dep in self._dependents[step_id]:
            if dep not in self._remaining:
                continue
            self._remaining[dep] -= 1
            if self._remaining[dep] == 0:
                if nxt is None:
                    nxt = (dep, step_id)
                else:
                    self._ready.append((dep, step_id))
        if self._ready and self._running < self.max_concurrency and not self._stopping:
            self._start_ready()
        return nxt

    # -- sub-workflows -------------------------------------------------------------------------

    async def _run_child(self, step: Step, pending: PendingStep) -> tuple[Any, str]:
        done = self.engine.finished_child(self, step)
        if done is not None:  # it completed before a crash; its parent step had not committed
            return dict(done.outputs or {}), done.id
        child = self.engine.child_execution(self, step, pending)
        self.children[step.id] = child
        task = asyncio.ensure_future(child.execute())
        try:
            if step.timeout is None:
                result = await task
            else:
                result = await self._pausable_timeout(step, task)
        finally:
            self.children.pop(step.id, None)
        if result.status is RunStatus.COMPLETED:
            return result.outputs, child.run_id
        if result.status in (RunStatus.CANCELLED, RunStatus.INTERRUPTED):
            raise asyncio.CancelledError
        raise ChildRunFailedError(child.run_id, result.error)

    async def _pausable_timeout(self, step: Step, task: asyncio.Future[RunResult]) -> RunResult:
        # A sub-workflow may be stopped in the debugger; that time does not count.
        assert step.timeout is not None
        start = time.monotonic()
        paused0 = self.pause_clock.elapsed()
        remaining = step.timeout
        while True:
            done, _ = await asyncio.wait({task}, timeout=remaining)
            if done:
                return task.result()
            used = (time.monotonic() - start) - (self.pause_clock.elapsed() - paused0)
            if used >= step.timeout:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise StepTimeoutError(step.id, step.timeout)
            remaining = step.timeout - used

    # -- ending -----------------------------------------------------------------------------

    def _finish(self) -> RunResult:
        ended = utcnow()
        duration = (time.monotonic() - self._started_mono) * 1000.0
        outputs: dict[str, Any] | None = None
        error: ErrorInfo | None = None
        failed_step: str | None = None
        if self.status is RunStatus.PAUSED:
            self.pause_clock.unpause()
        self._unflushed.clear()  # starts of attempts that never ended are not committed
        lost = self.root._lost
        if lost is not None:
            raise lost
        drafts: list[Draft]
        if self._cancelled:
            status = RunStatus.CANCELLED
            drafts = [self.draft(ev.RunCancelled, duration_ms=duration)]
        elif self._interrupted is not None:
            status = RunStatus.INTERRUPTED
            drafts = [self.draft(ev.RunInterrupted, reason=self._interrupted)]
        elif self._internal is not None or self._failures:
            status = RunStatus.FAILED
            if self._failures:
                failed_step, error = self._failures[0]
            else:
                assert self._internal is not None
                error = error_info(self._internal, self.engine.classify)
        else:
            try:
                rendered = self.workflow.outputs_template.render(self.state.scope)
                outputs = jsonable(rendered, "outputs") if isinstance(rendered, dict) else {}
                status = RunStatus.COMPLETED
            except (ExpressionError, OutputNotSerializableError) as exc:
                status = RunStatus.FAILED
                error = error_info(exc, self.engine.classify)
        if status is RunStatus.COMPLETED:
            drafts = [self.draft(ev.RunCompleted, outputs=outputs or {}, duration_ms=duration)]
        elif status is RunStatus.FAILED:
            assert error is not None
            drafts = [self.draft(
                ev.RunFailed, error_type=error.type, message=error.message,
                category=error.category, failed_step=failed_step, duration_ms=duration,
            )]
        finished = status is not RunStatus.INTERRUPTED
        self._set_status(status, drafts, ended_at=ended if finished else None,
                         outputs=outputs, error=error, failed_step=failed_step,
                         run_vars=dict(self.state.vars))
        for hook in self.hooks.finished:
            try:
                hook.on_run_finished(run_id=self.run_id, status=status.value,
                                     outputs=outputs, error=error)
            except Exception:
                log.exception("run-finished hook %r failed", hook)
        return RunResult(
            id=self.run_id, workflow=self.workflow.name, status=status, outputs=outputs,
            error=error, failed_step=failed_step, duration_ms=duration,
        )
