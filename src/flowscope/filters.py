"""The filters every query takes, shared by analytics, diagnosis and the front ends.

``since`` (inclusive) and ``until`` (exclusive) are timezone-aware datetimes, kept in
UTC; ``workflow``, ``version``, ``user`` and ``type`` (the workflow type: the run's
``type`` tag) narrow the runs; ``status`` a run's or an attempt's status. Each room says
which timestamp the range applies to (see :mod:`flowscope.analytics.filters` and
:mod:`flowscope.diagnosis.failures`) and may add filters of its own by subclassing.
:class:`FailureFilter` (diagnosis's) lives here because the store implements it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, Self

from flowscope.engine.records import Failure
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.errors import FilterError
from flowscope.model.values import require_aware

__all__ = ["FILTER_NAMES", "FailureFilter", "Filters"]

FILTER_NAMES = ("since", "until", "workflow", "version", "user", "type", "status")
"""The keyword arguments every query accepts."""

@dataclass(frozen=True, slots=True)
class Filters:
    """One query's filters; ``None`` means "any".

    Raises:
        FilterError: A naive datetime, ``until`` before ``since``, or an unknown status.
    """

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
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, require_aware(value, name, error=FilterError))
        if self.since is not None and self.until is not None and self.until < self.since:
            raise FilterError(
                f"until ({self.until.isoformat()}) is before since ({self.since.isoformat()})",
                hint="swap the two, or leave one out",
            )
        if self.status is not None:
            known = {s.value for s in RunStatus} | {s.value for s in StepStatus}
            status = str(self.status).strip().lower()
            if status not in known:
                raise FilterError(f"unknown status {self.status!r}",
                                  hint="use one of " + ", ".join(sorted(known)))
            object.__setattr__(self, "status", status)

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Self:
        """Build from keyword arguments (``None`` values left out); refuse unknown names.

        Raises:
            FilterError: A name is not a filter, or a value is bad.
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise FilterError(f"unknown filter(s): {', '.join(unknown)}",
                              hint="filters are " + ", ".join(names))
        return cls(**{k: v for k, v in values.items() if v is not None})

    def with_range(self, since: datetime | None, until: datetime | None) -> Self:
        """Return a copy with another time range."""
        return replace(self, since=since, until=until)

    def with_workflow(self, workflow: str | None) -> Self:
        """Return a copy for one workflow (``None`` keeps the current one)."""
        return self if workflow is None else replace(self, workflow=workflow)


@dataclass(frozen=True, slots=True)
class FailureFilter(Filters):
    """Which failures a diagnosis query looks at: the shared filters (the time range
    applies to the attempt's end; ``status`` is not used, every failure is ``failed``)
    plus the step, the error category, the fingerprint, and whether cascade failures
    (sub-workflow steps that only repeat a child run's failure) are included."""

    step_id: str | None = None
    """The step id."""
    category: str | None = None
    """The error category."""
    fingerprint: str | None = None
    """The failure fingerprint."""
    include_cascade: bool = False
    """Include cascade failures (off by default so that each bug is counted once)."""

    def accepts(self, f: Failure) -> bool:
        """Whether a failure passes the filter (the memory store's WHERE clause)."""
        checks: list[tuple[Any, Any]] = [
            (self.workflow, f.workflow), (self.version, f.version), (self.user, f.user),
            (self.type, f.workflow_type), (self.step_id, f.step_id),
            (self.category, f.category), (self.fingerprint, f.fingerprint),
        ]
        if any(want is not None and want != got for want, got in checks):
            return False
        if f.is_cascade and not self.include_cascade:
            return False
        if self.since is not None and (f.ended_at is None or f.ended_at < self.since):
            return False
        return not (self.until is not None and (f.ended_at is None or f.ended_at >= self.until))
