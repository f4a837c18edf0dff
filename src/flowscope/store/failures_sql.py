"""Diagnosis's failure contract on a SQL store: the ``error_fingerprints`` table.

Each failed step attempt gets its row when it is recorded (``SQLStore.record_step``
writes it in the attempt's own transaction, with :func:`fingerprint_row`; migration 0007
filled the rows of attempts recorded before that). Reading therefore never writes:
``flowscope errors`` works on a read-only database and never takes SQLite's write lock.

:class:`SQLFailureSource` implements ``flowscope.diagnosis.failures.FailureSource``
(a protocol; this module does not import diagnosis). Get one from
``SQLStore.failure_source()``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowscope.engine.fingerprint import failure_of
from flowscope.engine.records import Failure, StepAttemptRecord, StepSample, Success
from flowscope.engine.status import StepStatus
from flowscope.filters import FailureFilter
from flowscope.store.schema import error_fingerprints, runs, step_attempts

#: Runs a Core ``SELECT`` and returns its rows (the store's reader, with its retries).
Reader = Callable[[sa.Select[Any]], list[sa.Row[Any]]]

FINGERPRINT_COLUMNS = tuple(c.name for c in error_fingerprints.columns)
"""The columns of a fingerprint row, in the order of the table."""


def fingerprint_row(
    attempt_id: int, attempt: StepAttemptRecord, facts: tuple[Any, ...],
    time: Callable[[datetime], Any],
) -> dict[str, Any]:
    """Return the ``error_fingerprints`` row of a failed attempt, ready for the DBAPI.

    Args:
        attempt_id: The attempt's ``step_attempts.id``.
        attempt: The failed attempt.
        facts: The run's ``(workflow, version, user_id, workflow_type, definition_hash)``.
        time: Converts a timestamp to what the dialect's column holds.
    """
    workflow, version, user, workflow_type, definition_hash = facts
    f = failure_of(attempt, workflow=workflow, version=version,
                   definition_hash=definition_hash, user=user, workflow_type=workflow_type)
    return {
        "attempt_id": attempt_id, "run_id": f.run_id, "step_id": f.step_id,
        "attempt": f.attempt, "workflow": f.workflow, "version": f.version,
        "definition_hash": f.definition_hash, "user_id": f.user,
        "workflow_type": f.workflow_type, "error_type": f.error_type,
        "category": f.category, "fingerprint": f.fingerprint, "normalized": f.normalized,
        "is_cascade": f.is_cascade,
        "ended_at": None if f.ended_at is None else time(f.ended_at),
        "ended_at_epoch": None if f.ended_at is None else f.ended_at.timestamp(),
    }


def insert_fingerprint_sql(mark: Callable[[str], str]) -> str:
    """Return the ``INSERT`` of one fingerprint row in a DBAPI parameter style."""
    return (f"INSERT INTO error_fingerprints ({', '.join(FINGERPRINT_COLUMNS)}) "
            f"VALUES ({', '.join(mark(c) for c in FINGERPRINT_COLUMNS)})")


class SQLFailureSource:
    """Past failures and step samples of a SQL store (read-only).

    Args:
        read: Runs a ``SELECT`` on the store (``SQLStore`` passes its own reader, which
            retries a lost PostgreSQL connection).
    """

    def __init__(self, read: Reader) -> None:
        self._read = read

    def failures(self, flt: FailureFilter, *, limit: int | None = None) -> list[Failure]:
        """Return failures passing ``flt``, newest first."""
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
        return [
            Failure(
                run_id=r.run_id, step_id=r.step_id, attempt=r.attempt, workflow=r.workflow,
                version=r.version, definition_hash=r.definition_hash, user=r.user_id,
                workflow_type=r.workflow_type, error_type=r.error_type, category=r.category,
                fingerprint=r.fingerprint, normalized=r.normalized,
                is_cascade=bool(r.is_cascade), ended_at=r.ended_at,
            )
            for r in self._read(query)
        ]

    def first_success_after(
        self, workflow: str, step_id: str, after: datetime | None
    ) -> Success | None:
        """Return the earliest completed attempt of the step that ended after ``after``."""
        s = step_attempts.c
        query = (
            sa.select(s.run_id, s.version, s.ended_at, runs.c.definition_hash)
            .join(runs, runs.c.id == s.run_id)
            .where(s.workflow == workflow, s.step_id == step_id,
                   s.status == StepStatus.COMPLETED.value)
            .order_by(s.ended_at_epoch, s.id)
            .limit(1)
        )
        if after is not None:
            query = query.where(s.ended_at_epoch > after.timestamp())
        rows = self._read(query)
        if not rows:
            return None
        row = rows[0]
        return Success(row.run_id, row.version, row.definition_hash, row.ended_at)

    def step_sample(self, workflow: str, step_id: str, since: datetime) -> StepSample:
        """Return the step's attempts that ended since ``since``."""
        s = step_attempts.c
        query = sa.select(s.status).where(
            s.workflow == workflow, s.step_id == step_id,
            s.ended_at_epoch >= since.timestamp(),
            s.status.in_([StepStatus.COMPLETED.value, StepStatus.FAILED.value]),
        )
        rows = self._read(query)
        failures = sum(1 for r in rows if r.status == StepStatus.FAILED.value)
        return StepSample(len(rows), failures)
