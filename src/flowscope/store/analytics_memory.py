"""What analytics reads and writes, on the in-memory store (``MemoryStore.analytics_source``).

Implements the ``AnalyticsSource`` contract of :mod:`flowscope.analytics.source` in
Python over the journal's runs and step attempts, with the same definitions as the SQL
implementation (:mod:`.analytics_sql`): the same filters (a row whose filtered timestamp
is unset is left out, as SQL's comparisons with NULL leave it out), exact percentiles
with the same formula, NULL values left out of every statistic, groups sorted by key
(``None`` first, as SQLite sorts NULL). One difference: records of step attempts come
run by run (in run creation order, each run's in the order recorded), where SQL lists
them in the global order they were recorded. Reported samples and reported durations of
tracked runs, which no journal record holds, are kept here beside the journal.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from flowscope.engine.records import RunRecord, StepAttemptRecord
from flowscope.store.analytics_query import (
    EXECUTED,
    FILTER_COLUMNS,
    Bucket,
    GroupStats,
    RunState,
    Scope,
    check_measures,
    sorted_percentiles,
)

Row = dict[str, Any]


class _Runs(Protocol):
    def list_runs(self, *, limit: int | None = 50) -> list[RunRecord]: ...

    def get_steps(self, run_id: str, *,
                  include_rewound: bool = False) -> list[StepAttemptRecord]: ...


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _with_epochs(row: Row, names: Sequence[str]) -> Row:
    for name in names:
        row[f"{name}_epoch"] = _epoch(row[name])
    return row


def matches(row: Mapping[str, Any], scope: Scope) -> bool:
    """Return whether a run or step row (SQL column names) is one of ``scope``'s rows."""
    f = scope.filters
    if f.since is not None or f.until is not None:
        at = row[scope.time]
        if at is None or (f.since is not None and at < f.since) or (
                f.until is not None and at >= f.until):
            return False
    for name, column in FILTER_COLUMNS:
        wanted = getattr(f, name)
        if wanted is not None and row[column] != wanted:
            return False
    if scope.statuses is not None and row["status"] not in scope.statuses:
        return False
    if scope.table == "steps":
        if scope.executed and (row["status"] not in EXECUTED
                               or row["reused_from_run_id"] is not None):
            return False
        if scope.step_id is not None and row["step_id"] != scope.step_id:
            return False
    elif scope.finished and row["ended_at"] is None:
        return False
    return not (scope.begun and row["started_at"] is None)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((v is not None, v) for v in key)


def _time_of(row: Mapping[str, Any], column: str) -> float | None:
    if column == "begun_at":
        found: float | None = row["started_at_epoch"]
        return found if found is not None else row["created_at_epoch"]
    epoch: float | None = row[f"{column}_epoch"]
    return epoch


def _bucket(epoch: float, size: float, origin: float) -> float:
    return math.floor((epoch - origin) / size) * size + origin


class MemoryAnalyticsSource:
    """The analytics contract over a memory journal.

    Args:
        journal: The store whose runs and attempts are read (``list_runs``,
            ``get_steps``).
    """

    def __init__(self, journal: _Runs) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self._durations: dict[str, float] = {}
        self._resources: list[Row] = []
        self._concurrency: list[tuple[float, int]] = []

    # -- the rows, shaped like the SQL tables ----------------------------------------------

    def _run_records(self) -> list[RunRecord]:
        return sorted(self._journal.list_runs(limit=None),
                      key=lambda r: (r.created_at is not None, r.created_at, r.id))

    def _run_row(self, run: RunRecord) -> Row:
        with self._lock:
            duration = self._durations.get(run.id, run.duration_ms)
        return _with_epochs({
            "id": run.id, "workflow": run.workflow, "version": run.version,
            "status": run.status.value, "user_id": run.user,
            "workflow_type": run.tags.get("type"), "tags": dict(run.tags),
            "created_at": run.created_at, "started_at": run.started_at,
            "ended_at": run.ended_at, "duration_ms": duration,
            "error_category": None if run.error is None else run.error.category,
            "failed_step": run.failed_step, "parent_run_id": run.parent_run_id,
            "root_run_id": run.root_run_id,
        }, ("created_at", "started_at", "ended_at"))

    def _runs(self) -> Iterator[Row]:
        for run in self._run_records():
            yield self._run_row(run)

    def _steps(self) -> Iterator[Row]:
        number = 0
        for run in self._run_records():
            for a in self._journal.get_steps(run.id, include_rewound=True):
                number += 1
                error = a.error
                yield _with_epochs({
                    "id": number, "run_id": a.run_id, "workflow": run.workflow,
                    "version": run.version, "user_id": run.user,
                    "workflow_type": run.tags.get("type"), "step_id": a.step_id,
                    "attempt": a.attempt, "status": a.status.value,
                    "error_type": None if error is None else error.type,
                    "error_category": None if error is None else error.category,
                    "error_message": None if error is None else error.message,
                    "ready_at": a.ready_at, "started_at": a.started_at,
                    "ended_at": a.ended_at, "duration_ms": a.duration_ms,
                    "queue_wait_ms": a.queue_wait_ms, "cpu_time_ms": a.cpu_time_ms,
                    "peak_memory_bytes": a.peak_memory_bytes,
                    "child_run_id": a.child_run_id,
                    "reused_from_run_id": a.reused_from_run_id,
                    "skip_reason": a.skip_reason, "rewound": a.rewound,
                }, ("started_at", "ended_at"))

    def _rows(self, scope: Scope) -> Iterator[Row]:
        rows = self._runs() if scope.table == "runs" else self._steps()
        return (row for row in rows if matches(row, scope))

    # -- reads ---------------------------------------------------------------------------

    def group_stats(
        self, scope: Scope, *, groups: Sequence[str] = (), bucket: Bucket | None = None,
        value: str | None = "duration_ms", fractions: Sequence[float] = (0.5, 0.95, 0.99),
        measures: Sequence[str] = (),
        centers: Mapping[tuple[Any, ...], float] | None = None,
    ) -> list[GroupStats]:
        """Return count, mean, min, max, exact percentiles and measures per group (see
        :meth:`.analytics_sql.SQLAnalyticsSource.group_stats`)."""
        names = check_measures(measures)
        values: dict[tuple[Any, ...], list[float]] = {}
        members: dict[tuple[Any, ...], list[Row]] = {}
        retried = self._retried_run_ids() if "retried_runs" in names else set()
        for row in self._rows(scope):
            key = tuple(row[g] for g in groups)
            if bucket is not None:
                epoch = row[f"{bucket.column}_epoch"]
                if epoch is None:
                    continue
                key += (_bucket(epoch, bucket.size, bucket.origin),)
            members.setdefault(key, []).append(row)
            found = values.setdefault(key, [])
            if value is None:
                continue
            v = row[value]
            if v is not None and centers is not None:
                center = centers.get(key)
                v = None if center is None else abs(float(v) - center)
            if v is not None:
                found.append(float(v))
        if not groups and bucket is None:
            members.setdefault((), [])
            values.setdefault((), [])
        out = []
        for key in sorted(members, key=_sort_key):
            rows = members[key]
            ordered = sorted(values[key])
            n = len(rows) if value is None else len(ordered)
            extras = {name: _measure(name, rows, retried) for name in names}
            out.append(GroupStats(
                key=key, count=n,
                mean=math.fsum(ordered) / len(ordered) if ordered else None,
                minimum=ordered[0] if ordered else None,
                maximum=ordered[-1] if ordered else None,
                percentiles=sorted_percentiles(ordered, fractions) if value else (),
                extras=extras,
            ))
        return out

    def _retried_run_ids(self) -> set[str]:
        return {row["run_id"] for row in self._steps() if row["attempt"] > 1}

    def extent(self, scope: Scope, first: str, last: str | None = None, *,
               count: bool = False) -> tuple[int | None, float | None, float | None]:
        """Return the rows' count (when asked), the earliest epoch of the ``first`` time
        column and the latest of the ``last`` one (``begun_at``: the start, else the
        creation)."""
        n, lows, highs = 0, [], []
        for row in self._rows(scope):
            n += 1
            low, high = _time_of(row, first), _time_of(row, last or first)
            if low is not None:
                lows.append(low)
            if high is not None:
                highs.append(high)
        return (n if count else None), (min(lows) if lows else None), (
            max(highs) if highs else None)

    def intervals(self, scope: Scope, lo: float, hi: float
                  ) -> Iterator[tuple[float, float | None]]:
        """Yield ``(start, end)`` epochs of the rows in flight during ``[lo, hi)``."""
        for row in self._rows(scope):
            begin, end = row["started_at_epoch"], row["ended_at_epoch"]
            if begin is not None and begin < hi and (end is None or end >= lo):
                yield begin, end

    def records(self, scope: Scope, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Yield the rows' columns as dicts: runs by ``created_at`` then id, step attempts
        in the order recorded."""
        for row in self._rows(scope):
            yield {name: row[name] for name in columns}

    def run_state(self, run_id: str) -> RunState | None:
        """Return a run's workflow, status and start (exact id), or ``None``."""
        for run in self._journal.list_runs(limit=None):
            if run.id == run_id:
                return RunState(run.workflow, run.status.value, run.started_at)
        return None

    def resource_summary(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Return the reported samples of one run: max, mean and count of each kind."""
        with self._lock:
            samples = [s for s in self._resources if s["run_id"] == run_id]
        out: dict[str, dict[str, Any]] = {}
        for kind in sorted({s["kind"] for s in samples}):
            found = [s["value"] for s in samples if s["kind"] == kind]
            out[kind] = {"max": max(found), "mean": math.fsum(found) / len(found),
                         "samples": len(found)}
        return out

    def reported_concurrency(self, size: float, origin: float, lo: float,
                             hi: float) -> dict[float, int]:
        """Return the largest reported count per bucket start, for samples in ``[lo, hi)``."""
        out: dict[float, int] = {}
        with self._lock:
            samples = list(self._concurrency)
        for at, count in samples:
            if lo <= at < hi:
                b = _bucket(at, size, origin)
                out[b] = max(out.get(b, count), count)
        return out

    # -- writes --------------------------------------------------------------------------

    def keep_reported_duration(self, run_id: str, duration_ms: float) -> None:
        """Keep the duration a tracked run reported (``update_run(duration_ms=...)``: the
        memory journal derives durations from start and end, not stored figures)."""
        with self._lock:
            self._durations[run_id] = duration_ms

    def add_resource_sample(self, workflow: str, run_id: str, step_id: str | None, kind: str,
                            value: float, at: datetime) -> None:
        """Store one reported resource sample."""
        with self._lock:
            self._resources.append({"workflow": workflow, "run_id": run_id,
                                    "step_id": step_id, "kind": kind, "value": value,
                                    "ts": at})

    def add_concurrency_sample(self, count: int, at: datetime) -> None:
        """Store one reported count of executions in flight."""
        with self._lock:
            self._concurrency.append((at.timestamp(), count))


def _measure(name: str, rows: Sequence[Row], retried: set[str]) -> Any:
    if name == "rows":
        return len(rows)
    if name == "retries":
        return sum(1 for r in rows if r["attempt"] > 1)
    if name == "retried_runs":
        return sum(1 for r in rows if r["status"] == "completed" and r["id"] in retried)
    op, _, arg = name.partition(":")
    if op == "status":
        return sum(1 for r in rows if r["status"] == arg)
    found = [r[arg] for r in rows if r[arg] is not None]
    if not found:
        return None
    reduce: Callable[[list[Any]], Any] = max if op == "max" else (
        lambda xs: math.fsum(xs) / len(xs))
    return reduce(found)
