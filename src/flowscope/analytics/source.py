"""The contract analytics needs from a store: :class:`AnalyticsSource`.

Analytics computes nothing over a database itself: it asks the store for grouped
statistics (with exact percentiles), time extents, in-flight intervals and records, in
the plain data of :mod:`flowscope.store.analytics_query`; and it writes reported
samples through it. Each journal store hands out its implementation through one
accessor, ``store.analytics_source()`` (SQL: :mod:`flowscope.store.analytics_sql`;
memory: :mod:`flowscope.store.analytics_memory`). Runs tracked from outside the engine
are written through the journal's own methods (``create_run``, ``update_run``,
``record_step``), never around them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from flowscope.errors import AnalyticsError
from flowscope.filters import Filters
from flowscope.store.analytics_query import Bucket, GroupStats, RunState, Scope, TimeColumn

__all__ = ["AnalyticsSource", "scope", "source_of"]


@runtime_checkable
class AnalyticsSource(Protocol):
    """What analytics reads from and writes to a store."""

    def group_stats(
        self, scope: Scope, *, groups: Sequence[str] = (), bucket: Bucket | None = None,
        value: str | None = "duration_ms", fractions: Sequence[float] = (0.5, 0.95, 0.99),
        measures: Sequence[str] = (),
        centers: Mapping[tuple[Any, ...], float] | None = None,
    ) -> list[GroupStats]:
        """Return count, mean, min, max, exact percentiles of ``value`` and the named
        measures, per group (keys sorted; one entry even when empty if ungrouped)."""
        ...

    def extent(self, scope: Scope, first: str, last: str | None = None, *,
               count: bool = False) -> tuple[int | None, float | None, float | None]:
        """Return the rows' count (if ``count``), the earliest epoch of the ``first`` time
        column and the latest of the ``last`` one (default: ``first``)."""
        ...

    def intervals(self, scope: Scope, lo: float, hi: float
                  ) -> Iterator[tuple[float, float | None]]:
        """Yield ``(start, end)`` epochs of the rows in flight during ``[lo, hi)``."""
        ...

    def records(self, scope: Scope, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Yield the rows' columns (runs by creation then id, attempts as recorded)."""
        ...

    def run_state(self, run_id: str) -> RunState | None:
        """Return a run's workflow, status and start (exact id), or ``None``."""
        ...

    def resource_summary(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Return the reported samples of one run: max, mean, count per kind."""
        ...

    def reported_concurrency(self, size: float, origin: float, lo: float,
                             hi: float) -> dict[float, int]:
        """Return the largest reported count in flight per bucket start."""
        ...

    def add_resource_sample(self, workflow: str, run_id: str, step_id: str | None, kind: str,
                            value: float, at: datetime) -> None:
        """Store one reported resource sample."""
        ...

    def add_concurrency_sample(self, count: int, at: datetime) -> None:
        """Store one reported count of executions in flight."""
        ...


def source_of(store: Any) -> AnalyticsSource:
    """Return the analytics side of a journal store.

    Raises:
        AnalyticsError: ``store`` has no ``analytics_source()`` (not a Flowscope store).
    """
    accessor = getattr(store, "analytics_source", None)
    if accessor is None:
        raise AnalyticsError(
            f"analytics cannot read {type(store).__name__}",
            hint="pass a Flowscope store (open_store('path.db'), a postgresql:// URL, or "
            "open_store('memory'))",
        )
    found: AnalyticsSource = accessor()
    return found


def scope(filters: Filters, table: Literal["runs", "steps"], time: TimeColumn,
          **more: Any) -> Scope:
    """Return the :class:`Scope` of ``filters`` on ``table``, the range on ``time``."""
    return Scope(table=table, time=time, filters=filters, **more)
