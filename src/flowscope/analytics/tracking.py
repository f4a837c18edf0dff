"""Recording runs executed outside the engine, into the journal's own tables.

Runs tracked here land in the journal through its own methods (``create_run``,
``record_step``, and ``update_run`` to finish, after the run state machine's
``check_transition``), so every query treats them exactly like engine runs; a reported
duration is kept as reported (``update_run(duration_ms=...)``). Samples go through the
store's analytics source. Tracked runs carry the tag ``source=tracked``, version
``metadata["version"]`` (else ``"external"``), and the rest of ``metadata`` as their
``inputs``.

Timestamps: ``timestamp`` is when the thing happened (a run's start, a run's or a step
attempt's end); default now. A step attempt's start is its end minus its duration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.analytics.filters import aware
from flowscope.analytics.source import source_of
from flowscope.engine.classify import DEFAULT_CLASSIFIER
from flowscope.engine.failure import error_info
from flowscope.engine.journal import Journal
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus, StepStatus, check_transition
from flowscope.errors import (
    AnalyticsError,
    InvalidTransitionError,
    RunNotFoundError,
    StoreError,
)
from flowscope.store.analytics_query import RESOURCE_KINDS

__all__ = ["RESOURCE_KINDS", "TRACKED_TAG", "RunFacts", "check_duration", "error_of",
           "finish_run", "record_concurrency", "record_resource", "record_step",
           "resource_summary", "run_facts", "start_run"]

TRACKED_TAG = "source"
"""The tag that marks runs recorded through ``track_*`` (value ``tracked``)."""


def _now(timestamp: datetime | None) -> datetime:
    return aware(timestamp, "timestamp") or datetime.now(UTC)


def check_duration(value: float | None, name: str = "duration_ms") -> float | None:
    """Return ``value`` as a float if it is a finite number >= 0 (``None`` passes).

    Raises:
        AnalyticsError: It is not.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value < 0:
        raise AnalyticsError(f"{name} must be a finite number >= 0, not {value!r}",
                             hint="pass milliseconds, e.g. 1250.0")
    return float(value)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AnalyticsError(f"{what} must be a non-empty string, not {value!r}",
                             hint=f"pass the {what} as text")
    return value


def error_of(error: BaseException | str | None) -> ErrorInfo | None:
    """Return the stored form of an exception or message (classified like engine errors)."""
    if error is None:
        return None
    if isinstance(error, BaseException):
        return error_info(error, DEFAULT_CLASSIFIER)
    return ErrorInfo(type="Error", message=str(error), category="internal")


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What tracking needs to know about an existing run."""

    workflow: str
    status: RunStatus
    started_at: datetime | None


def run_facts(store: Any, execution_id: str) -> RunFacts | None:
    """Return the run's workflow, status and start, or ``None`` if unknown (exact id)."""
    state = source_of(store).run_state(execution_id)
    if state is None:
        return None
    return RunFacts(state.workflow, RunStatus(state.status), state.started_at)


def start_run(
    store: Journal, workflow_id: str, execution_id: str, *, user_id: str | None,
    workflow_type: str | None, timestamp: datetime | None,
    metadata: Mapping[str, Any] | None,
) -> None:
    """Record a run that started (status ``running``).

    Raises:
        AnalyticsError: Bad arguments, or the execution id is already recorded.
    """
    _name(workflow_id, "workflow_id")
    _name(execution_id, "execution_id")
    at = _now(timestamp)
    meta = dict(metadata or {})
    tags = {TRACKED_TAG: "tracked"}
    if workflow_type is not None:
        tags["type"] = str(workflow_type)
    record = RunRecord(
        id=execution_id, workflow=workflow_id, version=str(meta.pop("version", "external")),
        definition_hash="external", status=RunStatus.RUNNING, inputs=meta,
        user=user_id, tags=tags, root_run_id=execution_id, created_at=at, started_at=at,
    )
    if run_facts(store, execution_id) is not None:
        raise AnalyticsError(f"execution {execution_id!r} is already tracked",
                             hint="use a new execution_id for each run")
    try:
        store.create_run(record)
    except StoreError as exc:
        raise AnalyticsError(f"cannot track execution {execution_id!r}: {exc.message}",
                             hint=exc.hint) from exc


def _require(store: Journal, workflow_id: str, execution_id: str) -> RunFacts:
    facts = run_facts(store, execution_id)
    if facts is None:
        raise AnalyticsError(
            f"unknown execution {execution_id!r} of workflow {workflow_id!r}",
            hint="call track_workflow_start(workflow_id, execution_id) first",
        )
    if facts.workflow != workflow_id:
        raise AnalyticsError(
            f"execution {execution_id!r} belongs to workflow {facts.workflow!r}, "
            f"not {workflow_id!r}",
            hint="pass the workflow_id the execution was started with",
        )
    return facts


def finish_run(
    store: Journal, workflow_id: str, execution_id: str, status: RunStatus, *,
    duration_ms: float | None, timestamp: datetime | None,
    error: BaseException | str | None = None, failed_step: str | None = None,
) -> None:
    """Mark a tracked run completed or failed.

    The end is ``timestamp`` (default: start + ``duration_ms`` if given, else now); the
    duration is ``duration_ms``, else computed from the tracked start.

    Raises:
        AnalyticsError: Unknown execution, another workflow's, or already finished.
    """
    duration = check_duration(duration_ms)
    facts = _require(store, workflow_id, execution_id)
    if facts.status.is_finished:
        raise AnalyticsError(
            f"execution {execution_id!r} already finished ({facts.status.value})",
            hint="track each run's end once",
        )
    started = facts.started_at
    if timestamp is not None or started is None or duration is None:
        ended = _now(timestamp)
    else:
        ended = started + timedelta(milliseconds=duration)
    if duration is None:
        duration = max(0.0, (ended - started).total_seconds() * 1000.0) if started else None
    info = error_of(error)
    if status is RunStatus.FAILED and info is None:
        info = ErrorInfo(type="Error", message="failed", category="internal")
    try:
        check_transition(facts.status, status, run_id=execution_id)
    except InvalidTransitionError:
        raise AnalyticsError(
            f"execution {execution_id!r} is {facts.status.value}; it cannot become "
            f"{status.value}",
            hint="track the end of runs you started with track_workflow_start; a paused "
            "engine run is finished by resuming it",
        ) from None
    try:
        store.update_run(execution_id, status=status, ended_at=ended, error=info,
                         failed_step=failed_step, duration_ms=duration)
    except RunNotFoundError as exc:  # deleted between the check and the write
        raise AnalyticsError(exc.message, hint=exc.hint) from exc


def record_step(
    store: Journal, workflow_id: str, execution_id: str, step_id: str, *,
    status: str, duration_ms: float | None, error: BaseException | str | None,
    attempt: int, timestamp: datetime | None,
) -> None:
    """Record one step attempt of a tracked run (it ended at ``timestamp``).

    Raises:
        AnalyticsError: Unknown execution or status, bad attempt or duration.
    """
    _name(step_id, "step_id")
    duration = check_duration(duration_ms)
    try:
        step_status = StepStatus(str(status).strip().lower())
    except ValueError:
        raise AnalyticsError(
            f"unknown step status {status!r}",
            hint="use completed, failed, skipped or cancelled",
        ) from None
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise AnalyticsError(f"attempt must be an integer >= 0, not {attempt!r}",
                             hint="attempts count from 1 (0 for a skipped step)")
    _require(store, workflow_id, execution_id)
    ended = _now(timestamp)
    started = ended - timedelta(milliseconds=duration) if duration is not None else None
    info = error_of(error)
    if step_status is StepStatus.FAILED and info is None:
        info = ErrorInfo(type="Error", message="failed", category="internal")
    record = StepAttemptRecord(
        run_id=execution_id, step_id=step_id, attempt=attempt, status=step_status,
        error=info, ready_at=started, started_at=started, ended_at=ended,
        duration_ms=duration, queue_wait_ms=0.0 if started is not None else None,
    )
    try:
        store.record_step(record)
    except RunNotFoundError as exc:  # deleted between the check and the write
        raise AnalyticsError(exc.message, hint=exc.hint) from exc


def record_resource(
    store: Journal, workflow_id: str, execution_id: str, kind: str, value: float, *,
    step_id: str | None, timestamp: datetime | None,
) -> None:
    """Store one reported resource sample (``memory_mb`` or ``cpu_percent``).

    Raises:
        AnalyticsError: Bad names or a value that is not a finite number >= 0.
    """
    _name(workflow_id, "workflow_id")
    _name(execution_id, "execution_id")
    number = check_duration(value, kind)
    assert number is not None
    source_of(store).add_resource_sample(workflow_id, execution_id, step_id, kind, number,
                                         _now(timestamp))


def record_concurrency(store: Journal, count: int, *, timestamp: datetime | None) -> None:
    """Store one reported count of executions in flight.

    Raises:
        AnalyticsError: ``count`` is not an integer >= 0.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise AnalyticsError(f"count must be an integer >= 0, not {count!r}",
                             hint="pass how many executions are running now")
    source_of(store).add_concurrency_sample(count, _now(timestamp))


def resource_summary(store: Journal, execution_id: str) -> dict[str, Any]:
    """Return the reported samples of one run: max and mean of each kind."""
    return source_of(store).resource_summary(execution_id)
