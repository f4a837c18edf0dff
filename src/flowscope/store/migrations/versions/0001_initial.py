"""Initial journal schema: runs, step attempts, events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

A migration is a frozen copy of the schema at its time: it spells out its columns
instead of reading ``schema.metadata``, so later changes to ``schema.py`` (made together
with a new migration) never change what this one does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowscope.store.schema import JSONDocument, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> JSONDocument:
    return JSONDocument()


def upgrade() -> None:
    """Create the journal tables."""
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("definition_hash", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("definition", _json(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_workflow_created_at", "runs", ["workflow", "created_at"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_user_id", "runs", ["user_id"])
    op.create_index("ix_runs_parent_run_id_parent_step_id", "runs",
                    ["parent_run_id", "parent_step_id"])
    op.create_index("ix_runs_root_run_id", "runs", ["root_run_id"])
    op.create_index("ix_runs_ended_at_epoch", "runs", ["ended_at_epoch"])

    op.create_table(
        "step_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
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
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200)),
        sa.Column("workflow_type", sa.String(200)),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_step_attempts_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_step_attempts"),
    )
    # Few indexes on purpose: every one is written on each step's commit (the hot path).
    # Analytics adds the one its per-step queries need (migration 0003).
    op.create_index("ix_step_attempts_run_id_step_id", "step_attempts", ["run_id", "step_id"])

    op.create_table(
        "events",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("step_id", sa.String(200)),
        sa.Column("payload", _json(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_events_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_events"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Drop the journal tables."""
    op.drop_table("events")
    op.drop_table("step_attempts")
    op.drop_table("runs")
