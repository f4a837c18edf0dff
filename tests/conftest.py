"""Shared fixtures: every store-backed test runs on memory, a SQLite file and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev", max_examples=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

STORE_KINDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh store of each kind (PostgreSQL only when FLOWSCOPE_TEST_POSTGRES is set)."""
    yield from _make(request.param, tmp_path)


def _make(kind: str, tmp_path: Path) -> Iterator[Any]:
    from flowscope.store import open_store

    if kind == "memory":
        yield open_store("memory")
        return
    if kind == "sqlite":
        s = open_store(str(tmp_path / "flowscope.db"))
        yield s
        s.close()
        return
    from flowscope.store.testing import make_store

    with make_store(kind, tmp_path) as s:
        yield s


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    """A fresh SQLite file store."""
    yield from _make("sqlite", tmp_path)


@pytest.fixture
def memory_store() -> Any:
    """A fresh in-memory store."""
    from flowscope.store import open_store

    return open_store("memory")
