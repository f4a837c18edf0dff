"""Root cause versus cascade in a failed run, sub-workflows included.

Walking the run tree (child runs through the ``child_run_id`` of sub-workflow steps):

- a failed step that is not a sub-workflow step, or whose child run has no failure of its
  own, is a *root* failure;
- a failed sub-workflow step whose child run failed is *cascade*: it points to the child's
  root failure;
- a step skipped (reason ``upstream``) or cancelled because of another step is cascade,
  pointing to that step (``cause_step_id``) if the chain of causes ends in a failure
  (a chain ending in a step skipped by its condition is no failure's doing).

The root cause is the root failure that ended first (independent failures in parallel
branches are all roots; the later ones are listed as ``other_roots``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flowscope.engine.journal import Journal
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import StepStatus

_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RootFailure:
    """A failure nothing else in the run tree caused."""

    run: RunRecord
    """The run (root or child) the step belongs to."""
    step_id: str | None
    """``None`` when the run failed outside any step (e.g. its outputs)."""
    attempt: StepAttemptRecord | None
    error: ErrorInfo | None

    def ref(self) -> dict[str, Any]:
        """Return ``{"run_id", "step_id", "workflow"}``."""
        return {"run_id": self.run.id, "step_id": self.step_id, "workflow": self.run.workflow}

    @property
    def ended_at(self) -> datetime:
        """When the failure happened (the latest possible time when unknown)."""
        if self.attempt is not None and self.attempt.ended_at is not None:
            return self.attempt.ended_at
        return self.run.ended_at or _LATEST


@dataclass(slots=True)
class Analysis:
    """The result of :func:`analyse_run`."""

    run: RunRecord
    roots: list[RootFailure] = field(default_factory=list)
    """Every root failure, earliest first: ``roots[0]`` is the root cause."""
    cascade: list[dict[str, Any]] = field(default_factory=list)
    """Failures and skips caused by another step: ``run_id``, ``step_id``, ``status``,
    ``cause_run_id``, ``cause_step_id``, ``reason`` and ``origin`` (the root failure the
    chain of causes ends in)."""

    @property
    def root_cause(self) -> RootFailure | None:
        """The first failure in causal order (``None`` if the run tree has none)."""
        return self.roots[0] if self.roots else None

    @property
    def other_roots(self) -> list[RootFailure]:
        """Independent failures that happened after the root cause."""
        return self.roots[1:]


def final_attempts(attempts: list[StepAttemptRecord]) -> dict[str, StepAttemptRecord]:
    """Return the last recorded attempt of each step (the step's outcome)."""
    out: dict[str, StepAttemptRecord] = {}
    for a in attempts:
        out[a.step_id] = a
    return out


def analyse_run(store: Journal, run_id: str) -> Analysis:
    """Separate the root failures of a run tree from the cascade they caused."""
    run = store.get_run(run_id)
    analysis = Analysis(run=run)
    _visit(store, run, analysis, seen=set())
    analysis.roots.sort(key=lambda r: r.ended_at)
    if not analysis.roots and run.error is not None:
        analysis.roots.append(RootFailure(run, run.failed_step, None, run.error))
    return analysis


def _visit(store: Journal, run: RunRecord, analysis: Analysis, seen: set[str]) -> list[RootFailure]:
    """Analyse one run; return its root failures (children's included), earliest first."""
    seen.add(run.id)
    final = final_attempts(store.get_steps(run.id))
    origin: dict[str, RootFailure] = {}  # failed step id -> the root failure behind it
    roots: list[RootFailure] = []
    for step_id, a in final.items():
        if a.status is not StepStatus.FAILED:
            continue
        child_roots: list[RootFailure] = []
        if a.child_run_id is not None and a.child_run_id not in seen:
            child_roots = _visit(store, store.get_run(a.child_run_id), analysis, seen)
        if child_roots:
            cause = child_roots[0]
            origin[step_id] = cause
            analysis.cascade.append({
                "run_id": run.id, "step_id": step_id, "status": a.status.value,
                "cause_run_id": cause.run.id, "cause_step_id": cause.step_id,
                "reason": "sub-workflow failed", "origin": cause.ref(),
            })
            roots.extend(child_roots)
        else:
            root = RootFailure(run, step_id, a, a.error)
            origin[step_id] = root
            roots.append(root)
            analysis.roots.append(root)
    for step_id, a in final.items():
        if a.status not in (StepStatus.SKIPPED, StepStatus.CANCELLED) or not a.cause_step_id:
            continue
        found = _origin_of(step_id, final, origin)
        if found is None:
            continue
        analysis.cascade.append({
            "run_id": run.id, "step_id": step_id, "status": a.status.value,
            "cause_run_id": run.id, "cause_step_id": a.cause_step_id,
            "reason": a.skip_reason or a.status.value, "origin": found.ref(),
        })
    roots.sort(key=lambda r: r.ended_at)
    return roots


def _origin_of(
    step_id: str, final: dict[str, StepAttemptRecord], origin: dict[str, RootFailure]
) -> RootFailure | None:
    """Follow ``cause_step_id`` links from a skipped step to the failure they end in."""
    seen: set[str] = set()
    current = step_id
    while current not in seen:
        seen.add(current)
        a = final.get(current)
        if a is None:
            return None
        if a.status is StepStatus.FAILED:
            return origin.get(current)
        if a.cause_step_id is None:
            return None
        current = a.cause_step_id
    return None
