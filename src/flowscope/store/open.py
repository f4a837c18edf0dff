"""Open a store from a URL, a file path, ``memory`` or the environment."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from flowscope.errors import StoreError
from flowscope.store.memory import MemoryStore
from flowscope.store.schema import dumps_json
from flowscope.store.sql import SQLStore

ENV_VAR = "FLOWSCOPE_DB"
"""The environment variable naming the default store."""

DEFAULT_PATH = Path(".flowscope") / "flowscope.db"
"""The default SQLite file, relative to the working directory."""

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def open_store(url: str | None = None, *, synchronous: str = "NORMAL") -> SQLStore | MemoryStore:
    """Open (creating and migrating as needed) the store at ``url``.

    Args:
        url: ``None`` for ``$FLOWSCOPE_DB`` or else ``./.flowscope/flowscope.db``;
            ``"memory"`` for an in-memory store; a file path for SQLite; or a
            ``sqlite:///...``, ``postgresql://...`` or ``postgresql+psycopg://...`` URL
            (a bare ``postgresql://`` uses psycopg 3).
        synchronous: SQLite's ``PRAGMA synchronous``: ``NORMAL`` (fast; with WAL a power
            loss may lose the last commits but never corrupts) or ``FULL`` (every
            commit survives power loss).

    Raises:
        StoreError: The URL is malformed, the database unreachable, or the file cannot
            be created or written.
    """
    if url is None:
        url = os.environ.get(ENV_VAR) or None
        if url is None:
            return _open_sqlite_file(DEFAULT_PATH, synchronous)
    url = url.strip()
    if not url:
        raise StoreError("the store URL is empty", hint=_URL_HINT)
    if url == "memory":
        return MemoryStore()
    if "://" not in url:
        return _open_sqlite_file(Path(url).expanduser(), synchronous)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"cannot parse the store URL {url!r}", hint=_URL_HINT) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            return _open_sqlite_memory(synchronous)
        return _open_sqlite_file(Path(database).expanduser(), synchronous)
    if backend == "postgresql":
        driver = parsed.get_driver_name()
        if driver not in ("psycopg", "postgresql"):
            raise StoreError(
                f"unsupported PostgreSQL driver {driver!r} in {_safe(parsed)}",
                hint="use postgresql:// or postgresql+psycopg:// (psycopg 3)",
            )
        return _open_postgres(parsed.set(drivername="postgresql+psycopg"))
    raise StoreError(f"unsupported database {backend!r} in {_safe(parsed)}", hint=_URL_HINT)


_URL_HINT = (
    "use 'memory', a file path, sqlite:///path/to/file.db or "
    "postgresql://user@host:5432/dbname"
)


def _safe(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def sqlite_engine(path: str, *, synchronous: str = "NORMAL", **kwargs: Any) -> sa.Engine:
    """Return a SQLite engine with Flowscope's connection settings.

    Every connection gets: WAL (readers never block the writer), the given
    ``synchronous`` level, a 5 s busy timeout (writers from other processes queue
    instead of failing at once) and foreign keys on.

    Args:
        path: The database file, or ``:memory:``.
        synchronous: ``NORMAL`` or ``FULL`` (``OFF``/``EXTRA`` accepted too).
        **kwargs: More ``create_engine`` arguments.

    Raises:
        StoreError: ``synchronous`` is not a SQLite level.
    """
    level = synchronous.upper()
    if level not in _SYNCHRONOUS:
        raise StoreError(
            f"unknown synchronous level {synchronous!r}",
            hint="use 'NORMAL' (default) or 'FULL'",
        )
    engine = sa.create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False},
        json_serializer=dumps_json,
        **kwargs,
    )

    @sa.event.listens_for(engine, "connect")
    def _setup(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA busy_timeout = 5000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute(f"PRAGMA synchronous = {level}")
        # Checkpoints are where WAL mode syncs; one every ~40 MB of log instead of every
        # ~4 MB keeps a step's commit cheap. The log is truncated back after each one.
        cur.execute("PRAGMA wal_autocheckpoint = 10000")
        cur.execute("PRAGMA journal_size_limit = 67108864")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    return engine


def _open_sqlite_file(path: Path, synchronous: str) -> SQLStore:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the directory {path.parent} for the store: {exc.strerror}",
            hint=f"choose a writable location with --db or ${ENV_VAR}",
        ) from exc
    if path.is_dir():
        raise StoreError(
            f"the store path {path} is a directory",
            hint=f"name a file inside it, e.g. {path / 'flowscope.db'}",
        )
    engine = sqlite_engine(str(path), synchronous=synchronous)
    return _make(engine, f"sqlite:///{path}", f"open the SQLite file {path}")


def _open_sqlite_memory(synchronous: str) -> SQLStore:
    # One shared connection: each new :memory: connection would be a new, empty database.
    engine = sqlite_engine(":memory:", synchronous=synchronous, poolclass=StaticPool)
    return _make(engine, "sqlite://", "open an in-memory SQLite database")


def _open_postgres(url: sa.URL) -> SQLStore:
    engine = sa.create_engine(
        url, pool_pre_ping=True, json_serializer=dumps_json,
        connect_args={"connect_timeout": 10},
    )
    return _make(engine, _safe(url), f"connect to {_safe(url)}")


def _make(engine: sa.Engine, url: str, doing: str) -> SQLStore:
    try:
        return SQLStore(engine, url=url)
    except StoreError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot {doing}: {exc.message}",
            hint="check the path is writable (SQLite) or the server is running and the "
            "database exists (PostgreSQL)",
        ) from exc
    except Exception:
        engine.dispose()
        raise
