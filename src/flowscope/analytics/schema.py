"""The tables analytics adds to the journal's database (migration ``0003_analytics``).

The journal already holds nearly everything analytics reads (``runs`` and
``step_attempts``, see :mod:`flowscope.store.schema`). These tables hold only what no run
records: samples that users report through the facade's ``track_memory_usage``,
``track_cpu_usage`` and ``record_concurrent_executions``.

Timestamps follow the journal's conventions: :class:`~flowscope.store.schema.UTCDateTime`
plus a ``*_epoch`` column (seconds since the Unix epoch) that time buckets are cut on.
"""

from __future__ import annotations

import sqlalchemy as sa

from flowscope.store.schema import UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

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
