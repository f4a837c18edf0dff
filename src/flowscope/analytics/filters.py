"""The filters every analytics query takes, and how they become SQL.

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

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowscope.engine.status import RunStatus, StepStatus
from flowscope.errors import AnalyticsError
from flowscope.model.values import require_aware

FILTER_NAMES = ("since", "until", "workflow", "version", "user", "type", "status")
"""The keyword arguments every query accepts."""


def aware(value: datetime | None, name: str) -> datetime | None:
    """Return ``value`` in UTC (``None`` stays ``None``); refuse a naive datetime.

    Raises:
        AnalyticsError: ``value`` has no timezone, or is not a datetime.
    """
    return None if value is None else require_aware(value, name, error=AnalyticsError)


@dataclass(frozen=True, slots=True)
class Filters:
    """One query's filters; ``None`` means "any"."""

    since: datetime | None = None
    """Inclusive start (timezone-aware)."""
    until: datetime | None = None
    """Exclusive end (timezone-aware)."""
    workflow: str | None = None
    """Workflow name."""
    version: str | None = None
    """Workflow version."""
    user: str | None = None
    """The user who started the run."""
    type: str | None = None
    """The ``type`` tag (workflow type)."""
    status: str | None = None
    """Run status (run queries) or attempt status (step queries)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", aware(self.since, "since"))
        object.__setattr__(self, "until", aware(self.until, "until"))
        if self.since is not None and self.until is not None and self.until < self.since:
            raise AnalyticsError(
                f"until ({self.until.isoformat()}) is before since ({self.since.isoformat()})",
                hint="swap the two, or leave one out",
            )
        if self.status is not None:
            known = {s.value for s in RunStatus} | {s.value for s in StepStatus}
            status = str(self.status).strip().lower()
            if status not in known:
                raise AnalyticsError(
                    f"unknown status {self.status!r}",
                    hint="use one of " + ", ".join(sorted(known)),
                )
            object.__setattr__(self, "status", status)

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Filters:
        """Build from keyword arguments; refuse unknown names.

        Raises:
            AnalyticsError: A name is not a filter, or a value is bad.
        """
        unknown = sorted(set(values) - set(FILTER_NAMES))
        if unknown:
            raise AnalyticsError(
                f"unknown filter(s): {', '.join(unknown)}",
                hint="filters are " + ", ".join(FILTER_NAMES),
            )
        return cls(**{k: v for k, v in values.items() if v is not None})

    def with_range(self, since: datetime | None, until: datetime | None) -> Filters:
        """Return a copy with another time range."""
        return replace(self, since=since, until=until)

    def with_workflow(self, workflow: str | None) -> Filters:
        """Return a copy for one workflow (``None`` keeps the current one)."""
        return self if workflow is None else replace(self, workflow=workflow)


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
