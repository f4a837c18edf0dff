"""Definitions stored once: the definitions table, and runs.definition_key instead of a copy.

Revision ID: 0006_definitions
Revises: 0005_leases
Create Date: 2026-12-01

Each distinct definition is stored once, keyed by the SHA-256 of its compact JSON; the
existing runs' copies are moved there, then the runs.definition column goes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from flowscope.store.schema import JSONDocument, dumps_json

revision = "0006_definitions"
down_revision = "0005_leases"
branch_labels = None
depends_on = None


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    """Create definitions, move every run's definition there, drop runs.definition."""
    op.create_table(
        "definitions",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("definition", JSONDocument(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_definitions"),
    )
    # Plain ALTERs, no batch copy of the table: on SQLite a copy would drop ``runs`` and,
    # with foreign keys on, cascade-delete every step attempt and event with it.
    op.add_column("runs", sa.Column("definition_key", sa.String(64)))
    bind = op.get_bind()
    runs = sa.table("runs", sa.column("id", sa.String()),
                    sa.column("definition", JSONDocument()),
                    sa.column("definition_key", sa.String()))
    defs = sa.table("definitions", sa.column("key", sa.String()),
                    sa.column("definition", JSONDocument()))
    seen: set[str] = set()
    rows = list(bind.execute(sa.select(runs.c.id, runs.c.definition)))
    for run_id, definition in rows:
        value: Any = json.loads(definition) if isinstance(definition, str) else definition
        key = _key(dumps_json(value))
        if key not in seen:
            seen.add(key)
            bind.execute(sa.insert(defs).values(key=key, definition=value))
        bind.execute(sa.update(runs).where(runs.c.id == run_id).values(definition_key=key))
    # SQLite has DROP COLUMN since 3.35 (2021); Python 3.11 ships a newer one.
    op.execute("ALTER TABLE runs DROP COLUMN definition")


def downgrade() -> None:
    """Put a copy of its definition back on every run."""
    op.add_column("runs", sa.Column("definition", JSONDocument()))
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE runs SET definition = (SELECT d.definition FROM definitions d "
        "WHERE d.key = runs.definition_key)"))
    op.execute("ALTER TABLE runs DROP COLUMN definition_key")
    op.drop_table("definitions")
