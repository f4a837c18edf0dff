"""The SQL store analytics works on, and small helpers shared by the query modules."""

from __future__ import annotations

from typing import Any

from flowscope.errors import AnalyticsError
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


def rate(part: int, whole: int) -> float | None:
    """Return ``part / whole``, or ``None`` when there is nothing to count."""
    return part / whole if whole else None
