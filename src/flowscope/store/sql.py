"""The SQL journal: SQLite (default) and PostgreSQL through SQLAlchemy.

Writes are the engine's hot path (one ``record_step`` per step), so they skip
SQLAlchemy's per-statement machinery: the SQL text is generated once from the schema's
``Table`` objects and run on the DBAPI connection, with JSON encoded once by
``json.dumps``. On SQLite one persistent connection does every write, behind a lock
(the engine writes from its loop thread; the CLI and API may write from others). Reads
go through SQLAlchemy Core on the engine's pool, so other modules can share the
patterns.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import sqlalchemy as sa

from flowscope.engine.events import Event
from flowscope.engine.leases import Fence
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.errors import RunNotFoundError, StoreError
from flowscope.store import migrate
from flowscope.store import schema as schema_module
from flowscope.store._codec import (
    encode,
    encode_or_none,
    event_name,
    event_payload,
    parse_status,
)
from flowscope.store.analytics_sql import SQLAnalyticsSource
from flowscope.store.debug_sql import SQLDebugStorage
from flowscope.store.failures_sql import SQLFailureSource, fingerprint_row
from flowscope.store.schema import runs as runs_table
from flowscope.store.schema import sqlite_time_text, to_utc
from flowscope.store.sql_leases import SQLLeases
from flowscope.store.sql_reads import (
    RETRY_FIRST_DELAY,
    RETRY_FOR,
    RETRY_MAX_DELAY,
    SQLReads,
    first_line,
)
from flowscope.store.sql_statements import (
    _PYFORMAT_SQL,
    _SQLITE_SQL,
)


def _epoch(value: datetime | None) -> float | None:
    # Aware datetimes give the true epoch whatever their zone (naive ones were refused
    # when the timestamp columns were converted).
    return None if value is None else value.timestamp()


log = logging.getLogger("flowscope.store")


_FACTS_KEPT = 4096
"""How many runs' facts (workflow, version, user, type, definition hash) the store
remembers for inserts."""


class SQLStore(SQLReads, SQLLeases):
    """A :class:`~flowscope.engine.journal.Journal` on a SQLAlchemy engine.

    Args:
        engine: A SQLite or PostgreSQL engine. SQLite engines should be created with
            ``check_same_thread=False`` (``open_store`` does this) so that readers on
            other threads work.
        url: The URL to report (defaults to the engine's, password hidden).
        migrate: Apply pending migrations first.
    """

    schema = schema_module
    """The schema module: ``store.schema.runs``, ``.step_attempts``, ``.events``."""

    def __init__(self, engine: sa.Engine, *, url: str | None = None, migrate: bool = True) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self.url = url or engine.url.render_as_string(hide_password=True)
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError(
                f"unsupported database {self.dialect!r}",
                hint="use a SQLite file or a postgresql:// URL",
            )
        self._dbapi: Any = engine.dialect.loaded_dbapi
        self._lock = threading.RLock()
        if migrate:
            self._guard(lambda: _upgrade(engine), "migrate the schema")
        self._sqlite: Any = None
        self._cursor: Any = None
        self._pooled: Any = None
        if self.dialect == "sqlite":
            self._sql = _SQLITE_SQL
            self._time: Callable[[datetime], Any] = sqlite_time_text
            self._pooled = self._guard(engine.raw_connection, "connect")
            self._sqlite = self._pooled.driver_connection
            self._cursor = self._sqlite.cursor()
        else:
            self._sql = _PYFORMAT_SQL
            self._time = to_utc
        self._closed = False
        self._facts: dict[str, tuple[Any, ...]] = {}
        self._defs_stored: set[str] = set()
        self._debug = SQLDebugStorage(engine, lambda: self._closed)

    def debug_storage(self) -> SQLDebugStorage:
        """The debugger's storage on this store's tables (one object for its lifetime)."""
        return self._debug

    def failure_source(self) -> SQLFailureSource:
        """Diagnosis's read-only view of past failures (the ``error_fingerprints`` table)."""
        return SQLFailureSource(self._rows)

    def analytics_source(self) -> SQLAnalyticsSource:
        """What analytics reads and writes on this store's tables (the ``AnalyticsSource``
        contract; it holds nothing but the engine, so one is made per call)."""
        return SQLAnalyticsSource(self.engine)

    # -- transactions ----------------------------------------------------------------

    def _guard(self, fn: Callable[[], Any], doing: str) -> Any:
        try:
            return fn()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"cannot {doing} on {self.url}: {first_line(exc)}",
                hint="check that the database exists, is reachable and writable",
            ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """Yield a DBAPI cursor inside one transaction; commit, or roll back on error."""
        if self._closed:
            raise StoreError("the store is closed", hint="open a new one with open_store()")
        if self._sqlite is not None:
            with self._lock:
                self._sqlite_begin()
                try:
                    yield self._cursor
                    self._sqlite.commit()
                except BaseException:
                    self._sqlite_rollback()
                    raise
            return
        raw = self.engine.raw_connection()
        try:
            yield raw.cursor()
        except BaseException:
            raw.rollback()
            raise
        else:
            raw.commit()
        finally:
            raw.close()

    def _sqlite_begin(self) -> None:
        # IMMEDIATE takes the write lock up front: two writers then queue on
        # busy_timeout instead of deadlocking on a lock upgrade.
        self._cursor.execute("BEGIN IMMEDIATE")

    def _sqlite_rollback(self) -> None:
        if self._sqlite.in_transaction:
            self._sqlite.rollback()

    def _pg_write(self, fn: Callable[[Any], None], doing: str) -> None:
        """One PostgreSQL transaction, retried (bounded) when the connection is lost.

        A transaction that failed before COMMIT was rolled back by the server, so running
        it again is safe. When the connection dropped *during* COMMIT the outcome is
        unknown; if the retry then hits a unique key (the event seqs it would write
        again), the first COMMIT went through, which counts as success.
        """
        if self._closed:
            raise StoreError("the store is closed", hint="open a new one with open_store()")
        delay = RETRY_FIRST_DELAY
        deadline = time.monotonic() + RETRY_FOR
        commit_unknown = False
        while True:
            raw = self.engine.raw_connection()
            committing = False
            try:
                fn(raw.cursor())
                committing = True
                raw.commit()
                return
            except self._dbapi.OperationalError as exc:
                _invalidate(raw)
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("lost the connection to %s while trying to %s (%s); retrying "
                            "in %.2fs", self.url, doing, first_line(exc), delay)
                commit_unknown = committing
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
            except self._dbapi.IntegrityError:
                _rollback(raw)
                if commit_unknown:
                    log.warning("the earlier commit to %s went through; not writing twice",
                                self.url)
                    return
                raise
            except BaseException:
                _rollback(raw)
                raise
            finally:
                raw.close()

    def _write(self, fn: Callable[[Any], None], doing: str) -> None:
        try:
            if self._sqlite is None:
                self._pg_write(fn, doing)
            elif not self._closed:
                # The hot path, inlined: no generator-based context manager.
                with self._lock:
                    self._sqlite_begin()
                    try:
                        fn(self._cursor)
                        self._sqlite.commit()
                    except BaseException:
                        # Also after a failed COMMIT (disk full...), which leaves the
                        # transaction open and would block every later write.
                        self._sqlite_rollback()
                        raise
            else:
                with self._transaction() as cur:
                    fn(cur)
        except self._dbapi.IntegrityError as exc:
            raise StoreError(
                f"cannot {doing}: {first_line(exc)}",
                hint="the run must exist and each event seq must be new for its run",
            ) from exc
        except self._dbapi.Error as exc:
            raise StoreError(
                f"cannot {doing} on {self.url}: {first_line(exc)}",
                hint="check that the database is reachable and writable",
            ) from exc

    def _insert_events(self, cur: Any, events: Sequence[Event]) -> None:
        if not events:
            return
        time = self._time
        rows = [
            {
                "run_id": ev.run_id,
                "seq": ev.seq,
                "kind": ev.kind.value,
                "ts": time(ev.ts),
                "step_id": ev.step_id,
                "payload": encode(event_payload(ev), partial(event_name, ev)),
            }
            for ev in events
        ]
        cur.executemany(self._sql.insert_event, rows)

    def _require_run(self, run_id: str) -> None:
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(runs_table.c.id).where(runs_table.c.id == run_id)
            ).first()
        if found is None:
            raise RunNotFoundError(run_id)

    def _write_for_run(self, run_id: str, fn: Callable[[Any], None], doing: str) -> None:
        try:
            self._write(fn, doing)
        except StoreError as exc:
            if isinstance(exc.__cause__, self._dbapi.IntegrityError):
                self._require_run(run_id)
            raise

    # -- journal: writes -------------------------------------------------------------

    def _remember(self, run_id: str, facts: tuple[Any, ...]) -> None:
        if len(self._facts) >= _FACTS_KEPT:
            self._facts.pop(next(iter(self._facts)))
        self._facts[run_id] = facts

    def _run_facts(self, cur: Any, run_id: str) -> tuple[Any, ...]:
        facts = self._facts.get(run_id)
        if facts is None:
            cur.execute(self._sql.run_facts, {"run_id": run_id})
            row = cur.fetchone()
            if row is None:
                raise RunNotFoundError(run_id)
            facts = tuple(row)
            self._remember(run_id, facts)
        return facts

    def create_run(self, run: RunRecord, events: Sequence[Event] = (), *,
                   fence: Fence | None = None) -> None:
        """Insert a new run (and its first events) in one transaction."""
        what = f"run {run.id}"
        created = run.created_at or datetime.now(UTC)
        time = self._time
        row = {
            "id": run.id,
            "workflow": run.workflow,
            "version": run.version,
            "definition_hash": run.definition_hash,
            "status": RunStatus(run.status).value,
            "definition_key": None,
            "inputs": encode(run.inputs, lambda: f"the inputs of {what}"),
            "outputs": encode_or_none(run.outputs, lambda: f"the outputs of {what}"),
            "vars": encode(run.vars, lambda: f"the vars of {what}"),
            "error": None if run.error is None else encode(run.error.to_dict(), lambda: what),
            "error_category": None if run.error is None else run.error.category,
            "failed_step": run.failed_step,
            "user_id": run.user,
            "tags": encode(run.tags, lambda: f"the tags of {what}"),
            "workflow_type": run.tags.get("type"),
            "parent_run_id": run.parent_run_id,
            "parent_step_id": run.parent_step_id,
            "root_run_id": run.root_run_id,
            "forked_from_run_id": run.forked_from_run_id,
            "forked_from_step": run.forked_from_step,
            "source": run.source,
            "created_at": time(created),
            "started_at": None if run.started_at is None else time(run.started_at),
            "ended_at": None if run.ended_at is None else time(run.ended_at),
            "created_at_epoch": _epoch(created),
            "started_at_epoch": _epoch(run.started_at),
            "ended_at_epoch": _epoch(run.ended_at),
            "duration_ms": run.duration_ms,
            "owner_id": None,
            "lease_epoch": 0,
            "lease_acquired_epoch": None,
            "lease_expires_epoch": None,
        }

        definition = encode(run.definition, lambda: f"the definition of {what}")
        key = hashlib.sha256(definition.encode("utf-8")).hexdigest()
        row["definition_key"] = key

        def write(cur: Any) -> None:
            self.check_fence(cur, fence)
            if key not in self._defs_stored:
                cur.execute(self._sql.insert_definition, {"key": key, "definition": definition})
            cur.execute(self._sql.insert_run, row)
            self._insert_events(cur, events)
            self._remember(run.id, (run.workflow, run.version, run.user,
                                    run.tags.get("type"), run.definition_hash))

        try:
            self._write(write, f"create {what}")
            self._defs_stored.add(key)
        except StoreError as exc:
            if isinstance(exc.__cause__, self._dbapi.IntegrityError):
                raise StoreError(
                    f"cannot create {what}: {first_line(exc.__cause__)}",
                    hint="run ids must be unique and events must belong to the new run",
                ) from exc.__cause__
            raise

    def record_step(
        self,
        attempt: StepAttemptRecord,
        events: Sequence[Event] = (),
        *,
        run_vars: Mapping[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> None:
        """Commit one step attempt, its events and (if given) the run's new variables."""
        a = attempt
        time = self._time
        error = a.error

        def what() -> str:
            return f"step {a.step_id!r} (attempt {a.attempt}) of run {a.run_id}"

        row = {
            "run_id": a.run_id,
            "step_id": a.step_id,
            "attempt": a.attempt,
            "status": a.status.value,
            "input": encode_or_none(a.input, lambda: f"the input of {what()}"),
            "output": encode_or_none(a.output, lambda: f"the output of {what()}"),
            "error": None if error is None else encode(error.to_dict(), what),
            "error_type": None if error is None else error.type,
            "error_category": None if error is None else error.category,
            "error_message": None if error is None else error.message,
            "ready_at": None if a.ready_at is None else time(a.ready_at),
            "started_at": None if a.started_at is None else time(a.started_at),
            "ended_at": None if a.ended_at is None else time(a.ended_at),
            "started_at_epoch": _epoch(a.started_at),
            "ended_at_epoch": _epoch(a.ended_at),
            "duration_ms": a.duration_ms,
            "queue_wait_ms": a.queue_wait_ms,
            "cpu_time_ms": a.cpu_time_ms,
            "peak_memory_bytes": a.peak_memory_bytes,
            "child_run_id": a.child_run_id,
            "reused_from_run_id": a.reused_from_run_id,
            "skip_reason": a.skip_reason,
            "cause_step_id": a.cause_step_id,
            "rewound": a.rewound,
            "vars_after": encode_or_none(a.vars_after, lambda: f"the vars after {what()}"),
        }
        vars_json = (
            None if run_vars is None
            else encode(run_vars, lambda: f"the run vars after {what()}")
        )
        sql = self._sql
        failed = a.status is StepStatus.FAILED

        def write(cur: Any) -> None:
            if fence is not None:
                self.check_fence(cur, fence)
            facts = self._run_facts(cur, a.run_id)
            row["workflow"], row["version"], row["user_id"], row["workflow_type"], _ = facts
            if not failed:
                cur.execute(sql.insert_step, row)
            else:
                # Fingerprinted now, in the attempt's transaction, so reads never write.
                if self._sqlite is not None:
                    cur.execute(sql.insert_step, row)
                    attempt_id = cur.lastrowid
                else:
                    cur.execute(sql.insert_step_returning, row)
                    attempt_id = cur.fetchone()[0]
                cur.execute(sql.insert_fingerprint,
                            fingerprint_row(attempt_id, a, facts, time))
            if events:
                self._insert_events(cur, events)
            if vars_json is not None:
                cur.execute(sql.set_vars, {"vars": vars_json, "run_id": a.run_id})

        self._write_for_run(a.run_id, write, f"record {what()}")

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus,
        events: Sequence[Event] = (),
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        outputs: Mapping[str, Any] | None = None,
        error: ErrorInfo | None = None,
        failed_step: str | None = None,
        run_vars: Mapping[str, Any] | None = None,
        fence: Fence | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """Change a run's status (and the fields given) with its events, in one transaction.

        The store does not check the transition; the engine does (``check_transition``).
        """
        mark = self._sql.mark
        what = f"run {run_id}"
        params: dict[str, Any] = {"id": run_id, "status": parse_status(status).value}
        sets = ["status = " + mark("status")]

        def put(column: str, value: Any) -> None:
            params[column] = value
            sets.append(f"{column} = {mark(column)}")

        if started_at is not None:
            put("started_at", self._time(started_at))
            put("started_at_epoch", _epoch(started_at))
        if ended_at is not None:
            put("ended_at", self._time(ended_at))
            put("ended_at_epoch", _epoch(ended_at))
            if duration_ms is not None:
                put("duration_ms", duration_ms)
            else:
                # Computed in SQL so an earlier update's started_at counts too.
                sets.append(
                    f"duration_ms = ({mark('ended_at_epoch')} - started_at_epoch) * 1000.0"
                )
        if outputs is not None:
            put("outputs", encode(outputs, lambda: f"the outputs of {what}"))
        if error is not None:
            put("error", encode(error.to_dict(), lambda: f"the error of {what}"))
            put("error_category", error.category)
        if failed_step is not None:
            put("failed_step", failed_step)
        if run_vars is not None:
            put("vars", encode(run_vars, lambda: f"the vars of {what}"))
        sql = f"UPDATE runs SET {', '.join(sets)} WHERE id = {mark('id')}"

        def write(cur: Any) -> None:
            self.check_fence(cur, fence)
            cur.execute(sql, params)
            if cur.rowcount == 0:
                raise RunNotFoundError(run_id)
            self._insert_events(cur, events)

        self._write_for_run(run_id, write, f"update {what}")

    def append_events(self, events: Sequence[Event], *, fence: Fence | None = None,
                      run_vars: tuple[str, Mapping[str, Any]] | None = None) -> None:
        """Store events that belong to no step result (pauses, logs, edits)."""
        if not events and run_vars is None:
            return
        vars_json = None if run_vars is None else (
            run_vars[0], encode(run_vars[1], lambda: f"the vars of run {run_vars[0]}"))

        def write(cur: Any) -> None:
            self.check_fence(cur, fence)
            self._insert_events(cur, events)
            if vars_json is not None:
                cur.execute(self._sql.set_vars, {"vars": vars_json[1], "run_id": vars_json[0]})

        try:
            self._write(write, "store events")
        except StoreError as exc:
            if isinstance(exc.__cause__, self._dbapi.IntegrityError):
                for run_id in dict.fromkeys(ev.run_id for ev in events):
                    self._require_run(run_id)
            raise

    def mark_rewound(self, run_id: str, step_ids: Sequence[str], *,
                     fence: Fence | None = None) -> None:
        """Flag the live attempts of these steps as rewound (kept, but no longer state)."""
        self._require_run(run_id)
        if not step_ids:
            return
        mark = self._sql.mark
        params: dict[str, Any] = {"run_id": run_id, "yes": True, "no": False}
        names = []
        for i, step_id in enumerate(dict.fromkeys(step_ids)):
            params[f"s{i}"] = step_id
            names.append(mark(f"s{i}"))
        sql = (
            f"UPDATE step_attempts SET rewound = {mark('yes')} WHERE run_id = {mark('run_id')}"
            f" AND rewound = {mark('no')} AND step_id IN ({', '.join(names)})"
        )
        def write(cur: Any) -> None:
            self.check_fence(cur, fence)
            cur.execute(sql, params)

        self._write(write, f"rewind steps of run {run_id}")

    def close(self) -> None:
        """Release connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            if self._pooled is not None:
                self._cursor.close()
                self._pooled.close()
                self._pooled = None
                self._sqlite = None
        self.engine.dispose()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"


def _invalidate(raw: Any) -> None:
    # The connection is dead: make the pool discard it instead of handing it out again.
    with contextlib.suppress(Exception):
        raw.invalidate()


def _rollback(raw: Any) -> None:
    with contextlib.suppress(Exception):
        raw.rollback()


def _upgrade(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
