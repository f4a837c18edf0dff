"""The diagnosis table: one fingerprint row per failed step attempt (SQL stores only).

Rows are filled lazily when diagnosis reads the store (see ``diagnosis/failures.py``):
every failed attempt not yet indexed gets its fingerprint, normalised message and
category, so grouping, similarity and frequency queries use an indexed column instead of
re-hashing every failure. The migration is ``store/migrations/versions/0004_diagnosis.py``.
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

error_fingerprints = sa.Table(
    "error_fingerprints",
    metadata,
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
