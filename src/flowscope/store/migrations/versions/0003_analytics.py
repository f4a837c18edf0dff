"""Analytics: reported resource and concurrency samples; an index for per-step statistics.

Revision ID: 0003_analytics
Revises: 0001
Create Date: 2025-01-03

The index ``ix_step_attempts_analytics`` (workflow, step_id, duration_ms, status,
attempt, reused_from_run_id) covers the per-step statistics: counts, failures and
retries come from the index alone, and each percentile is one walk along a (workflow,
step) group already in duration order (see ``flowscope.analytics.percentiles``).
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
                     "reused_from_run_id"])


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_index("ix_step_attempts_analytics", table_name="step_attempts")
    op.drop_table("concurrency_samples")
    op.drop_table("resource_samples")
