"""Debugger tables: sessions, breakpoints, snapshots.

Revision ID: 0002_debugger
Revises: 0001

A frozen copy of ``flowscope.debugger.schema`` at this revision. ``debug_snapshots.state``
holds a *delta* against the previous snapshot of the same run (see
``flowscope.debugger.persistence``), so the full history costs O(steps), not O(steps²).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowscope.store.schema import JSONDocument, UTCDateTime

revision = "0002_debugger"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the debugger tables."""
    op.create_table(
        "debug_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("workflow", sa.String(200)),
        sa.Column("options", JSONDocument(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_debug_sessions"),
    )
    op.create_index("ix_debug_sessions_user_id", "debug_sessions", ["user_id"])
    op.create_table(
        "debug_breakpoints",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("spec", JSONDocument(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["debug_sessions.id"], ondelete="CASCADE",
                                name="fk_debug_breakpoints_session_id_debug_sessions"),
        sa.PrimaryKeyConstraint("session_id", "id", name="pk_debug_breakpoints"),
    )
    op.create_table(
        "debug_snapshots",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(200)),
        sa.Column("label", sa.String(200)),
        sa.Column("state", JSONDocument(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["debug_sessions.id"], ondelete="CASCADE",
                                name="fk_debug_snapshots_session_id_debug_sessions"),
        sa.PrimaryKeyConstraint("session_id", "id", name="pk_debug_snapshots"),
    )
    op.create_index("ix_debug_snapshots_run_id_seq", "debug_snapshots", ["run_id", "seq"])


def downgrade() -> None:
    """Drop the debugger tables."""
    op.drop_table("debug_snapshots")
    op.drop_table("debug_breakpoints")
    op.drop_table("debug_sessions")
