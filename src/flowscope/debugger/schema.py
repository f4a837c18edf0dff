"""The debugger's SQL tables (created by migration ``0002_debugger``).

They live on their own ``MetaData``: the journal's schema module is not ours to edit.
"""

from __future__ import annotations

import sqlalchemy as sa

from flowscope.store.schema import JSONDocument, UTCDateTime

metadata = sa.MetaData()

debug_sessions = sa.Table(
    "debug_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("workflow", sa.String(200)),
    sa.Column("options", JSONDocument(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime()),
)

debug_breakpoints = sa.Table(
    "debug_breakpoints",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("spec", JSONDocument(), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("hit_count", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

debug_snapshots = sa.Table(
    "debug_snapshots",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("step_id", sa.String(200)),
    sa.Column("label", sa.String(200)),
    sa.Column("state", JSONDocument(), nullable=False),
    sa.Column("taken_at", UTCDateTime(), nullable=False),
    sa.Index("ix_debug_snapshots_run_id_seq", "run_id", "seq"),
)
