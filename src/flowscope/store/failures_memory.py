"""Diagnosis's failure contract on the memory store: computed on read from the attempts.

The memory store keeps no index: fingerprints are computed from the stored attempts with
the same function the SQL store uses when it records a failure
(:func:`flowscope.engine.fingerprint.failure_of`), so both give the same answers.
:class:`MemoryFailureSource` implements ``flowscope.diagnosis.failures.FailureSource``;
get one from ``MemoryStore.failure_source()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from flowscope.engine.fingerprint import failure_of
from flowscope.engine.journal import Journal
from flowscope.engine.records import Failure, RunRecord, StepAttemptRecord, StepSample, Success
from flowscope.engine.status import StepStatus
from flowscope.filters import FailureFilter


class MemoryFailureSource:
    """Past failures and step samples of a journal, read through its public methods.

    Args:
        store: The journal (the memory store passes itself).
    """

    def __init__(self, store: Journal) -> None:
        self.store = store

    def _attempts(self) -> Iterator[tuple[RunRecord, StepAttemptRecord]]:
        for run in self.store.list_runs(limit=None):
            for attempt in self.store.get_steps(run.id, include_rewound=True):
                yield run, attempt

    def failures(self, flt: FailureFilter, *, limit: int | None = None) -> list[Failure]:
        """Return failures passing ``flt``, newest first."""
        out = []
        for run, a in self._attempts():
            if a.status is not StepStatus.FAILED:
                continue
            f = failure_of(a, workflow=run.workflow, version=run.version,
                           definition_hash=run.definition_hash, user=run.user,
                           workflow_type=run.tags.get("type"))
            if flt.accepts(f):
                out.append(f)
        out.sort(key=lambda f: (f.ended_at or datetime.min.replace(tzinfo=UTC)), reverse=True)
        return out if limit is None else out[:limit]

    def first_success_after(
        self, workflow: str, step_id: str, after: datetime | None
    ) -> Success | None:
        """Return the earliest completed attempt of the step that ended after ``after``."""
        best: Success | None = None
        for run, a in self._attempts():
            if (run.workflow != workflow or a.step_id != step_id
                    or a.status is not StepStatus.COMPLETED or a.ended_at is None
                    or (after is not None and a.ended_at <= after)):
                continue
            if best is None or (best.ended_at is not None and a.ended_at < best.ended_at):
                best = Success(run.id, run.version, run.definition_hash, a.ended_at)
        return best

    def step_sample(self, workflow: str, step_id: str, since: datetime) -> StepSample:
        """Return the step's attempts that ended since ``since``."""
        attempts = failures = 0
        for run, a in self._attempts():
            if (run.workflow != workflow or a.step_id != step_id or a.ended_at is None
                    or a.ended_at < since
                    or a.status not in (StepStatus.COMPLETED, StepStatus.FAILED)):
                continue
            attempts += 1
            failures += a.status is StepStatus.FAILED
        return StepSample(attempts, failures)
