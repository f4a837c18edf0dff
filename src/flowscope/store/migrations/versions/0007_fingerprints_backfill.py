"""Fingerprints written when a failure is recorded: fill the rows of older failures once.

Revision ID: 0007_fingerprints_backfill
Revises: 0006_definitions, 0004_diagnosis
Create Date: 2026-12-01

Until this revision diagnosis filled ``error_fingerprints`` lazily, before each read
(a write on a read path). The store now writes each failed attempt's row in the
attempt's own transaction; this migration computes, once, the rows of failed attempts
recorded before, with the engine's fingerprint function, so an old database is complete
and reading it never writes again. No schema change; downgrading leaves the rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from flowscope.engine.fingerprint import fingerprint_error, is_cascade_type, normalize_message
from flowscope.engine.records import ErrorInfo
from flowscope.store.schema import JSONDocument, UTCDateTime

revision = "0007_fingerprints_backfill"
# Also after 0004_diagnosis, which made the table: a merge of the two branches (with
# ``depends_on`` instead, Alembic would leave 0004 out of the version table, and every
# open would see a pending head and start Alembic).
down_revision = ("0006_definitions", "0004_diagnosis")
branch_labels = None
depends_on = None

_BATCH = 2000

# Frozen views of the tables as they are at this revision (not the live schema module).
_steps = sa.table(
    "step_attempts",
    *(sa.column(name, sa.String()) for name in (
        "run_id", "step_id", "status", "workflow", "version", "user_id", "workflow_type",
        "error_type", "error_category", "error_message")),
    sa.column("id", sa.Integer()), sa.column("attempt", sa.Integer()),
    sa.column("error", JSONDocument()), sa.column("ended_at", UTCDateTime()),
    sa.column("ended_at_epoch", sa.Double()),
)
_runs = sa.table("runs", sa.column("id", sa.String()), sa.column("definition_hash", sa.String()))
_fingerprints = sa.table(
    "error_fingerprints",
    *(sa.column(name, sa.String()) for name in (
        "run_id", "step_id", "workflow", "version", "definition_hash", "user_id",
        "workflow_type", "error_type", "category", "fingerprint", "normalized")),
    sa.column("attempt_id", sa.Integer()), sa.column("attempt", sa.Integer()),
    sa.column("is_cascade", sa.Boolean()), sa.column("ended_at", UTCDateTime()),
    sa.column("ended_at_epoch", sa.Double()),
)


def _row(r: Any) -> dict[str, Any]:
    # As the store writes it (store/failures_sql.py: fingerprint_row); the structured
    # error when there is one, else the flat columns, else an unknown error.
    error = ErrorInfo.from_dict(r.error) if r.error else ErrorInfo(
        type=r.error_type or "UnknownError", message=r.error_message or "",
        category=r.error_category or "internal",
    )
    return {
        "attempt_id": r.id, "run_id": r.run_id, "step_id": r.step_id, "attempt": r.attempt,
        "workflow": r.workflow, "version": r.version, "definition_hash": r.definition_hash,
        "user_id": r.user_id, "workflow_type": r.workflow_type, "error_type": error.type,
        "category": error.category,
        "fingerprint": fingerprint_error(error, r.workflow, r.step_id),
        "normalized": normalize_message(error.message),
        "is_cascade": is_cascade_type(error.type), "ended_at": r.ended_at,
        "ended_at_epoch": r.ended_at_epoch,
    }


def upgrade() -> None:
    """Insert the fingerprint row of every failed attempt that has none, in batches."""
    bind = op.get_bind()
    s, t = _steps.c, _fingerprints.c
    cursor = 0
    while True:
        rows = bind.execute(
            sa.select(s.id, s.run_id, s.step_id, s.attempt, s.workflow, s.version,
                      s.user_id, s.workflow_type, s.error, s.error_type, s.error_category,
                      s.error_message, s.ended_at, s.ended_at_epoch,
                      _runs.c.definition_hash)
            .join(_runs, _runs.c.id == s.run_id)
            .where(s.status == "failed", s.id > cursor,
                   ~sa.exists().where(t.attempt_id == s.id))
            .order_by(s.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        cursor = rows[-1].id
        bind.execute(sa.insert(_fingerprints), [_row(r) for r in rows])


def downgrade() -> None:
    """Nothing to undo: the rows are what the older code would have added lazily."""
