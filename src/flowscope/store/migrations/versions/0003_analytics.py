"""Analytics: reported resource and concurrency samples; an index for per-step statistics.

Revision ID: 0003_analytics
Revises: 0001
Create Date: 2025-01-03

The index ``ix_step_attempts_analytics`` (workflow, step_id, duration_ms, status,
attempt, reused_from_run_id, queue_wait_ms, cpu_time_ms, peak_memory_bytes) covers the
per-step statistics: counts, failures, retries and the resource figures come from the
index alone (it is one b-tree either way; the three resource columns only widen its
entries), and each percentile is one walk along a (workflow, step) group already in
duration order (see ``flowscope.analytics.percentiles``).

The partial index ``ix_step_attempts_retried`` (run_id) ``WHERE attempt > 1`` lists the
runs that retried a step, for the summary's success-after-retry rate. Only retried
attempts are written to it, so first attempts (nearly every commit) do not pay for it.

Two indexes on ``runs`` (written when a run changes status, not on step commits) keep
time series and the run summary off the wide run rows: ``ix_runs_analytics_ended``
(ended_at_epoch, duration_ms, status) and ``ix_runs_analytics_created``
(created_at_epoch).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowscope.store.schema import UTCDateTime

revision = "0003_analytics"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the sample tables and the per-step duration index."""
    op.create_table(
        "resource_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("step_id", sa.String(200)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("ts_epoch", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resource_samples"),
    )
    op.create_index("ix_resource_samples_run_id_kind", "resource_samples", ["run_id", "kind"])
    op.create_index("ix_resource_samples_workflow_ts_epoch", "resource_samples",
                    ["workflow", "ts_epoch"])
    op.create_table(
        "concurrency_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("ts_epoch", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_concurrency_samples"),
    )
    op.create_index("ix_concurrency_samples_ts_epoch", "concurrency_samples", ["ts_epoch"])
    op.create_index("ix_step_attempts_analytics", "step_attempts",
                    ["workflow", "step_id", "duration_ms", "status", "attempt",
                     "reused_from_run_id", "queue_wait_ms", "cpu_time_ms",
                     "peak_memory_bytes"])
    # The condition is written out as literal SQL on purpose: SQLite uses a partial index
    # only when the query repeats its condition term for term (queries render it the same).
    retried = sa.text("attempt > 1")
    op.create_index("ix_runs_analytics_ended", "runs",
                    ["ended_at_epoch", "duration_ms", "status"])
    op.create_index("ix_runs_analytics_created", "runs", ["created_at_epoch"])
    op.create_index("ix_step_attempts_retried", "step_attempts", ["run_id"],
                    sqlite_where=retried, postgresql_where=retried)


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_index("ix_step_attempts_retried", table_name="step_attempts")
    op.drop_index("ix_runs_analytics_created", table_name="runs")
    op.drop_index("ix_runs_analytics_ended", table_name="runs")
    op.drop_index("ix_step_attempts_analytics", table_name="step_attempts")
    op.drop_table("concurrency_samples")
    op.drop_table("resource_samples")
