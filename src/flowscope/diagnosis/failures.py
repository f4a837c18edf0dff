"""Past failures as diagnosis reads them: the contract a store implements, and its filters.

Diagnosis reads three things from a store, declared by :class:`FailureSource`: the
failures passing a :class:`FailureFilter`, the first success of a step after a time, and
a step's attempt counts since a time. ``flowscope.store`` implements it for SQL (the
``error_fingerprints`` table, written when each failure is recorded) and for memory;
:func:`source_for` gets it from a store's ``failure_source()`` method. Reading never
writes, so ``flowscope errors`` works on a read-only database and never takes SQLite's
write lock.

Filters every query takes (``**filters`` on the public API): ``since``, ``until``
(datetimes or relative text like ``7d``), ``workflow``, ``version``, ``user``,
``type`` (alias ``workflow_type``), ``step`` (alias ``step_id``), ``category``,
``fingerprint``, ``include_cascade`` (sub-workflow step failures that only repeat a child
run's failure; off by default so that each bug is counted once).

The records (:class:`Failure`, :class:`Success`, :class:`StepSample`) live in
:mod:`flowscope.engine.records` and :class:`FailureFilter` in :mod:`flowscope.filters`,
where the store can read them; they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from flowscope.engine.fingerprint import CHILD_FAILED, failure_of, is_cascade_type
from flowscope.engine.journal import Journal
from flowscope.engine.records import Failure, StepSample, Success
from flowscope.errors import DiagnosisError, FilterError
from flowscope.filters import FailureFilter
from flowscope.model import values

__all__ = [
    "CHILD_FAILED",
    "Failure",
    "FailureFilter",
    "FailureSource",
    "HasFailureSource",
    "NoFailureSourceError",
    "StepSample",
    "Success",
    "failure_of",
    "is_cascade_type",
    "make_filter",
    "parse_duration",
    "source_for",
]


class FailureSource(Protocol):
    """What diagnosis reads about past failures (implemented in ``flowscope.store``)."""

    def failures(self, flt: FailureFilter, *, limit: int | None = None) -> list[Failure]:
        """Return failures passing ``flt``, newest first (at most ``limit``)."""
        ...

    def first_success_after(
        self, workflow: str, step_id: str, after: datetime | None
    ) -> Success | None:
        """Return the earliest completed attempt of the step that ended after ``after``."""
        ...

    def step_sample(self, workflow: str, step_id: str, since: datetime) -> StepSample:
        """Return the step's attempts that ended since ``since`` (inclusive)."""
        ...


@runtime_checkable
class HasFailureSource(Protocol):
    """A store that can hand diagnosis its :class:`FailureSource`."""

    def failure_source(self) -> FailureSource:
        """Return the store's read-only view of past failures."""
        ...


class NoFailureSourceError(DiagnosisError):
    """The store cannot list past failures (it has no ``failure_source()`` method)."""


def source_for(store: Journal) -> FailureSource:
    """Return the store's failure source.

    Raises:
        NoFailureSourceError: The store does not implement the contract.
    """
    if not isinstance(store, HasFailureSource):
        raise NoFailureSourceError(
            f"{type(store).__name__} cannot list past failures",
            hint="use a store from flowscope.store.open_store (SQLite, PostgreSQL or memory), "
                 "or give yours a failure_source() method returning a FailureSource",
        )
    return store.failure_source()


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """Turn ``5m``, ``1h``, ``7d``, ``2w`` (or ``30s``) into a timedelta.

    Raises:
        DiagnosisError: The text is not a positive duration with a unit.
    """
    if not isinstance(text, str):
        raise DiagnosisError(f"{what} {text!r} is not a duration",
                             hint="write e.g. 30s, 5m, 1h, 1d or 2w")
    return values.parse_duration(text, what, unit_required=True, error=DiagnosisError)


_ALIASES = {"workflow_type": "type", "step": "step_id"}
# Every failure has the status "failed": a status filter would only confuse.
_NOT_FILTERS = frozenset({"status"})


def _moment(value: Any, name: str, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return values.require_aware(value, name, error=FilterError)
    if isinstance(value, timedelta):
        return now - value
    if isinstance(value, str):
        if values.is_duration(value):
            return now - parse_duration(value, what=name)
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise DiagnosisError(f"{name} {value!r} is neither a time nor a duration",
                         hint="pass a datetime, a timedelta, or text like 7d or 2026-01-31")


def make_filter(filters: Mapping[str, Any], *, now: datetime | None = None) -> FailureFilter:
    """Build a :class:`FailureFilter` from keyword filters.

    Raises:
        DiagnosisError: An unknown filter name or a bad value.
    """
    now = now or datetime.now(UTC)
    values: dict[str, Any] = {}
    known = set(FailureFilter.__dataclass_fields__) - _NOT_FILTERS
    for raw_key, value in filters.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in known:
            raise DiagnosisError(
                f"unknown filter {raw_key!r}",
                hint="use " + ", ".join(sorted(known | set(_ALIASES))),
            )
        if value is None:
            continue
        if key in ("since", "until"):
            values[key] = _moment(value, key, now)
        elif key == "include_cascade":
            values[key] = bool(value)
        else:
            values[key] = str(value)
    return FailureFilter(**values)  # a bad value raises FilterError, a DiagnosisError
