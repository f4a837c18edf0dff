"""Alembic environment for Flowscope's store.

Flowscope runs migrations from code (``flowscope.store.migrate``), handing over an open
connection in ``config.attributes["connection"]``. Nothing here configures logging: a
library must not reconfigure the application's root logger.
"""

from __future__ import annotations

from alembic import context

from flowscope.store.schema import VERSION_TABLE, metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copes
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    # `alembic -x url=... upgrade head` from a shell, for people who want the CLI.
    import sqlalchemy as sa

    _url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not _url:
        raise SystemExit("pass the database with: alembic -x url=sqlite:///path.db upgrade head")
    with sa.create_engine(_url).begin() as _conn:
        _run(_conn)
