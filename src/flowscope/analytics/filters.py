"""How the filters every analytics query takes (:class:`flowscope.filters.Filters`, shared
with diagnosis and the CLI) become SQL.

Which time a filter applies to (inclusive ``since``, exclusive ``until``):

- run queries (summary, per user, by type, run lists, run exports): the run's
  ``created_at`` (the moment the run was started; indexed);
- step queries (per step, leaderboards, step exports): the attempt's ``started_at``;
- time series (trends, throughput, concurrency): the end time (``ended_at``), so each
  finished run counts in the bucket it finished in.

``status`` filters the run's status in run queries and the attempt's status in step
queries. ``type`` is the ``type`` tag (the workflow type).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from flowscope.errors import AnalyticsError
from flowscope.filters import FILTER_NAMES, Filters
from flowscope.model.values import require_aware

__all__ = ["FILTER_NAMES", "Filters", "aware", "where"]


def aware(value: datetime | None, name: str) -> datetime | None:
    """Return ``value`` in UTC (``None`` stays ``None``); refuse a naive datetime.

    Raises:
        AnalyticsError: ``value`` has no timezone, or is not a datetime.
    """
    return None if value is None else require_aware(value, name, error=AnalyticsError)


def where(table: sa.Table, filters: Filters, *, time: str) -> list[sa.ColumnElement[bool]]:
    """Return the WHERE clauses for ``filters`` on ``runs`` or ``step_attempts``.

    Args:
        table: ``runs`` or ``step_attempts`` (both carry the denormalised columns).
        filters: The filters.
        time: The timestamp column the range applies to (``created_at``, ``started_at``,
            ``ended_at``).
    """
    c = table.c
    out: list[sa.ColumnElement[bool]] = []
    if filters.since is not None:
        out.append(c[time] >= filters.since)
    if filters.until is not None:
        out.append(c[time] < filters.until)
    if filters.workflow is not None:
        out.append(c.workflow == filters.workflow)
    if filters.version is not None:
        out.append(c.version == filters.version)
    if filters.user is not None:
        out.append(c.user_id == filters.user)
    if filters.type is not None:
        out.append(c.workflow_type == filters.type)
    if filters.status is not None:
        out.append(c.status == filters.status)
    return out
