"""One run in flight: scheduling its DAG, running steps, committing results.

Scheduling is driven by step completions rather than by a central loop: when a step's
result is committed, the steps it unblocks are started, and the task that ran the step
carries on with one of them. A linear chain therefore runs in a single task with no
scheduler round trip per step, which keeps per-step overhead low.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import tracemalloc
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flowscope.engine import events as ev
from flowscope.engine.actions import is_async_callable
from flowscope.engine.failure import ChildRunFailedError, error_info
from flowscope.engine.hooks import FailedStep, FailureAction, Frame, PendingStep
from flowscope.engine.process import importable_path, run_in_process
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.state import RunState
from flowscope.engine.status import RunStatus, StepStatus, check_transition
from flowscope.errors import (
    ExpressionError,
    OutputNotSerializableError,
    RunStateError,
    StepTimeoutError,
)
from flowscope.model.workflow import NEVER_RETRIED, Step, Workflow

if TYPE_CHECKING:
    from collections.abc import Callable

    from flowscope.engine.runner import Engine, RunResult

log = logging.getLogger("flowscope.engine")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Preloaded:
    """What a resumed or forked run starts with instead of executing some steps."""

    results: dict[str, StepAttemptRecord]
    """Step id -> the recorded attempt to reuse (completed or skipped)."""
    next_attempt: dict[str, int]
    """Step id -> the attempt number to use when the step runs again."""
    last_seq: int = 0
    """The highest event seq already stored for the run."""
    reused_from: str | None = None
    """For a fork: the run the results come from (recorded as ``StepReused``)."""


class _PauseClock:
    """Counts the time a run tree spends paused, so timeouts can leave it out."""

    __slots__ = ("paused_runs", "since", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.since = 0.0
        self.paused_runs = 0

    def pause(self) -> None:
        if self.paused_runs == 0:
            self.since = time.monotonic()
        self.paused_runs += 1

    def unpause(self) -> None:
        if self.paused_runs == 0:
            return
        self.paused_runs -= 1
        if self.paused_runs == 0:
            self.total += time.monotonic() - self.since

    def elapsed(self) -> float:
        if self.paused_runs:
            return self.total + (time.monotonic() - self.since)
        return self.total


class RunExecution:
    """The live side of one run (the journal holds the durable side)."""

    def __init__(
        self,
        engine: Engine,
        workflow: Workflow,
        record: RunRecord,
        *,
        actions: Mapping[str, Callable[..., Any]],
        parent: RunExecution | None = None,
        frames: tuple[Frame, ...] = (),
        preloaded: Preloaded | None = None,
        max_concurrency: int = 8,
    ) -> None:
        self.engine = engine
        self.journal = engine.store
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
        self.preloaded = preloaded
        self.max_concurrency = max(1, max_concurrency)
        self.state = RunState(
            inputs=record.inputs,
            run={"id": record.id, "workflow": workflow.name, "version": workflow.version,
                 "user": record.user, "tags": dict(record.tags),
                 "parent_run_id": record.parent_run_id},
            vars=record.vars,
        )
        self.children: dict[str, RunExecution] = {}
        self.pause_clock: _PauseClock = parent.pause_clock if parent else _PauseClock()
        self._by_id = {s.id: s for s in workflow.steps}
        self._dependents = workflow.dependents()
        self._seq = preloaded.last_seq if preloaded else 0
        self._remaining: dict[str, int] = {}
        self._ready: deque[tuple[str, str | None]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._executing: set[str] = set()
        self._failures: list[tuple[str, ErrorInfo]] = []
        self._cancelled = False
        self._rewinding = False
        self._internal: BaseException | None = None
        self._done: asyncio.Future[None] | None = None
        self._pending_restart: list[str] = []
        self._started_any = False
        self._started_mono = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- events ---------------------------------------------------------------------------

    def event(self, cls: type[ev.Event], step_id: str | None = None, *,
              ts: datetime | None = None, **fields: Any) -> ev.Event:
        """Make the run's next event and show it to observers (the caller stores it)."""
        self._seq += 1
        event = cls(run_id=self.run_id, seq=self._seq, ts=ts or utcnow(), step_id=step_id,
                    **fields)
        for hook in self.engine.hooks.observers:
            try:
                hook.on_event(event)
            except Exception:  # an observer never breaks a run
                log.exception("event observer %r failed on %s", hook, event.kind)
        return event

    def emit(self, cls: type[ev.Event], step_id: str | None = None, **fields: Any) -> ev.Event:
        """Make an event that belongs to no step result and store it now."""
        event = self.event(cls, step_id, **fields)
        self.journal.append_events([event])
        return event

    # -- status -----------------------------------------------------------------------------

    def _set_status(self, new: RunStatus, **kwargs: Any) -> None:
        self.status = check_transition(self.status, new, run_id=self.run_id)
        self.journal.update_run(self.run_id, status=new, **kwargs)

    @property
    def root_run_id(self) -> str:
        """The id of the root run of this run's tree."""
        return self.root.run_id

    @property
    def statuses(self) -> Mapping[str, StepStatus]:
        """Step id -> the final status of each finished step."""
        return self.state.statuses

    def pause(self, reason: str) -> None:
        """Record that the run stopped (the debugger calls this; steps wait in its hook).

        Only a running run can stop; for any other status this does nothing.
        """
        if self.status is not RunStatus.RUNNING:
            return
        event = self.event(ev.RunPaused, reason=reason)
        self._set_status(RunStatus.PAUSED, events=[event])
        self.pause_clock.pause()

    def resume(self) -> None:
        """Record that a stopped run goes on."""
        if self.status is not RunStatus.PAUSED:
            return
        event = self.event(ev.RunContinued)
        self._set_status(RunStatus.RUNNING, events=[event])
        self.pause_clock.unpause()

    @property
    def executing(self) -> frozenset[str]:
        """Ids of the steps whose code is running right now."""
        return frozenset(self._executing)

    @property
    def waiting(self) -> frozenset[str]:
        """Ids of the steps held in a ``before_step`` hook (stopped before they start)."""
        return frozenset(self._waiting)

    # -- the run ----------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        """Run to the end (or until cancelled) and return the result."""
        self.loop = asyncio.get_running_loop()
        self._done = self.loop.create_future()
        self._started_mono = time.monotonic()
        self.engine.live[self.run_id] = self
        try:
            self._begin()
            self._start_ready()
            try:
                await self._done
            except asyncio.CancelledError:
                self._cancel_tasks()
                if self._tasks:
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                self._cancelled = True
                self._finish()
                raise
            return self._finish()
        finally:
            self.engine.live.pop(self.run_id, None)
            if self.engine.started_tracing and not self.engine.live:
                # Tracing slows every allocation: stop it once no run of ours measures.
                tracemalloc.stop()
                self.engine.started_tracing = False

    def _begin(self) -> None:
        pre = self.preloaded
        if pre is None or pre.reused_from is not None:
            started = self.event(
                ev.RunStarted, workflow=self.workflow.name, version=self.workflow.version,
                inputs=dict(self.state.inputs), parent_run_id=self.record.parent_run_id,
                parent_step_id=self.record.parent_step_id,
            )
            self._set_status(RunStatus.RUNNING, started_at=started.ts, events=[started])
        else:
            resumed = self.event(ev.RunResumed, completed_steps=len(pre.results))
            if self.status is RunStatus.RUNNING:
                self.journal.append_events([resumed])
            else:
                self._set_status(RunStatus.RUNNING, events=[resumed])
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
        self._ready.extend((sid, None) for sid in self._count_remaining(done))

    def _count_remaining(self, done: set[str]) -> list[str]:
        """Count what each step not in ``done`` still waits for; return those waiting for none."""
        self._remaining = {}
        for step in self.workflow.steps:
            if step.id not in done:
                self._remaining[step.id] = sum(1 for n in step.needs if n not in done)
        return [sid for sid, n in self._remaining.items() if n == 0]

    def _record_reused(self, step: Step, rec: StepAttemptRecord, source_run: str) -> None:
        event = self.event(ev.StepReused, step.id, from_run_id=source_run)
        now = utcnow()
        self.journal.record_step(
            StepAttemptRecord(
                run_id=self.run_id, step_id=step.id, attempt=rec.attempt, status=rec.status,
                input=rec.input, output=rec.output, ready_at=now, started_at=now,
                ended_at=now, duration_ms=0.0, queue_wait_ms=0.0,
                reused_from_run_id=source_run, skip_reason=rec.skip_reason,
                cause_step_id=rec.cause_step_id, child_run_id=rec.child_run_id,
            ),
            [event],
        )

    def _start_ready(self) -> None:
        while self._ready and self._running < self.max_concurrency and not self._stopping:
            step_id, via = self._ready.popleft()
            self._spawn(step_id, via)
        # During a rewind the cancelled tasks end before the steps are queued again.
        if self._running == 0 and (not self._ready or self._stopping) and not self._rewinding:
            self._resolve_done()

    @property
    def _stopping(self) -> bool:
        return self._cancelled or self._internal is not None

    def _spawn(self, step_id: str, via: str | None) -> None:
        assert self.loop is not None
        self._running += 1
        task = self.loop.create_task(self._step_task(step_id, via), name=f"step:{step_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _resolve_done(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def _step_task(self, step_id: str, via: str | None) -> None:
        current: tuple[str, str | None] | None = (step_id, via)
        try:
            while current is not None and not self._stopping:
                sid, svia = current
                await self._run_step(self._by_id[sid], svia)
                current = self._advance(sid)
        except asyncio.CancelledError:
            pass  # cancellation or rewind: the step recorded what it had to
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

    # -- one step ---------------------------------------------------------------------------

    async def _run_step(self, step: Step, via: str | None) -> None:
        sid = step.id
        del self._remaining[sid]
        ready_at = utcnow()
        buffered: list[ev.Event] = [self.event(ev.StepReady, sid, ts=ready_at, via=via)]
        for need in step.needs:
            if self.state.statuses.get(need) is not StepStatus.COMPLETED:
                self._record_skip(step, ready_at, buffered, "upstream", need)
                return
        if step.condition is not None:
            try:
                go = bool(step.condition.evaluate(self.state.scope))
            except ExpressionError as exc:
                self._record_failure(step, 1, None, ready_at, ready_at, buffered, exc)
                return
            if not go:
                self._record_skip(step, ready_at, buffered, "condition", None)
                return
        attempt = self.preloaded.next_attempt.get(sid, 1) if self.preloaded else 1
        first_attempt = attempt
        kept_input: dict[str, Any] | None = None  # a hook asked to retry with edited input
        while True:
            try:
                resolved = kept_input if kept_input is not None else \
                    step.with_template.render(self.state.scope)
                kept_input = None
            except ExpressionError as exc:
                self._record_failure(step, attempt, None, ready_at, utcnow(), buffered, exc)
                return
            pending = PendingStep(
                run_id=self.run_id, step=step, workflow=self.workflow, attempt=attempt,
                input=resolved if isinstance(resolved, dict) else {}, state=self.state,
                parent_frames=self.frames_prefix,
                via=via, is_first=not self._started_any,
            )
            self._started_any = True
            if self.engine.hooks.before:
                await self._before_hooks(pending)
            if self._stopping:
                return
            started = utcnow()
            buffered.append(self.event(ev.StepStarted, sid, ts=started, attempt=attempt,
                                       input=pending.input))
            self._executing.add(sid)
            try:
                output, cpu_ms, peak, child_id = await self._execute(step, pending)
            except asyncio.CancelledError:
                self._executing.discard(sid)
                if not self._rewinding:
                    self._record_cancelled(step, attempt, pending, ready_at, started, buffered)
                raise
            except Exception as exc:
                self._executing.discard(sid)
                info = error_info(exc, self.engine.classify)
                policy = step.retry
                will_retry = attempt < first_attempt - 1 + policy.attempts and \
                    info.category in policy.on and info.category not in NEVER_RETRIED
                if not will_retry and self.engine.hooks.failure:
                    action = await self._failure_hooks(FailedStep(pending, info, exc))
                    if action is FailureAction.RETRY and not self._stopping:
                        self._record_failure(step, attempt, pending, ready_at, started,
                                             buffered, exc, info=info, will_retry=True)
                        buffered = []
                        attempt += 1
                        ready_at = utcnow()
                        kept_input = pending.input
                        continue
                self._record_failure(step, attempt, pending, ready_at, started, buffered,
                                     exc, info=info, will_retry=will_retry)
                if not will_retry:
                    return
                delay = policy.delay(attempt - first_attempt + 1, random.random())
                retry_event = self.event(ev.StepRetrying, sid, attempt=attempt + 1, delay=delay)
                self.journal.append_events([retry_event])
                buffered = []
                await asyncio.sleep(delay)
                if self._stopping:
                    return
                attempt += 1
                ready_at = utcnow()
                continue
            self._executing.discard(sid)
            self._record_success(step, attempt, pending, output, ready_at, started, buffered,
                                 cpu_ms, peak, child_id)
            return

    async def _before_hooks(self, pending: PendingStep) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._waiting[pending.step_id] = task
        try:
            for hook in self.engine.hooks.before:
                await hook.before_step(pending=pending)
        finally:
            self._waiting.pop(pending.step_id, None)

    async def _failure_hooks(self, failed: FailedStep) -> FailureAction:
        action = FailureAction.FAIL
        for hook in self.engine.hooks.failure:
            if await hook.on_step_failure(failed=failed) is FailureAction.RETRY:
                action = FailureAction.RETRY
        return action

    async def _execute(
        self, step: Step, pending: PendingStep
    ) -> tuple[Any, float | None, int | None, str | None]:
        if step.is_subworkflow:
            output, child_id = await self._run_child(step, pending)
            return output, None, None, child_id
        fn = self.actions[step.id]
        measure = self.engine.measure_memory
        base = 0
        if measure:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self.engine.started_tracing = True
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        cpu_ms: float | None = None
        if step.executor == "process":
            call = run_in_process(importable_path(step.uses or "", fn), pending.input,
                                  source=self.workflow.source)
            if step.timeout is None:
                output, cpu_ms, peak_bytes = await call
            else:
                output, cpu_ms, peak_bytes = await self._with_timeout(step, call)
            return _jsonable(output, step.id), cpu_ms, peak_bytes, None
        try:
            if step.executor == "inline" and not self._is_async[step.id]:
                output, cpu_ms = _timed_call(fn, pending.input)
            elif self._is_async[step.id]:
                coro = fn(**pending.input)
                if step.timeout is None:
                    output = await coro
                else:
                    output = await self._with_timeout(step, coro)
            else:
                assert self.loop is not None
                fut = self.loop.run_in_executor(self.engine.threads, _timed_call, fn,
                                                pending.input)
                if step.timeout is None:
                    output, cpu_ms = await fut
                else:
                    output, cpu_ms = await self._with_timeout(step, fut)
        except Exception as exc:
            # A failed attempt keeps its figures too (diagnosis reads them).
            if measure and tracemalloc.is_tracing():
                exc.flowscope_peak_bytes = max(  # type: ignore[attr-defined]
                    0, tracemalloc.get_traced_memory()[1] - base)
            raise
        peak = None
        if measure and tracemalloc.is_tracing():
            peak = max(0, tracemalloc.get_traced_memory()[1] - base)
        return _jsonable(output, step.id), cpu_ms, peak, None

    async def _with_timeout(self, step: Step, awaitable: Any) -> Any:
        assert step.timeout is not None
        try:
            async with asyncio.timeout(step.timeout) as scope:
                return await awaitable
        except TimeoutError:
            if scope.expired():
                raise StepTimeoutError(step.id, step.timeout) from None
            raise

    async def _run_child(self, step: Step, pending: PendingStep) -> tuple[Any, str]:
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
        if result.status is RunStatus.CANCELLED:
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

    # -- recording --------------------------------------------------------------------------

    def _record_success(
        self, step: Step, attempt: int, pending: PendingStep, output: Any,
        ready_at: datetime, started: datetime, buffered: list[ev.Event],
        cpu_ms: float | None, peak: int | None, child_id: str | None,
    ) -> None:
        ended = utcnow()
        run_vars = None
        if step.set_templates:
            scope = {**self.state.scope, "output": output}
            try:
                values = {k: _jsonable(t.render(scope), step.id)
                          for k, t in step.set_templates.items()}
            except (ExpressionError, OutputNotSerializableError) as exc:
                self._record_failure(step, attempt, pending, ready_at, started, buffered, exc)
                return
            self.state.vars.update(values)
            run_vars = dict(self.state.vars)
            buffered.append(self.event(ev.VarsSet, step.id, values=values))
        duration = (ended - started).total_seconds() * 1000.0
        buffered.append(self.event(ev.StepCompleted, step.id, ts=ended, attempt=attempt,
                                   duration_ms=duration))
        record = StepAttemptRecord(
            run_id=self.run_id, step_id=step.id, attempt=attempt,
            status=StepStatus.COMPLETED, input=pending.input, output=output,
            ready_at=ready_at, started_at=started, ended_at=ended, duration_ms=duration,
            queue_wait_ms=(started - ready_at).total_seconds() * 1000.0,
            cpu_time_ms=cpu_ms, peak_memory_bytes=peak, child_run_id=child_id,
            vars_after=run_vars,
        )
        self.journal.record_step(record, buffered, run_vars=run_vars)
        self.state.set_result(step.id, StepStatus.COMPLETED, output)
        self._after_hooks(pending, record)

    def _after_hooks(self, pending: PendingStep | None, record: StepAttemptRecord) -> None:
        if pending is None or not self.engine.hooks.after:
            return
        assert self.loop is not None
        for hook in self.engine.hooks.after:
            self.loop.create_task(_isolated(hook.after_step(pending=pending, record=record)))

    def _record_failure(
        self, step: Step, attempt: int, pending: PendingStep | None, ready_at: datetime,
        started: datetime, buffered: list[ev.Event], exc: BaseException,
        *, info: ErrorInfo | None = None, will_retry: bool = False,
    ) -> None:
        info = info or error_info(exc, self.engine.classify)
        ended = utcnow()
        duration = (ended - started).total_seconds() * 1000.0
        buffered.append(self.event(
            ev.StepFailed, step.id, attempt=attempt, error_type=info.type,
            message=info.message, category=info.category, will_retry=will_retry,
            duration_ms=duration,
        ))
        child = self.children.get(step.id)
        record = StepAttemptRecord(
            run_id=self.run_id, step_id=step.id, attempt=attempt, status=StepStatus.FAILED,
            input=pending.input if pending else None, error=info, ready_at=ready_at,
            started_at=started, ended_at=ended, duration_ms=duration,
            queue_wait_ms=(started - ready_at).total_seconds() * 1000.0,
            cpu_time_ms=getattr(exc, "flowscope_cpu_ms", None),
            peak_memory_bytes=getattr(exc, "flowscope_peak_bytes", None),
            child_run_id=getattr(exc, "child_run_id", None) or (child.run_id if child else None),
        )
        self.journal.record_step(record, buffered)
        if not will_retry:
            self.state.set_result(step.id, StepStatus.FAILED)
            self._failures.append((step.id, info))
        self._after_hooks(pending, record)

    def _record_skip(
        self, step: Step, ready_at: datetime, buffered: list[ev.Event], reason: str,
        cause: str | None,
    ) -> None:
        buffered.append(self.event(ev.StepSkipped, step.id, reason=reason, cause_step_id=cause))
        self.journal.record_step(
            StepAttemptRecord(
                run_id=self.run_id, step_id=step.id, attempt=0, status=StepStatus.SKIPPED,
                ready_at=ready_at, started_at=None, ended_at=ready_at, skip_reason=reason,
                cause_step_id=cause,
            ),
            buffered,
        )
        self.state.set_result(step.id, StepStatus.SKIPPED)

    def _record_cancelled(
        self, step: Step, attempt: int, pending: PendingStep, ready_at: datetime,
        started: datetime, buffered: list[ev.Event],
    ) -> None:
        ended = utcnow()
        self.journal.record_step(
            StepAttemptRecord(
                run_id=self.run_id, step_id=step.id, attempt=attempt,
                status=StepStatus.CANCELLED, input=pending.input, ready_at=ready_at,
                started_at=started, ended_at=ended,
                duration_ms=(ended - started).total_seconds() * 1000.0,
            ),
            buffered,
        )
        self.state.set_result(step.id, StepStatus.CANCELLED)

    # -- ending -----------------------------------------------------------------------------

    def _finish(self) -> RunResult:
        from flowscope.engine.runner import RunResult

        ended = utcnow()
        duration = (time.monotonic() - self._started_mono) * 1000.0
        outputs: dict[str, Any] | None = None
        error: ErrorInfo | None = None
        failed_step: str | None = None
        if self.status is RunStatus.PAUSED:
            self.pause_clock.unpause()
        if self._cancelled:
            status = RunStatus.CANCELLED
            events = [self.event(ev.RunCancelled, duration_ms=duration)]
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
                outputs = _jsonable(rendered, "outputs") if isinstance(rendered, dict) else {}
                status = RunStatus.COMPLETED
            except (ExpressionError, OutputNotSerializableError) as exc:
                status = RunStatus.FAILED
                error = error_info(exc, self.engine.classify)
        if status is RunStatus.COMPLETED:
            events = [self.event(ev.RunCompleted, outputs=outputs or {}, duration_ms=duration)]
        elif status is RunStatus.FAILED:
            assert error is not None
            events = [self.event(
                ev.RunFailed, error_type=error.type, message=error.message,
                category=error.category, failed_step=failed_step, duration_ms=duration,
            )]
        self._set_status(status, ended_at=ended, outputs=outputs, error=error,
                         failed_step=failed_step, events=events,
                         run_vars=dict(self.state.vars))
        for hook in self.engine.hooks.finished:
            try:
                hook.on_run_finished(run_id=self.run_id, status=status.value,
                                     outputs=outputs, error=error)
            except Exception:
                log.exception("run-finished hook %r failed", hook)
        return RunResult(
            id=self.run_id, workflow=self.workflow.name, status=status, outputs=outputs,
            error=error, failed_step=failed_step, duration_ms=duration,
        )

    # -- control from outside -------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the run: no new step starts; running async steps are cancelled."""
        if self._cancelled or self.status.is_finished:
            return
        self._cancelled = True
        self._ready.clear()
        for child in list(self.children.values()):
            child.cancel()
        self._cancel_tasks()
        if self._running == 0:
            self._resolve_done()

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def rewind(self, forget: Collection[str], vars: Mapping[str, Any], *,
               keep: Collection[str] = ()) -> list[str]:
        """Set aside the results of ``forget`` and the steps after them; run them again.

        Steps in ``keep`` keep their recorded results even when they come after a step
        that is set aside (external effects that must not repeat). Only a stopped run can
        be rewound: no step of it may be executing.
        """
        if self._executing:
            raise RunStateError(
                f"run {self.run_id} has steps still executing: "
                + ", ".join(sorted(self._executing)),
                hint="wait until the running steps finish (the run is stopped), then restore",
            )
        discard: set[str] = set()
        for sid in forget:
            if sid in self.state.statuses:
                discard.add(sid)
                discard.update(d for d in self.workflow.descendants(sid)
                               if d in self.state.statuses)
        discard.difference_update(keep)
        self._rewinding = True
        for task in list(self._waiting.values()):
            task.cancel()
        self.loop_call(self._end_rewind)
        ordered = [s.id for s in self.workflow.steps if s.id in discard]
        for sid in ordered:
            self.state.forget(sid)
        self.state.replace_vars(vars)
        self.journal.mark_rewound(self.run_id, ordered)
        event = self.event(ev.RunRewound, to_step=ordered[0] if ordered else None,
                           discarded=tuple(ordered))
        self.journal.append_events([event])
        self._failures = [(s, e) for s, e in self._failures if s not in discard]
        # Recount what every step still waits for; what is ready runs once the
        # cancelled tasks have ended (``_end_rewind``).
        self._ready.clear()
        self._pending_restart = self._count_remaining(set(self.state.statuses))
        return ordered

    def loop_call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the run's loop once the current callbacks are done."""
        assert self.loop is not None
        self.loop.call_soon(fn)

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the run's loop thread (safe from any thread)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn)

    def _end_rewind(self) -> None:
        self._rewinding = False
        for sid in self._pending_restart:
            if sid in self._remaining and all(sid != r for r, _ in self._ready):
                self._ready.append((sid, None))
        self._pending_restart = []
        self._start_ready()


async def _isolated(coro: Any) -> None:
    try:
        await coro
    except Exception:
        log.exception("after_step hook failed")


def _timed_call(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> tuple[Any, float]:
    t0 = time.thread_time()
    try:
        out = fn(**kwargs)
    except Exception as exc:
        exc.flowscope_cpu_ms = (time.thread_time() - t0) * 1000.0  # type: ignore[attr-defined]
        raise
    return out, (time.thread_time() - t0) * 1000.0


_SCALARS = (str, int, float, bool, type(None))


def _jsonable(value: Any, step_id: str, path: str = "output") -> Any:
    """Return ``value`` as plain JSON data (tuples become lists) or raise a clear error."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise OutputNotSerializableError(
                    f"step {step_id!r}: {path} has a non-string key {k!r}",
                    hint="return JSON-like data: dict keys must be strings",
                )
            out[k] = _jsonable(v, step_id, f"{path}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, step_id, f"{path}[{i}]") for i, v in enumerate(value)]
    raise OutputNotSerializableError(
        f"step {step_id!r}: {path} is a {type(value).__name__}, which cannot be stored",
        hint="return JSON-like data (dict, list, str, int, float, bool, None)",
    )


