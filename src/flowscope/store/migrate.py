"""Bring a database's schema up to date with the packaged Alembic migrations.

Opening a store is on the CLI's startup path, so the common case (a database already
at the newest revision) must not import Alembic at all: the head revisions are read
from the migration files with ``ast`` and compared with the database's version table.

Adding a migration: put ``NNNN_what.py`` in ``store/migrations/versions`` with
``revision = "NNNN"`` and ``down_revision`` naming the previous head. Nothing else to
register; it is applied the next time any store opens.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sqlalchemy as sa

from flowscope.store.schema import VERSION_TABLE

#: The packaged Alembic script directory (beside this module, so it works installed).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _literal_assignments(path: Path, names: frozenset[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names and value is not None:
                found[target.id] = ast.literal_eval(value)
    return found


def head_revisions() -> frozenset[str]:
    """Return the revisions no other migration builds on (usually exactly one)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        if path.name.startswith("__"):
            continue
        found = _literal_assignments(path, frozenset({"revision", "down_revision"}))
        revision = found.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = found.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


def current_revisions(connection: sa.Connection) -> frozenset[str]:
    """Return the revisions recorded in the database (empty for a new database)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    rows = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")
    return frozenset(str(row[0]) for row in rows)


def upgrade(engine: sa.Engine) -> bool:
    """Apply any pending migrations; return whether anything ran."""
    with engine.connect() as connection:
        if current_revisions(connection) == head_revisions():
            return False
    # Imported here: Alembic costs ~100 ms to import and is rarely needed.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    return True
