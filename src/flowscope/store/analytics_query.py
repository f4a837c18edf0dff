"""The plain data analytics asks a store for, and the exact-percentile formula.

Analytics (:mod:`flowscope.analytics.source`) declares what it reads and writes as the
``AnalyticsSource`` protocol; the store implements it for SQL
(:mod:`.analytics_sql`) and for memory (:mod:`.analytics_memory`). Both sides speak in
the small frozen dataclasses of this module, which live in ``store`` because analytics
may import ``store`` and ``store`` may not import analytics.

What a query reads (:class:`Scope`):

- ``table``: ``runs`` or ``steps`` (step attempts);
- the filters (``since`` inclusive and ``until`` exclusive on the ``time`` column,
  ``workflow``, ``version``, ``user``, ``type`` (the ``type`` tag), ``status`` of the run
  or of the attempt);
- ``executed`` (steps): only attempts that ran (completed, failed or cancelled; not
  skipped, not reused by a fork); ``finished`` (runs): only runs with an end;
  ``statuses``: only these statuses; ``step_id``: only this step; ``begun``: only rows
  that started.

What is measured per group (:data:`MEASURES`), besides count, mean, min, max and exact
percentiles of ``value``:

- ``rows``: rows in the group; ``status:<s>``: rows with status ``s``;
- ``retries``: attempts with number > 1; ``retried_runs`` (runs): completed runs in which
  some step needed more than one attempt;
- ``avg:<column>`` / ``max:<column>``: of ``queue_wait_ms``, ``cpu_time_ms`` or
  ``peak_memory_bytes`` (steps).

Percentiles follow numpy's default (``method="linear"``) and PostgreSQL's
``percentile_cont``: for ``n`` sorted values and a fraction ``p``, ``h = p * (n - 1)``;
the result is ``x[floor(h)] + (x[ceil(h)] - x[floor(h)]) * (h - floor(h))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from flowscope.filters import Filters

__all__ = [
    "EXECUTED", "FILTER_COLUMNS", "MEASURES", "RESOURCE_KINDS", "Bucket", "GroupStats",
    "RunState", "Scope", "exact_percentiles", "lerp",
]

EXECUTED = ("completed", "failed", "cancelled")
"""Step attempts that ran (not skipped, not taken over from another run by a fork)."""

RESOURCE_KINDS = ("memory_mb", "cpu_percent")
"""The kinds of reported resource samples."""

_RESOURCE_COLUMNS = ("queue_wait_ms", "cpu_time_ms", "peak_memory_bytes")
MEASURES = frozenset({"rows", "retries", "retried_runs"}
                     | {f"status:{s}" for s in ("pending", "running", "paused", "completed",
                                                "failed", "cancelled", "skipped")}
                     | {f"{op}:{c}" for op in ("avg", "max") for c in _RESOURCE_COLUMNS})
"""The measures a store computes per group (see the module docstring)."""

TimeColumn = Literal["created_at", "started_at", "ended_at"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows of ``runs`` or ``step_attempts`` a query reads."""

    table: Literal["runs", "steps"]
    """``runs`` or ``steps`` (step attempts)."""
    time: TimeColumn = "created_at"
    """The timestamp ``filters.since``/``filters.until`` apply to."""
    filters: Filters = field(default_factory=Filters)
    """The query's common filters (``status``: the run's or the attempt's)."""
    statuses: tuple[str, ...] | None = None
    """Only these statuses (``None``: any)."""
    executed: bool = False
    """Steps: only attempts that ran (:data:`EXECUTED`, not reused)."""
    finished: bool = False
    """Runs: only runs that ended (``ended_at`` set)."""
    step_id: str | None = None
    """Steps: only this step."""
    begun: bool = False
    """Only rows that started (``started_at`` set)."""


#: ``Filters`` field -> the column of ``runs`` and ``step_attempts`` it selects on (the
#: time range aside); the SQL and the memory sources both read this one table.
FILTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("workflow", "workflow"), ("version", "version"), ("user", "user_id"),
    ("type", "workflow_type"), ("status", "status"),
)


@dataclass(frozen=True, slots=True)
class Bucket:
    """Group rows by time: ``floor((epoch - origin) / size) * size + origin`` of a column.

    SQLite truncates toward zero instead of flooring, the same for times after
    ``origin`` (every use has ``origin`` at or before the data).
    """

    column: TimeColumn
    """The timestamp cut into buckets."""
    size: float
    """Bucket width in seconds."""
    origin: float = 0.0
    """Epoch seconds where buckets are aligned."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Statistics of one group of values."""

    key: tuple[Any, ...]
    """The group's key (the bucket start last when bucketed; empty when ungrouped)."""
    count: int
    """Number of non-NULL values."""
    mean: float | None
    """Mean of the values."""
    minimum: float | None
    """Smallest value."""
    maximum: float | None
    """Largest value."""
    percentiles: tuple[float | None, ...]
    """One per requested fraction, in order."""
    extras: Mapping[str, Any] = field(default_factory=dict)
    """The measures, by name."""


@dataclass(frozen=True, slots=True)
class RunState:
    """What recording a tracked run needs to know about it."""

    workflow: str
    """The run's workflow."""
    status: str
    """The run's status."""
    started_at: datetime | None
    """When it started."""


def check_measures(measures: Iterable[str]) -> tuple[str, ...]:
    """Return ``measures`` as a tuple if every one is known.

    Raises:
        ValueError: An unknown measure (a programming error in the caller).
    """
    out = tuple(measures)
    unknown = sorted(set(out) - MEASURES)
    if unknown:
        raise ValueError(f"unknown measures: {', '.join(unknown)}")
    return out


def lerp(first: float | None, second: float | None, h: float) -> float | None:
    """Interpolate between the values at ranks ``floor(h)`` and ``ceil(h)`` like PostgreSQL."""
    if first is None:
        return None
    if second is None:
        return float(first)
    proportion = h - int(h)
    if proportion == 0.0:
        return float(first)
    return float(first) + (float(second) - float(first)) * proportion


def ranks(n: int, p: float) -> tuple[int, int, float]:
    """Return ``(floor(h), ceil(h), h)`` for ``n`` values and the fraction ``p``."""
    h = float(p) * (n - 1)
    lo = int(h)
    return lo, lo + (1 if h > lo else 0), h


def exact_percentiles(
    values: Iterable[float | None], fractions: Sequence[float] = (0.5, 0.95, 0.99)
) -> tuple[float | None, ...]:
    """Return the exact percentiles of values held in memory (``None`` values left out).

    The same definition as the SQL paths, so that a figure computed here equals the one
    a query returns for the same values.
    """
    ordered = sorted(float(v) for v in values if v is not None)
    return sorted_percentiles(ordered, fractions)


def sorted_percentiles(ordered: Sequence[float],
                       fractions: Sequence[float]) -> tuple[float | None, ...]:
    """Return the exact percentiles of values already sorted ascending."""
    n = len(ordered)
    out: list[float | None] = []
    for p in fractions:
        if not n:
            out.append(None)
            continue
        lo, hi, h = ranks(n, p)
        out.append(lerp(ordered[lo], ordered[hi], h))
    return tuple(out)
