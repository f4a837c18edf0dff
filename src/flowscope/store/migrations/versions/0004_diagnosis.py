"""Diagnosis: the error_fingerprints table.

Revision ID: 0004_diagnosis
Revises: 0001
Create Date: 2025-01-01

A frozen copy of ``flowscope.diagnosis.schema`` at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowscope.store.schema import UTCDateTime

revision = "0004_diagnosis"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the error_fingerprints table and its indexes."""
    op.create_table(
        "error_fingerprints",
        sa.Column("attempt_id", sa.Integer(), nullable=False, autoincrement=False),
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
        sa.PrimaryKeyConstraint("attempt_id", name="pk_error_fingerprints"),
    )
    op.create_index("ix_error_fingerprints_fingerprint_ended_at_epoch", "error_fingerprints",
                    ["fingerprint", "ended_at_epoch"])
    op.create_index("ix_error_fingerprints_workflow_step_id", "error_fingerprints",
                    ["workflow", "step_id"])
    op.create_index("ix_error_fingerprints_ended_at_epoch", "error_fingerprints",
                    ["ended_at_epoch"])
    op.create_index("ix_error_fingerprints_category_ended_at_epoch", "error_fingerprints",
                    ["category", "ended_at_epoch"])
    op.create_index("ix_error_fingerprints_run_id", "error_fingerprints", ["run_id"])


def downgrade() -> None:
    """Drop the table (its indexes go with it)."""
    op.drop_table("error_fingerprints")
