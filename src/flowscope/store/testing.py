"""Test helpers: run one test against every store.

Use in any test module (engine, debugger, analytics): load this module as a plugin
(``pytest_plugins = ["flowscope.store.testing"]`` in a conftest) and ask for the
``any_store`` fixture, or build your own fixture with :func:`store_params` and
:func:`make_store`. PostgreSQL runs only when ``FLOWSCOPE_TEST_POSTGRES`` holds a URL (e.g.
``postgresql://postgres@127.0.0.1:5432/test``); each test gets a fresh schema on that
database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from flowscope.store.memory import MemoryStore
from flowscope.store.open import open_store
from flowscope.store.schema import dumps_json
from flowscope.store.sql import SQLStore

POSTGRES_ENV = "FLOWSCOPE_TEST_POSTGRES"
"""The environment variable with the PostgreSQL URL for tests."""

STORE_KINDS = ("memory", "sqlite", "postgres")


def postgres_url() -> sa.URL | None:
    """Return the test PostgreSQL URL (psycopg 3 driver), or ``None`` when unset."""
    raw = os.environ.get(POSTGRES_ENV)
    if not raw:
        return None
    return sa.make_url(raw).set(drivername="postgresql+psycopg")


def store_params(kinds: tuple[str, ...] = STORE_KINDS) -> list[Any]:
    """Return ``pytest.param`` values for ``@pytest.fixture(params=...)``.

    The ``postgres`` one carries the ``postgres`` mark and is skipped unless
    ``FLOWSCOPE_TEST_POSTGRES`` is set.
    """
    params = []
    for kind in kinds:
        marks: list[Any] = []
        if kind == "postgres":
            marks = [
                pytest.mark.postgres,
                pytest.mark.skipif(postgres_url() is None, reason=f"set {POSTGRES_ENV}"),
            ]
        params.append(pytest.param(kind, id=kind, marks=marks))
    return params


@contextmanager
def make_store(kind: str, tmp_path: Path) -> Iterator[SQLStore | MemoryStore]:
    """Open a fresh, empty store of ``kind``; close it (and drop its data) afterwards.

    Args:
        kind: ``memory``, ``sqlite`` (a file in ``tmp_path``) or ``postgres``.
        tmp_path: pytest's per-test directory.
    """
    if kind == "memory":
        with MemoryStore() as memory:
            yield memory
    elif kind == "sqlite":
        store = open_store(str(tmp_path / "flowscope.db"))
        try:
            yield store
        finally:
            store.close()
    elif kind == "postgres":
        with _postgres_store() as pg:
            yield pg
    else:
        raise ValueError(f"unknown store kind {kind!r}; use one of {STORE_KINDS}")


@contextmanager
def _postgres_store() -> Iterator[SQLStore]:
    url = postgres_url()
    if url is None:
        pytest.skip(f"set {POSTGRES_ENV} to run PostgreSQL tests")
    schema = f"flowscope_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine = sa.create_engine(
            url,
            json_serializer=dumps_json,
            connect_args={"options": f"-csearch_path={schema}", "connect_timeout": 10},
        )
        store = SQLStore(engine, url=f"{url.render_as_string(hide_password=True)}#{schema}")
        try:
            yield store
        finally:
            store.close()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=store_params())
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore | MemoryStore]:
    """A fresh store of each kind: memory, SQLite file, PostgreSQL (when configured)."""
    with make_store(request.param, tmp_path) as store:
        yield store
