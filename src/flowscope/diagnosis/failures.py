"""Reading past failures out of a store, with their fingerprints.

Two sources behind one small interface:

- SQL stores (SQLite, PostgreSQL): the ``error_fingerprints`` table, indexed by
  fingerprint, step and time. It is filled *lazily*: before each query, failed attempts
  not yet indexed are fingerprinted and inserted (an anti-join on the attempt id over the
  newest ids, so the catch-up is incremental and runs recorded before this table existed
  are found too). No engine hook is needed, so runs made by any engine are covered.
- The memory store: fingerprints computed on read from the step attempts.

Filters every query takes (``**filters`` on the public API): ``since``, ``until``
(datetimes or relative text like ``7d``), ``workflow``, ``version``, ``user``,
``type`` (alias ``workflow_type``), ``step`` (alias ``step_id``), ``category``,
``fingerprint``, ``include_cascade`` (sub-workflow step failures that only repeat a child
run's failure; off by default so that each bug is counted once).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from flowscope.diagnosis.fingerprint import fingerprint_error, normalize_message
from flowscope.diagnosis.schema import error_fingerprints
from flowscope.engine.journal import Journal
from flowscope.engine.records import ErrorInfo, StepAttemptRecord
from flowscope.engine.status import StepStatus
from flowscope.errors import DiagnosisError, FilterError
from flowscope.filters import Filters
from flowscope.model import values
from flowscope.store import schema as store_schema
from flowscope.store.sql import SQLStore

#: Type name of the error a sub-workflow step fails with when its child run failed.
CHILD_FAILED = "ChildRunFailedError"

# How far below the newest indexed attempt id the catch-up looks again: attempts with a
# lower id can commit after a higher one on PostgreSQL (sequence order != commit order).
_RESYNC_WINDOW = 5000
_BATCH = 2000


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """Turn ``5m``, ``1h``, ``7d``, ``2w`` (or ``30s``) into a timedelta.

    Raises:
        DiagnosisError: The text is not a positive duration with a unit.
    """
    if not isinstance(text, str):
        raise DiagnosisError(f"{what} {text!r} is not a duration",
                             hint="write e.g. 30s, 5m, 1h, 1d or 2w")
    return values.parse_duration(text, what, unit_required=True, error=DiagnosisError)


def is_cascade_type(error_type: str) -> bool:
    """Whether a stored error type is a sub-workflow step repeating its child's failure."""
    return error_type.rsplit(".", 1)[-1] == CHILD_FAILED


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed step attempt with its fingerprint."""

    run_id: str
    step_id: str
    attempt: int
    workflow: str
    version: str
    definition_hash: str | None
    user: str | None
    workflow_type: str | None
    error_type: str
    category: str
    fingerprint: str
    normalized: str
    is_cascade: bool
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class Success:
    """A completed attempt of a step (the evidence that a failure was resolved)."""

    run_id: str
    version: str
    definition_hash: str | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class StepSample:
    """Recent attempts of one step: how often it failed (durations come from
    :mod:`flowscope.diagnosis.durations`)."""

    attempts: int
    """Attempts that ended (completed or failed)."""
    failures: int

    @property
    def failure_rate(self) -> float | None:
        """Failed attempts over all attempts in [0, 1] (``None`` with no attempts)."""
        return self.failures / self.attempts if self.attempts else None


@dataclass(frozen=True, slots=True)
class FailureFilter(Filters):
    """Which failures a query looks at: the shared filters (the time range applies to
    the attempt's end) plus diagnosis's own (see the module docstring)."""

    step_id: str | None = None
    category: str | None = None
    fingerprint: str | None = None
    include_cascade: bool = False

    def accepts(self, f: Failure) -> bool:
        """Whether a failure passes the filter (the memory source's WHERE clause)."""
        checks: list[tuple[Any, Any]] = [
            (self.workflow, f.workflow), (self.version, f.version), (self.user, f.user),
            (self.type, f.workflow_type), (self.step_id, f.step_id),
            (self.category, f.category), (self.fingerprint, f.fingerprint),
        ]
        if any(want is not None and want != got for want, got in checks):
            return False
        if f.is_cascade and not self.include_cascade:
            return False
        if self.since is not None and (f.ended_at is None or f.ended_at < self.since):
            return False
        return not (self.until is not None and (f.ended_at is None or f.ended_at >= self.until))


_ALIASES = {"workflow_type": "type", "step": "step_id"}
# Every failure has the status "failed": a status filter would only confuse.
_NOT_FILTERS = frozenset({"status"})


def _moment(value: Any, name: str, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return values.require_aware(value, name, error=FilterError)
    if isinstance(value, timedelta):
        return now - value
    if isinstance(value, str):
        if values.is_duration(value):
            return now - parse_duration(value, what=name)
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise DiagnosisError(f"{name} {value!r} is neither a time nor a duration",
                         hint="pass a datetime, a timedelta, or text like 7d or 2026-01-31")


def make_filter(filters: Mapping[str, Any], *, now: datetime | None = None) -> FailureFilter:
    """Build a :class:`FailureFilter` from keyword filters.

    Raises:
        DiagnosisError: An unknown filter name or a bad value.
    """
    now = now or datetime.now(UTC)
    values: dict[str, Any] = {}
    known = set(FailureFilter.__dataclass_fields__) - _NOT_FILTERS
    for raw_key, value in filters.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in known:
            raise DiagnosisError(
                f"unknown filter {raw_key!r}",
                hint="use " + ", ".join(sorted(known | set(_ALIASES))),
            )
        if value is None:
            continue
        if key in ("since", "until"):
            values[key] = _moment(value, key, now)
        elif key == "include_cascade":
            values[key] = bool(value)
        else:
            values[key] = str(value)
    return FailureFilter(**values)  # a bad value raises FilterError, a DiagnosisError


def failure_of(
    attempt: StepAttemptRecord, *, workflow: str, version: str,
    definition_hash: str | None = None, user: str | None = None,
    workflow_type: str | None = None,
) -> Failure:
    """Describe a failed attempt of a run of ``workflow`` as a :class:`Failure`."""
    error = attempt.error or ErrorInfo(type="UnknownError", message="")
    return Failure(
        run_id=attempt.run_id, step_id=attempt.step_id, attempt=attempt.attempt,
        workflow=workflow, version=version, definition_hash=definition_hash, user=user,
        workflow_type=workflow_type, error_type=error.type, category=error.category,
        fingerprint=fingerprint_error(error, workflow, attempt.step_id),
        normalized=normalize_message(error.message), is_cascade=is_cascade_type(error.type),
        ended_at=attempt.ended_at,
    )


class FailureSource:
    """Past failures and step samples of one store (pick the backend with :func:`source_for`)."""

    def failures(self, flt: FailureFilter, *, limit: int | None = None) -> list[Failure]:
        """Return failures passing ``flt``, newest first."""
        raise NotImplementedError

    def first_success_after(
        self, workflow: str, step_id: str, after: datetime | None
    ) -> Success | None:
        """Return the earliest completed attempt of the step that ended after ``after``."""
        raise NotImplementedError

    def step_sample(self, workflow: str, step_id: str, since: datetime) -> StepSample:
        """Return the step's attempts that ended since ``since``."""
        raise NotImplementedError


class MemoryFailureSource(FailureSource):
    """Compute everything on read from any journal (used for the memory store)."""

    def __init__(self, store: Journal) -> None:
        self.store = store

    def _attempts(self) -> Iterator[tuple[Any, StepAttemptRecord]]:
        for run in self.store.list_runs(limit=None):
            for attempt in self.store.get_steps(run.id, include_rewound=True):
                yield run, attempt

    def failures(self, flt: FailureFilter, *, limit: int | None = None) -> list[Failure]:
        """Return failures passing ``flt``, newest first."""
        out = []
        for run, a in self._attempts():
            if a.status is not StepStatus.FAILED:
                continue
            f = failure_of(a, workflow=run.workflow, version=run.version,
                           definition_hash=run.definition_hash, user=run.user,
                           workflow_type=run.tags.get("type"))
            if flt.accepts(f):
                out.append(f)
        out.sort(key=lambda f: (f.ended_at or datetime.min.replace(tzinfo=UTC)), reverse=True)
        return out if limit is None else out[:limit]

    def first_success_after(
        self, workflow: str, step_id: str, after: datetime | None
    ) -> Success | None:
        """Return the earliest completed attempt of the step that ended after ``after``."""
        best: Success | None = None
        for run, a in self._attempts():
            if (run.workflow != workflow or a.step_id != step_id
                    or a.status is not StepStatus.COMPLETED or a.ended_at is None
                    or (after is not None and a.ended_at <= after)):
                continue
            if best is None or (best.ended_at is not None and a.ended_at < best.ended_at):
                best = Success(run.id, run.version, run.definition_hash, a.ended_at)
        return best

    def step_sample(self, workflow: str, step_id: str, since: datetime) -> StepSample:
        """Return the step's attempts that ended since ``since``."""
        attempts = failures = 0
        for run, a in self._attempts():
            if (run.workflow != workflow or a.step_id != step_id or a.ended_at is None
                    or a.ended_at < since
                    or a.status not in (StepStatus.COMPLETED, StepStatus.FAILED)):
                continue
            attempts += 1
            failures += a.status is StepStatus.FAILED
        return StepSample(attempts, failures)


class SQLFailureSource(FailureSource):
    """The indexed ``error_fingerprints`` table of a SQL store, caught up before each read."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self.engine: sa.Engine = store.engine

    def sync(self) -> int:
        """Index failed attempts not indexed yet; return how many were added."""
        t = error_fingerprints
        steps = store_schema.step_attempts
        runs = store_schema.runs
        added = 0
        with self.engine.begin() as conn:
            newest = conn.scalar(sa.select(sa.func.max(t.c.attempt_id))) or 0
            cursor = max(0, int(newest) - _RESYNC_WINDOW)
            while True:
                query = (
                    sa.select(
                        steps.c.id, steps.c.run_id, steps.c.step_id, steps.c.attempt,
                        steps.c.workflow, steps.c.version, steps.c.user_id,
                        steps.c.workflow_type, steps.c.error, steps.c.error_type,
                        steps.c.error_category, steps.c.error_message, steps.c.ended_at,
                        steps.c.ended_at_epoch, runs.c.definition_hash,
                    )
                    .join(runs, runs.c.id == steps.c.run_id)
                    .where(steps.c.status == StepStatus.FAILED.value, steps.c.id > cursor,
                           ~sa.exists().where(t.c.attempt_id == steps.c.id))
                    .order_by(steps.c.id)
                    .limit(_BATCH)
                )
                rows = conn.execute(query).all()
                if not rows:
                    break
                cursor = rows[-1].id
                conn.execute(self._insert(), [self._row(r) for r in rows])
                added += len(rows)
        return added

    def _insert(self) -> Any:
        t = error_fingerprints
        if self.store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(t).on_conflict_do_nothing(index_elements=["attempt_id"])
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(t).on_conflict_do_nothing(index_elements=["attempt_id"])

    @staticmethod
    def _row(r: Any) -> dict[str, Any]:
        error = ErrorInfo.from_dict(r.error) if r.error else ErrorInfo(
            type=r.error_type or "UnknownError", message=r.error_message or "",
            category=r.error_category or "internal",
        )
        return {
            "attempt_id": r.id, "run_id": r.run_id, "step_id": r.step_id,
            "attempt": r.attempt, "workflow": r.workflow, "version": r.version,
            "definition_hash": r.definition_hash, "user_id": r.user_id,
            "workflow_type": r.workflow_type, "error_type": error.type,
            "category": error.category,
            "fingerprint": fingerprint_error(error, r.workflow, r.step_id),
            "normalized": normalize_message(error.message),
            "is_cascade": is_cascade_type(error.type), "ended_at": r.ended_at,
            "ended_at_epoch": r.ended_at_epoch,
        }

    def failures(self, flt: FailureFilter, *, limit: int | None = None) -> list[Failure]:
        """Return failures passing ``flt``, newest first."""
        self.sync()
        t = error_fingerprints
        query = sa.select(t).order_by(t.c.ended_at_epoch.desc(), t.c.attempt_id.desc())
        for value, column in (
            (flt.workflow, t.c.workflow), (flt.version, t.c.version), (flt.user, t.c.user_id),
            (flt.type, t.c.workflow_type), (flt.step_id, t.c.step_id),
            (flt.category, t.c.category), (flt.fingerprint, t.c.fingerprint),
        ):
            if value is not None:
                query = query.where(column == value)
        if not flt.include_cascade:
            query = query.where(t.c.is_cascade == sa.false())
        if flt.since is not None:
            query = query.where(t.c.ended_at_epoch >= flt.since.timestamp())
        if flt.until is not None:
            query = query.where(t.c.ended_at_epoch < flt.until.timestamp())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Failure(
                run_id=r.run_id, step_id=r.step_id, attempt=r.attempt, workflow=r.workflow,
                version=r.version, definition_hash=r.definition_hash, user=r.user_id,
                workflow_type=r.workflow_type, error_type=r.error_type, category=r.category,
                fingerprint=r.fingerprint, normalized=r.normalized,
                is_cascade=bool(r.is_cascade), ended_at=r.ended_at,
            )
            for r in rows
        ]

    def first_success_after(
        self, workflow: str, step_id: str, after: datetime | None
    ) -> Success | None:
        """Return the earliest completed attempt of the step that ended after ``after``."""
        steps = store_schema.step_attempts
        runs = store_schema.runs
        query = (
            sa.select(steps.c.run_id, steps.c.version, steps.c.ended_at, runs.c.definition_hash)
            .join(runs, runs.c.id == steps.c.run_id)
            .where(steps.c.workflow == workflow, steps.c.step_id == step_id,
                   steps.c.status == StepStatus.COMPLETED.value)
            .order_by(steps.c.ended_at_epoch, steps.c.id)
            .limit(1)
        )
        if after is not None:
            query = query.where(steps.c.ended_at_epoch > after.timestamp())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Success(row.run_id, row.version, row.definition_hash, row.ended_at)

    def step_sample(self, workflow: str, step_id: str, since: datetime) -> StepSample:
        """Return the step's attempts that ended since ``since``."""
        steps = store_schema.step_attempts
        query = sa.select(steps.c.status).where(
            steps.c.workflow == workflow, steps.c.step_id == step_id,
            steps.c.ended_at_epoch >= since.timestamp(),
            steps.c.status.in_([StepStatus.COMPLETED.value, StepStatus.FAILED.value]),
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        failures = sum(1 for r in rows if r.status == StepStatus.FAILED.value)
        return StepSample(len(rows), failures)


def source_for(store: Journal) -> FailureSource:
    """Return the failure source that fits the store."""
    if isinstance(store, SQLStore):
        return SQLFailureSource(store)
    return MemoryFailureSource(store)

