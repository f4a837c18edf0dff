"""The SQL store analytics works on, and small helpers shared by the query modules."""

from __future__ import annotations

from typing import Any

from flowscope.errors import AnalyticsError
from flowscope.store.open import open_store
from flowscope.store.sql import SQLStore

#: Step attempts that ran (not skipped, not taken over from another run by a fork).
EXECUTED = ("completed", "failed", "cancelled")


def require_sql(store: Any) -> SQLStore:
    """Return ``store`` if analytics can query it.

    Raises:
        AnalyticsError: It is the in-memory dict store (or anything else without SQL).
    """
    if isinstance(store, SQLStore):
        return store
    raise AnalyticsError(
        f"analytics needs a SQL store, not {type(store).__name__}",
        hint="use a SQLite or PostgreSQL store (open_store('path.db') or a postgresql:// "
        "URL), or WorkflowAnalyticsEngine('memory') for an in-memory SQLite database",
    )


def open_sql(store: Any) -> tuple[SQLStore, bool]:
    """Return the SQL store to query and whether the caller opened it (must close it).

    Args:
        store: ``None`` for the default store (``$FLOWSCOPE_DB`` or
            ``./.flowscope/flowscope.db``), ``"memory"`` for a private in-memory SQLite
            database, a URL or file path, or an open SQL store (the caller's to close).

    Raises:
        AnalyticsError: ``store`` is the engine's in-memory dict store.
    """
    if store is None:
        return require_sql(open_store(None)), True
    if isinstance(store, str):
        url = "sqlite://" if store.strip() == "memory" else store
        return require_sql(open_store(url)), True
    return require_sql(store), False


def rate(part: int, whole: int) -> float | None:
    """Return ``part / whole``, or ``None`` when there is nothing to count."""
    return part / whole if whole else None
