"""One step of a run in flight: its attempts, their dispatch to an executor, their records.

``StepRunner`` is the half of :class:`~flowscope.engine.execution.RunExecution` that
runs one step: decide whether it runs (needs, ``if``), resolve its input, ask the hooks
(the debugger may stop it here, before dispatch, so stopping works the same wherever the
step runs), hand the attempt to its executor, retry, and commit the result.

Events are *drafts* until they commit: the run gives them their ``seq`` in the same
call that writes them, so seqs are gap-free and in commit order, and observers only
ever see committed events.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flowscope.engine import events as ev
from flowscope.engine.context import CURRENT_STEP, StepContext
from flowscope.engine.executors import (
    InlineExecutor,
    Outcome,
    StepCall,
    ThreadExecutor,
)
from flowscope.engine.executors.base import Executor
from flowscope.engine.failure import error_info
from flowscope.engine.hooks import FailedStep, FailureAction, Frame, HookSet, PendingStep
from flowscope.engine.records import ErrorInfo, StepAttemptRecord
from flowscope.engine.state import RunState
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.errors import (
    ExpressionError,
    FlowscopeError,
    OutputNotSerializableError,
)
from flowscope.model.values import plain_json
from flowscope.model.workflow import NEVER_RETRIED, Step, Workflow

if TYPE_CHECKING:
    from flowscope.engine.journal import Journal
    from flowscope.engine.leases import Fence

log = logging.getLogger("flowscope.engine")

Draft = tuple[type[ev.Event], str | None, datetime, dict[str, Any]]
"""An event not committed yet: (class, step id, timestamp, fields); no seq until commit."""

START_FLUSH_DELAY = 0.05
"""Seconds after which a running step's start events are committed on their own.

A quick step commits its start and its result in one transaction; one that runs longer
shows up as running to readers of the journal after this delay.
"""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class EffectUncertainError(FlowscopeError):
    """An external step's attempt started before a crash and never committed."""

    category = "internal"

    def __init__(self, step_id: str, attempt: int, key: str) -> None:
        self.step_id = step_id
        self.attempt = attempt
        super().__init__(
            f"step {step_id!r} (attempt {attempt}) may already have had its external effect: "
            "it started before the process died and its result was never committed",
            hint=f"check the outside system for idempotency key {key}; then fork the run "
            "from this step, or set `on_crash: rerun` to run such steps again",
        )


class _Attempt:
    """The drafts of one attempt waiting for commit (see ``START_FLUSH_DELAY``)."""

    __slots__ = ("drafts", "since", "waiting")

    def __init__(self, drafts: list[Draft]) -> None:
        self.drafts = drafts
        self.since = 0.0
        self.waiting: dict[_Attempt, None] | None = None
        """The run's attempts whose start is not committed yet, while this one is in it."""

    def take(self) -> list[Draft]:
        if self.waiting is not None:
            self.waiting.pop(self, None)
            self.waiting = None
        out, self.drafts = self.drafts, []
        return out


class StepRunner:
    """Runs the steps of one run (mixed into ``RunExecution``, which owns the rest)."""

    # Provided by RunExecution.
    run_id: str
    root: Any
    _fence: Fence | None
    workflow: Workflow
    journal: Journal
    state: RunState
    hooks: HookSet
    frames_prefix: tuple[Frame, ...]
    preloaded: Any
    children: dict[str, Any]
    loop: asyncio.AbstractEventLoop | None
    status: RunStatus
    _remaining: dict[str, int]
    _executing: set[str]
    _uncancellable: set[str]
    _waiting: dict[str, asyncio.Task[None]]
    _failures: list[tuple[str, ErrorInfo]]
    _started_any: bool
    _rewinding: bool
    _interrupted: str | None
    _is_async: dict[str, bool]
    _unflushed: dict[_Attempt, None]
    _flush_armed: bool
    _seq: int
    _executors: dict[str, Executor]
    _measure: bool
    actions: Mapping[str, Callable[..., Any]]

    @property
    def _stopping(self) -> bool:
        raise NotImplementedError

    @property
    def fence(self) -> Fence | None:
        raise NotImplementedError

    def draft(self, cls: type[ev.Event], step_id: str | None = None, *,
              ts: datetime | None = None, **fields: Any) -> Draft:
        """Make an event draft (it gets its seq when it commits)."""
        return (cls, step_id, ts or utcnow(), fields)

    def commit(self, drafts: list[Draft], write: Callable[[list[ev.Event]], None]) -> None:
        """Number the drafts, write them with ``write``, then show them to observers."""
        raise NotImplementedError

    def classify(self, exc: BaseException) -> str:
        """The error category of ``exc``."""
        raise NotImplementedError

    async def _run_child(self, step: Step, pending: PendingStep) -> tuple[Any, str]:
        raise NotImplementedError

    # -- one step ---------------------------------------------------------------------------

    async def _run_step(self, step: Step, via: str | None) -> None:
        sid = step.id
        del self._remaining[sid]
        ready_at = utcnow()
        # Drafts are built inline on the hot path (a tuple, no method call).
        att = _Attempt([(ev.StepReady, sid, ready_at, {"via": via})])
        for need in step.needs:
            if self.state.statuses.get(need) is not StepStatus.COMPLETED:
                self._record_skip(step, ready_at, att, "upstream", need)
                return
        if step.condition is not None:
            try:
                go = bool(step.condition.evaluate(self.state.scope))
            except ExpressionError as exc:
                await self._after(None, self._record_failure(
                    step, 1, None, ready_at, ready_at, att, exc))
                return
            if not go:
                self._record_skip(step, ready_at, att, "condition", None)
                return
        pre = self.preloaded
        attempt = pre.next_attempt.get(sid, 1) if pre else 1
        first_attempt = attempt
        kept_input: dict[str, Any] | None = None  # a hook asked to retry with edited input
        while True:
            try:
                resolved = kept_input if kept_input is not None else \
                    step.with_template.render(self.state.scope)
                kept_input = None
            except ExpressionError as exc:
                await self._after(None, self._record_failure(
                    step, attempt, None, ready_at, utcnow(), att, exc))
                return
            pending = PendingStep(
                run_id=self.run_id, step=step, workflow=self.workflow, attempt=attempt,
                input=resolved if isinstance(resolved, dict) else {}, state=self.state,
                parent_frames=self.frames_prefix, via=via, is_first=not self._started_any,
            )
            self._started_any = True
            if self.hooks.before:
                await self._before_hooks(pending)
            if self._stopping:
                return
            started = utcnow()
            att.drafts.append((ev.StepStarted, sid, started,
                               {"attempt": attempt, "state_seq": self._seq}))
            if step.effects == "external":
                # Durable before the code runs: a crash now leaves a trace that the effect
                # may have happened (resume reads it; see ``on_crash``).
                self.commit(att.take(), self._append)
            else:
                # One timer per run at a time, not one per attempt: a quick step only
                # enters and leaves a dict; the timer commits the starts of the steps
                # still running by then (inline: this is the hot path).
                att.since = time.monotonic()
                att.waiting = self._unflushed
                self._unflushed[att] = None
                if not self._flush_armed and self.loop is not None:
                    self._flush_armed = True
                    self.loop.call_later(START_FLUSH_DELAY, self._flush_starts)
            self._executing.add(sid)
            try:
                outcome, child_id = await self._dispatch(step, pending)
            except asyncio.CancelledError:
                self._executing.discard(sid)
                self._uncancellable.discard(sid)
                if not self._rewinding and self._interrupted is None:
                    self._record_cancelled(step, attempt, pending, ready_at, started, att)
                else:
                    att.take()  # nothing more of this attempt is committed
                raise
            self._executing.discard(sid)
            self._uncancellable.discard(sid)
            if outcome.warnings:
                for warning in outcome.warnings:
                    att.drafts.append(self.draft(ev.Log, sid, message=warning,
                                                 source="engine"))
            if outcome.error is None:
                record = self._record_success(step, attempt, pending, outcome, ready_at,
                                              started, att, child_id)
                if self.hooks.after:
                    await self._after(pending, record)
                return
            failure = outcome.error
            assert failure is not None
            info = error_info(failure, self.classify, frames=outcome.frames,
                              traceback=outcome.traceback)
            policy = step.retry
            will_retry = attempt < first_attempt - 1 + policy.attempts and \
                info.category in policy.on and info.category not in NEVER_RETRIED
            if not will_retry and self.hooks.failure:
                action = await self._failure_hooks(FailedStep(pending, info, failure))
                if action is FailureAction.RETRY and not self._stopping:
                    record = self._record_failure(step, attempt, pending, ready_at, started,
                                                  att, failure, info=info, outcome=outcome,
                                                  will_retry=True)
                    await self._after(pending, record)
                    attempt += 1
                    ready_at = utcnow()
                    kept_input = pending.input
                    continue
            record = self._record_failure(step, attempt, pending, ready_at, started, att,
                                          failure, info=info, outcome=outcome,
                                          will_retry=will_retry)
            await self._after(pending, record)
            if not will_retry:
                return
            delay = policy.delay(attempt - first_attempt + 1, random.random())
            self.commit([self.draft(ev.StepRetrying, sid, attempt=attempt + 1, delay=delay)],
                        self._append)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            attempt += 1
            ready_at = utcnow()

    def _flush_starts(self) -> None:
        self._flush_armed = False
        now = time.monotonic()
        for att in list(self._unflushed):
            if now - att.since < START_FLUSH_DELAY:
                continue
            drafts = att.take()
            if not drafts:
                continue
            try:
                self.commit(drafts, self._append)
            except Exception:  # committed with the result instead
                log.warning("cannot commit the start of a step of run %s yet", self.run_id,
                            exc_info=True)
                att.drafts = drafts + att.drafts
        if self._unflushed and self.loop is not None:
            oldest = min(att.since for att in self._unflushed)
            self._flush_armed = True
            self.loop.call_later(max(0.0, oldest + START_FLUSH_DELAY - now),
                                 self._flush_starts)

    def _append(self, events: list[ev.Event]) -> None:
        self.journal.append_events(events, fence=self.fence)

    async def _before_hooks(self, pending: PendingStep) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._waiting[pending.step_id] = task
        try:
            for hook in self.hooks.before:
                await hook.before_step(pending=pending)
        finally:
            self._waiting.pop(pending.step_id, None)

    async def _failure_hooks(self, failed: FailedStep) -> FailureAction:
        action = FailureAction.FAIL
        for hook in self.hooks.failure:
            if await hook.on_step_failure(failed=failed) is FailureAction.RETRY:
                action = FailureAction.RETRY
        return action

    async def _after(self, pending: PendingStep | None, record: StepAttemptRecord) -> None:
        """Await every ``after_step`` hook (in order; one that raises is logged)."""
        if pending is None or not self.hooks.after:
            return
        for hook in self.hooks.after:
            try:
                await hook.after_step(pending=pending, record=record)
            except Exception:
                log.exception("after_step hook %r failed", hook)

    async def _dispatch(self, step: Step, pending: PendingStep) -> tuple[Outcome, str | None]:
        if step.is_subworkflow:
            try:
                output, child_id = await self._run_child(step, pending)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the child's failure, or its timeout
                return Outcome(error=exc), None
            return self._checked(step, Outcome(output=output)), child_id
        executor = self._executors[step.id]
        fn = self.actions[step.id]
        is_async = self._is_async[step.id]
        if is_async and step.timeout is None and isinstance(executor, BUILTIN_LOOP_EXECUTORS):
            # Both built-ins await an async function on the loop: do it here, without the
            # hop through them (the hot path of async steps).
            ctx = StepContext(run_id=self.run_id, step_id=step.id, attempt=pending.attempt)
            token = CURRENT_STEP.set(ctx)
            try:
                output = await fn(**pending.input)
            except Exception as exc:
                return Outcome(error=exc), None
            finally:
                CURRENT_STEP.reset(token)
            if type(output) in _PLAIN_SCALARS:
                return Outcome(output=output), None
            return self._checked(step, Outcome(output=output)), None
        if not is_async and isinstance(executor, ThreadExecutor):
            self._uncancellable.add(step.id)  # an interrupt lets it finish
        ctx = StepContext(run_id=self.run_id, step_id=step.id, attempt=pending.attempt,
                          timeout=step.timeout)
        call = StepCall(
            run_id=self.run_id, step_id=step.id, attempt=pending.attempt, fn=fn,
            kwargs=pending.input, is_async=is_async, timeout=step.timeout, context=ctx,
            uses=step.uses, source=self.workflow.source, measure_memory=self._measure,
        )
        try:
            outcome = await executor.run(call)
        except asyncio.CancelledError:
            ctx.cancel()
            raise
        return self._checked(step, outcome), None

    def _checked(self, step: Step, outcome: Outcome) -> Outcome:
        if outcome.error is not None or type(outcome.output) in _PLAIN_SCALARS:
            return outcome
        try:
            output = jsonable(outcome.output, step.id)
        except OutputNotSerializableError as exc:
            return Outcome(error=exc, cpu_ms=outcome.cpu_ms, peak_bytes=outcome.peak_bytes,
                           warnings=outcome.warnings)
        if output is outcome.output:
            return outcome
        return Outcome(output=output, cpu_ms=outcome.cpu_ms, peak_bytes=outcome.peak_bytes,
                       warnings=outcome.warnings)

    # -- recording --------------------------------------------------------------------------

    def _record_success(
        self, step: Step, attempt: int, pending: PendingStep, outcome: Outcome,
        ready_at: datetime, started: datetime, att: _Attempt, child_id: str | None,
    ) -> StepAttemptRecord:
        output = outcome.output
        ended = utcnow()
        run_vars = None
        drafts = att.take()
        if step.set_templates:
            scope = {**self.state.scope, "output": output}
            try:
                values = {k: jsonable(t.render(scope), step.id)
                          for k, t in step.set_templates.items()}
            except (ExpressionError, OutputNotSerializableError) as exc:
                att.drafts = drafts
                return self._record_failure(step, attempt, pending, ready_at, started, att,
                                            exc, outcome=outcome)
            new_vars = {**self.state.vars, **values}
            run_vars = new_vars
            drafts.append(self.draft(ev.VarsSet, step.id, values=values))
        duration = (ended - started).total_seconds() * 1000.0
        drafts.append((ev.StepCompleted, step.id, ended,
                       {"attempt": attempt, "duration_ms": duration}))
        record = StepAttemptRecord(
            run_id=self.run_id, step_id=step.id, attempt=attempt,
            status=StepStatus.COMPLETED, input=pending.input, output=output,
            ready_at=ready_at, started_at=started, ended_at=ended, duration_ms=duration,
            queue_wait_ms=(started - ready_at).total_seconds() * 1000.0,
            cpu_time_ms=outcome.cpu_ms, peak_memory_bytes=outcome.peak_bytes,
            child_run_id=child_id, vars_after=run_vars,
        )
        fence = self.root._fence
        self.commit(drafts, lambda events: self.journal.record_step(
            record, events, run_vars=run_vars, fence=fence))
        if run_vars is not None:
            self.state.replace_vars(run_vars)
        self.state.set_result(step.id, StepStatus.COMPLETED, output)
        return record

    def _record_failure(
        self, step: Step, attempt: int, pending: PendingStep | None, ready_at: datetime,
        started: datetime, att: _Attempt, exc: BaseException, *,
        info: ErrorInfo | None = None, will_retry: bool = False, outcome: Outcome | None = None,
    ) -> StepAttemptRecord:
        info = info or error_info(exc, self.classify)
        ended = utcnow()
        duration = (ended - started).total_seconds() * 1000.0
        drafts = att.take()
        drafts.append(self.draft(
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
            cpu_time_ms=outcome.cpu_ms if outcome else None,
            peak_memory_bytes=outcome.peak_bytes if outcome else None,
            child_run_id=getattr(exc, "child_run_id", None) or (child.run_id if child else None),
        )
        self.commit(drafts, lambda events: self.journal.record_step(
            record, events, fence=self.fence))
        if not will_retry:
            self.state.set_result(step.id, StepStatus.FAILED)
            self._failures.append((step.id, info))
        return record

    def _record_skip(self, step: Step, ready_at: datetime, att: _Attempt, reason: str,
                     cause: str | None) -> None:
        drafts = att.take()
        drafts.append(self.draft(ev.StepSkipped, step.id, reason=reason, cause_step_id=cause))
        record = StepAttemptRecord(
            run_id=self.run_id, step_id=step.id, attempt=0, status=StepStatus.SKIPPED,
            ready_at=ready_at, started_at=None, ended_at=ready_at, skip_reason=reason,
            cause_step_id=cause,
        )
        self.commit(drafts, lambda events: self.journal.record_step(
            record, events, fence=self.fence))
        self.state.set_result(step.id, StepStatus.SKIPPED)

    def _record_cancelled(self, step: Step, attempt: int, pending: PendingStep,
                          ready_at: datetime, started: datetime, att: _Attempt) -> None:
        ended = utcnow()
        record = StepAttemptRecord(
            run_id=self.run_id, step_id=step.id, attempt=attempt,
            status=StepStatus.CANCELLED, input=pending.input, ready_at=ready_at,
            started_at=started, ended_at=ended,
            duration_ms=(ended - started).total_seconds() * 1000.0,
        )
        self.commit(att.take(), lambda events: self.journal.record_step(
            record, events, fence=self.fence))
        self.state.set_result(step.id, StepStatus.CANCELLED)

    def _record_uncertain(self, step: Step, attempt: int, key: str, action: str) -> None:
        """Say that an external attempt may have had its effect (resume), and act on it."""
        drafts = [self.draft(ev.StepEffectUncertain, step.id, attempt=attempt,
                             idempotency_key=key, action=action)]
        if action != "fail":
            self.commit(drafts, self._append)
            return
        now = utcnow()
        exc = EffectUncertainError(step.id, attempt, key)
        info = error_info(exc, self.classify)
        drafts.append(self.draft(ev.StepFailed, step.id, attempt=attempt, error_type=info.type,
                                 message=info.message, category=info.category))
        record = StepAttemptRecord(
            run_id=self.run_id, step_id=step.id, attempt=attempt, status=StepStatus.FAILED,
            error=info, ready_at=now, started_at=now, ended_at=now, duration_ms=0.0,
        )
        self.commit(drafts, lambda events: self.journal.record_step(
            record, events, fence=self.fence))
        self.state.set_result(step.id, StepStatus.FAILED)
        self._failures.append((step.id, info))


BUILTIN_LOOP_EXECUTORS = (InlineExecutor, ThreadExecutor)

_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any, step_id: str, path: str = "output") -> Any:
    """Return ``value`` as plain JSON data (tuples become lists) or raise a clear error."""
    return plain_json(value, f"step {step_id!r} returned a value that cannot be stored: "
                      f"{path}", allow_nan=True, error=OutputNotSerializableError)
