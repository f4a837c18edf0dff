"""Run ownership: lease columns on runs, and the run_commands table.

Revision ID: 0005_leases
Revises: 0001
Create Date: 2026-12-01

A frozen copy of the lease part of ``flowscope.store.schema`` at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_leases"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the lease columns and the commands table."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(200)))
        batch.add_column(sa.Column("lease_epoch", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("lease_acquired_epoch", sa.Double()))
        batch.add_column(sa.Column("lease_expires_epoch", sa.Double()))
    op.create_table(
        "run_commands",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(200)),
        sa.Column("created_at_epoch", sa.Double(), nullable=False),
        sa.Column("taken_at_epoch", sa.Double()),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_run_commands_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_run_commands"),
    )
    op.create_index("ix_run_commands_taken_at_epoch_run_id", "run_commands",
                    ["taken_at_epoch", "run_id"])


def downgrade() -> None:
    """Drop the commands table and the lease columns."""
    op.drop_table("run_commands")
    with op.batch_alter_table("runs") as batch:
        for column in ("lease_expires_epoch", "lease_acquired_epoch", "lease_epoch",
                       "owner_id"):
            batch.drop_column(column)
