"""The step durations diagnosis quotes, and the small contract that supplies them.

Suggestions compare a step's p95 and p99 with its timeout. Those figures must be the
ones ``flowscope stats`` shows for the same step and window, so diagnosis does not
compute percentiles itself: whoever builds a diagnoser passes a :class:`DurationSource`
(``flowscope.compat`` passes one backed by the analytics queries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StepDurations:
    """A step's duration figures over a time window."""

    executions: int
    """Attempts that ran in the window (completed, failed or cancelled; not reused)."""
    p95_ms: float | None
    """The exact 95th percentile of their durations (``None`` with none)."""
    p99_ms: float | None
    """The exact 99th percentile of their durations (``None`` with none)."""


class DurationSource(Protocol):
    """Supplies :class:`StepDurations` (the analytics per-step statistics)."""

    def step_durations(self, workflow: str, step_id: str, since: datetime) -> StepDurations:
        """Return the figures of ``step_id`` of ``workflow`` for attempts started since
        ``since`` (inclusive)."""
        ...
