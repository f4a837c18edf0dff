"""The read half of the SQL journal (mixed into ``SQLStore``): SQLAlchemy Core on its pool.

Reads are retried when a PostgreSQL connection is lost: a read is always safe to repeat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowscope.engine.events import Event, EventKind, event_from_parts
from flowscope.engine.records import RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus
from flowscope.errors import RunNotFoundError, StoreError
from flowscope.store._codec import (
    MIN_PREFIX,
    ambiguous_hint,
    check_limit,
    parse_status,
    run_from_row,
    short_prefix_hint,
    step_from_row,
)
from flowscope.store.schema import definitions as definitions_table
from flowscope.store.schema import events as events_table
from flowscope.store.schema import runs as runs_table
from flowscope.store.schema import step_attempts, to_utc

log = logging.getLogger("flowscope.store")

RETRY_FOR = 15.0
"""Seconds a PostgreSQL write or read keeps retrying after losing its connection."""
RETRY_FIRST_DELAY = 0.05
RETRY_MAX_DELAY = 1.0


class SQLReads:
    """Journal reads on the store's SQLAlchemy engine."""

    engine: sa.Engine
    url: str
    _closed: bool
    _sqlite: Any
    _guard: Callable[[Callable[[], Any], str], Any]

    def _rows(self, stmt: sa.Select[Any]) -> list[sa.Row[Any]]:
        if self._closed:
            raise StoreError("the store is closed", hint="open a new one with open_store()")

        def run() -> list[sa.Row[Any]]:
            delay = RETRY_FIRST_DELAY
            deadline = time.monotonic() + RETRY_FOR
            while True:
                try:
                    with self.engine.connect() as conn:
                        return list(conn.execute(stmt))
                except sa.exc.OperationalError as exc:
                    # A read is always safe to repeat; the pool drops the dead connection.
                    if self._sqlite is not None or time.monotonic() + delay > deadline:
                        raise
                    log.warning("lost the connection to %s while reading (%s); retrying",
                                self.url, first_line(exc))
                    time.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_DELAY)

        result: list[sa.Row[Any]] = self._guard(run, "read")
        return result

    def get_run(self, run_id: str) -> RunRecord:
        """Return the run with this id or unique id prefix (``RunNotFoundError`` otherwise)."""
        r = runs_table.c
        rows = self._rows(_select_runs().where(r.id == run_id))
        if not rows:
            if len(run_id) < MIN_PREFIX:
                raise RunNotFoundError(run_id, hint=short_prefix_hint())
            # LIKE is case-insensitive on SQLite: filter exactly in Python.
            candidates = self._rows(
                _select_runs()
                .where(r.id.startswith(run_id, autoescape=True))
                .order_by(r.created_at.desc(), r.id.desc())
                .limit(50)
            )
            rows = [row for row in candidates if row.id.startswith(run_id)]
            if len(rows) > 1:
                raise RunNotFoundError(run_id, hint=ambiguous_hint([row.id for row in rows]))
            if not rows:
                raise RunNotFoundError(run_id)
        return run_from_row(rows[0])

    def get_steps(self, run_id: str, *, include_rewound: bool = False) -> list[StepAttemptRecord]:
        """Return the run's step attempts in the order they were recorded."""
        s = step_attempts.c
        stmt = sa.select(step_attempts).where(s.run_id == run_id).order_by(s.id)
        if not include_rewound:
            stmt = stmt.where(s.rewound == sa.false())
        return [step_from_row(row) for row in self._rows(stmt)]

    def last_seq(self, run_id: str) -> int:
        """The highest event seq stored for the run (0 when it has none)."""
        e = events_table.c
        rows = self._rows(sa.select(sa.func.max(e.seq)).where(e.run_id == run_id))
        return int(rows[0][0] or 0) if rows else 0

    def get_events(self, run_id: str, *, after_seq: int = 0,
                   kinds: Sequence[EventKind] | None = None) -> list[Event]:
        """Return the run's events with ``seq > after_seq`` (of these kinds), in order."""
        e = events_table.c
        stmt = (
            sa.select(events_table)
            .where(e.run_id == run_id, e.seq > after_seq)
            .order_by(e.seq)
        )
        if kinds is not None:
            stmt = stmt.where(e.kind.in_([k.value for k in kinds]))
        return [
            event_from_parts(
                row.kind, run_id=row.run_id, seq=row.seq, ts=row.ts, step_id=row.step_id,
                payload=row.payload,
            )
            for row in self._rows(stmt)
        ]

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | str | None = None,
        user: str | None = None,
        parent_run_id: str | None = None,
        roots_only: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 50,
    ) -> list[RunRecord]:
        """Return runs, newest first (by ``created_at``, then id), filtered as given.

        ``since`` is inclusive and ``until`` exclusive, both on ``created_at``.
        """
        check_limit(limit)
        r = runs_table.c
        stmt = _select_runs().order_by(r.created_at.desc(), r.id.desc())
        if workflow is not None:
            stmt = stmt.where(r.workflow == workflow)
        if status is not None:
            stmt = stmt.where(r.status == parse_status(status).value)
        if user is not None:
            stmt = stmt.where(r.user_id == user)
        if parent_run_id is not None:
            stmt = stmt.where(r.parent_run_id == parent_run_id)
        if roots_only:
            stmt = stmt.where(r.parent_run_id.is_(None))
        if since is not None:
            stmt = stmt.where(r.created_at >= to_utc(since))
        if until is not None:
            stmt = stmt.where(r.created_at < to_utc(until))
        if limit is not None:
            stmt = stmt.limit(limit)
        return [run_from_row(row) for row in self._rows(stmt)]

    def find_child_run(self, parent_run_id: str, parent_step_id: str) -> RunRecord | None:
        """Return the newest child run started by this step, if any (used by resume)."""
        r = runs_table.c
        rows = self._rows(
            _select_runs()
            .where(r.parent_run_id == parent_run_id, r.parent_step_id == parent_step_id)
            .order_by(r.created_at.desc(), r.id.desc())
            .limit(1)
        )
        return run_from_row(rows[0]) if rows else None


def _select_runs() -> sa.Select[Any]:
    """``runs`` rows with their definition (stored once, in ``definitions``)."""
    return sa.select(runs_table, definitions_table.c.definition).select_from(
        runs_table.outerjoin(definitions_table,
                             definitions_table.c.key == runs_table.c.definition_key))


def first_line(exc: BaseException) -> str:
    """The first line of a database error's message."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
