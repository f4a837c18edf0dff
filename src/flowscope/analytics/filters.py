"""The filters every analytics query takes (:class:`flowscope.filters.Filters`, shared
with diagnosis and the CLI), and which time each kind of query applies them to
(inclusive ``since``, exclusive ``until``):

- run queries (summary, per user, by type, run lists, run exports): the run's
  ``created_at`` (the moment the run was started; indexed);
- step queries (per step, leaderboards, step exports): the attempt's ``started_at``;
- time series (trends, throughput, concurrency): the end time (``ended_at``), so each
  finished run counts in the bucket it finished in.

``status`` filters the run's status in run queries and the attempt's status in step
queries. ``type`` is the ``type`` tag (the workflow type). The store applies them
(:func:`flowscope.analytics.source.scope` turns them into its ``Scope``).
"""

from __future__ import annotations

from datetime import datetime

from flowscope.errors import AnalyticsError
from flowscope.filters import FILTER_NAMES, Filters
from flowscope.model.values import require_aware

__all__ = ["FILTER_NAMES", "Filters", "aware"]


def aware(value: datetime | None, name: str) -> datetime | None:
    """Return ``value`` in UTC (``None`` stays ``None``); refuse a naive datetime.

    Raises:
        AnalyticsError: ``value`` has no timezone, or is not a datetime.
    """
    return None if value is None else require_aware(value, name, error=AnalyticsError)
