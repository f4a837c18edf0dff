"""The store analytics works on, and small helpers shared by the query modules."""

from __future__ import annotations

from typing import Any

from flowscope.store.analytics_query import EXECUTED
from flowscope.store.open import open_store

__all__ = ["EXECUTED", "open_journal", "rate"]


def open_journal(store: Any) -> tuple[Any, bool]:
    """Return the store to work on and whether the caller opened it (must close it).

    Args:
        store: ``None`` for the default store (``$FLOWSCOPE_DB`` or
            ``./.flowscope/flowscope.db``), ``"memory"`` for a private in-memory SQLite
            database, a URL or file path, or an open store (SQL or memory; the caller's
            to close).
    """
    if store is None:
        return open_store(None), True
    if isinstance(store, str):
        url = "sqlite://" if store.strip() == "memory" else store
        return open_store(url), True
    return store, False


def rate(part: int, whole: int) -> float | None:
    """Return ``part / whole``, or ``None`` when there is nothing to count."""
    return part / whole if whole else None
