"""The SQL schema of the journal, for SQLite and PostgreSQL in one place.

Dialect differences are written inline:

- JSON columns are ``JSON`` on SQLite (stored as text) and ``JSONB`` on PostgreSQL.
- Timestamps are :class:`UTCDateTime`: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL and
  fixed-width ISO-8601 UTC text on SQLite (``2024-05-01T12:00:00.000000+00:00``). The
  fixed width makes text order equal time order, so range filters and ``ORDER BY`` are
  correct and can use indexes; reads always give timezone-aware UTC datetimes.
- Each timestamp that analytics buckets on also has a ``*_epoch`` column (seconds since
  the Unix epoch, double precision). Bucketing by time is then the same SQL on both
  dialects: ``floor(ended_at_epoch / 3600) * 3600`` is the hour bucket.

Durations (``duration_ms``, ``queue_wait_ms``, ``cpu_time_ms``) and
``peak_memory_bytes`` are plain numeric columns so aggregates run in SQL.

Other modules add their own tables in their own Alembic migrations (see
``store/migrations/versions``); they may put their ``Table`` objects on this
``metadata`` or on their own. The debugger's tables (migration ``0002_debugger``) are
here, at the end, read and written only by ``store/debug_sql.py``; so is diagnosis's
``error_fingerprints`` (migration ``0004_diagnosis``; written by ``store/sql.py`` when a
failure is recorded, read by ``store/failures_sql.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from flowscope.errors import StoreError
from flowscope.model.values import require_aware

#: Alembic's bookkeeping table; a name of our own so a database shared with another
#: Alembic-managed application does not mix up the two version histories.
VERSION_TABLE = "flowscope_alembic_version"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC; refuse naive datetimes.

    Raises:
        StoreError: ``value`` has no timezone.
    """
    return require_aware(value, "a datetime to store", error=StoreError)


def sqlite_time_text(value: datetime) -> str:
    """Return the fixed-width ISO-8601 UTC text SQLite columns hold for ``value``."""
    if value.tzinfo is not UTC:  # the engine's own timestamps skip the conversion
        value = to_utc(value)
    return value.isoformat(timespec="microseconds")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every dialect (see the module docstring)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Use sortable text on SQLite, ``timestamptz`` elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Convert to UTC (text on SQLite)."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            return sqlite_time_text(value)
        return to_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


class JSONDocument(sa.TypeDecorator[Any]):
    """A JSON value: ``JSONB`` on PostgreSQL, compact JSON text on SQLite.

    SQLite gets a ``TEXT`` column rather than ``JSON``: a ``JSON`` declared type has
    numeric affinity there, which turns the text ``12345678901234567890`` into a lossy
    REAL. SQLite's ``json_extract`` works on the text all the same. A Python ``None`` is
    SQL ``NULL`` (not the JSON text ``null``), so ``IS NULL`` means the same everywhere.
    """

    impl = sa.JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Pick the column type per dialect."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.JSON(none_as_null=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Encode to text on SQLite (the driver does it elsewhere)."""
        if dialect.name == "sqlite" and value is not None:
            return dumps_json(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Decode SQLite's text."""
        if dialect.name == "sqlite" and isinstance(value, str):
            return json.loads(value)
        return value


def _default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_encoder() -> Any:
    try:
        from _json import make_encoder  # the C accelerator json.dumps uses
    except ImportError:  # pragma: no cover - CPython always has it
        return None
    from json.encoder import encode_basestring

    # Built once: json.dumps builds this object on every call, which is a measurable
    # share of the per-step cost. No circular-reference markers: a cycle ends in
    # RecursionError, which callers report like any other unencodable value.
    return make_encoder(None, _default, encode_basestring, None, ":", ",", False, False, False)


_C_ENCODER = _make_encoder()
_PY_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def dumps_json(value: Any) -> str:
    """Return compact, strict JSON text for ``value``.

    NaN and infinities are refused because PostgreSQL's JSONB (and SQLite's JSON
    functions) cannot hold them, and a store must read back what it wrote.

    Raises:
        TypeError: ``value`` holds something JSON cannot represent.
        ValueError: ``value`` holds NaN or an infinity.
        RecursionError: ``value`` contains itself.
    """
    if type(value) is str or _C_ENCODER is None:
        return _PY_ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def _json() -> JSONDocument:
    return JSONDocument()


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("workflow", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("definition_hash", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # The definition lives once in ``definitions``, keyed by the SHA-256 of its JSON
    # (always set by the store; nullable only because SQLite cannot add a NOT NULL
    # column to a table that has rows).
    sa.Column("definition_key", sa.String(64)),
    sa.Column("inputs", _json(), nullable=False),
    sa.Column("outputs", _json()),
    sa.Column("vars", _json(), nullable=False),
    sa.Column("error", _json()),
    sa.Column("error_category", sa.String(64)),
    sa.Column("failed_step", sa.String(200)),
    sa.Column("user_id", sa.String(200)),
    sa.Column("tags", _json(), nullable=False),
    sa.Column("workflow_type", sa.String(200)),
    sa.Column("parent_run_id", sa.String(64)),
    sa.Column("parent_step_id", sa.String(200)),
    sa.Column("root_run_id", sa.String(64)),
    sa.Column("forked_from_run_id", sa.String(64)),
    sa.Column("forked_from_step", sa.String(200)),
    sa.Column("source", sa.Text()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("created_at_epoch", sa.Double(), nullable=False),
    sa.Column("started_at_epoch", sa.Double()),
    sa.Column("ended_at_epoch", sa.Double()),
    sa.Column("duration_ms", sa.Double()),
    # Ownership (engine/leases.py): who executes the run, until when (Unix seconds on the
    # database clock), and the fencing epoch every write of the run is checked against.
    sa.Column("owner_id", sa.String(200)),
    sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("lease_acquired_epoch", sa.Double()),
    sa.Column("lease_expires_epoch", sa.Double()),
    sa.Index(None, "workflow", "created_at"),
    sa.Index(None, "created_at"),
    sa.Index(None, "status"),
    sa.Index(None, "user_id"),
    sa.Index(None, "parent_run_id", "parent_step_id"),
    sa.Index(None, "root_run_id"),
    sa.Index(None, "ended_at_epoch"),
)

step_attempts = sa.Table(
    "step_attempts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("step_id", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("input", _json()),
    sa.Column("output", _json()),
    sa.Column("error", _json()),
    sa.Column("error_type", sa.String(300)),
    sa.Column("error_category", sa.String(64)),
    sa.Column("error_message", sa.Text()),
    sa.Column("ready_at", UTCDateTime()),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("started_at_epoch", sa.Double()),
    sa.Column("ended_at_epoch", sa.Double()),
    sa.Column("duration_ms", sa.Double()),
    sa.Column("queue_wait_ms", sa.Double()),
    sa.Column("cpu_time_ms", sa.Double()),
    sa.Column("peak_memory_bytes", sa.BigInteger()),
    sa.Column("child_run_id", sa.String(64)),
    sa.Column("reused_from_run_id", sa.String(64)),
    sa.Column("skip_reason", sa.String(32)),
    sa.Column("cause_step_id", sa.String(200)),
    sa.Column("rewound", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("vars_after", _json()),
    # Copied from the run when the attempt is recorded, so analytics filters need no join.
    sa.Column("workflow", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(200)),
    sa.Column("workflow_type", sa.String(200)),
    # Every index here is written on each step's commit: keep them few (analytics adds
    # its covering index on (workflow, step_id, duration_ms, ...) in migration 0003).
    sa.Index(None, "run_id", "step_id"),
)

definitions = sa.Table(
    "definitions",
    metadata,
    # One row per distinct definition (sub-workflows inlined): runs of the same workflow
    # version share it instead of each carrying a copy.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("definition", _json(), nullable=False),
)

run_commands = sa.Table(
    "run_commands",
    metadata,
    # Requests from other processes to a run's owner (cancel); the owner polls them.
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(200)),
    sa.Column("created_at_epoch", sa.Double(), nullable=False),
    sa.Column("taken_at_epoch", sa.Double()),
    sa.Index(None, "taken_at_epoch", "run_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("ts", UTCDateTime(), nullable=False),
    sa.Column("step_id", sa.String(200)),
    sa.Column("payload", _json(), nullable=False),
    # SQLite: the table is its primary-key b-tree (no rowid table plus a separate
    # index), one b-tree less to write per event on the hot path.
    sqlite_with_rowid=False,
)


# -- the debugger (migration 0002_debugger; read and written by store/debug_sql.py) ------

debug_sessions = sa.Table(
    "debug_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("workflow", sa.String(200)),
    sa.Column("options", _json(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime()),
    sa.Index(None, "user_id"),
)

debug_breakpoints = sa.Table(
    "debug_breakpoints",
    metadata,
    sa.Column("session_id", sa.String(64),
              sa.ForeignKey("debug_sessions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("spec", _json(), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("hit_count", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

debug_snapshots = sa.Table(
    "debug_snapshots",
    metadata,
    sa.Column("session_id", sa.String(64),
              sa.ForeignKey("debug_sessions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("step_id", sa.String(200)),
    sa.Column("label", sa.String(200)),
    # A delta against the previous row of the same run and session (the debugger's
    # history module writes and reads the format), so a run's history is O(steps).
    sa.Column("state", _json(), nullable=False),
    sa.Column("taken_at", UTCDateTime(), nullable=False),
    sa.Index(None, "run_id", "seq"),
)

error_fingerprints = sa.Table(
    "error_fingerprints",
    metadata,
    # Diagnosis: one row per failed step attempt, written by ``record_step`` in the
    # attempt's own transaction (rows of attempts recorded before that are filled once by
    # migration 0007), so grouping, similarity and frequency queries read an indexed
    # fingerprint and never write. Run facts are copied so the queries need no join.
    sa.Column("attempt_id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("step_id", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("workflow", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("definition_hash", sa.String(128)),
    sa.Column("user_id", sa.String(200)),
    sa.Column("workflow_type", sa.String(200)),
    sa.Column("error_type", sa.String(300), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("normalized", sa.Text(), nullable=False),
    sa.Column("is_cascade", sa.Boolean(), nullable=False),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("ended_at_epoch", sa.Double()),
    sa.Index(None, "fingerprint", "ended_at_epoch"),
    sa.Index(None, "workflow", "step_id"),
    sa.Index(None, "ended_at_epoch"),
    sa.Index(None, "category", "ended_at_epoch"),
    sa.Index(None, "run_id"),
)

# -- analytics (migration 0003_analytics) ------------------------------------------------
# The journal holds nearly everything analytics reads; these tables hold only what no run
# records: samples users report through the facade's ``track_memory_usage``,
# ``track_cpu_usage`` and ``record_concurrent_executions``.

resource_samples = sa.Table(
    "resource_samples",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("workflow", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("step_id", sa.String(200)),
    # "memory_mb" (resident memory in MiB) or "cpu_percent" (of one core), as reported.
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("value", sa.Double(), nullable=False),
    sa.Column("ts", UTCDateTime(), nullable=False),
    sa.Column("ts_epoch", sa.Double(), nullable=False),
    sa.Index(None, "run_id", "kind"),
    sa.Index(None, "workflow", "ts_epoch"),
)

concurrency_samples = sa.Table(
    "concurrency_samples",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("ts", UTCDateTime(), nullable=False),
    sa.Column("ts_epoch", sa.Double(), nullable=False),
    sa.Index(None, "ts_epoch"),
)

# The indexes analytics reads through (named as migration 0003 names them): a covering
# index in per-step duration order (the SQLite rank walk), the time-series pass over
# finished runs, the started-runs count, and the partial index of retried attempts (its
# condition literal: SQLite uses a partial index only when the query repeats the
# condition term for term). Each costs every step commit a little: add none lightly.
sa.Index("ix_step_attempts_analytics", step_attempts.c.workflow, step_attempts.c.step_id,
         step_attempts.c.duration_ms, step_attempts.c.status, step_attempts.c.attempt,
         step_attempts.c.reused_from_run_id, step_attempts.c.queue_wait_ms,
         step_attempts.c.cpu_time_ms, step_attempts.c.peak_memory_bytes)
sa.Index("ix_runs_analytics_ended", runs.c.ended_at_epoch, runs.c.duration_ms,
         runs.c.status)
sa.Index("ix_runs_analytics_created", runs.c.created_at_epoch)
sa.Index("ix_step_attempts_retried", step_attempts.c.run_id,
         sqlite_where=sa.text("attempt > 1"), postgresql_where=sa.text("attempt > 1"))
