"""``WorkflowAnalyticsEngine``: the seed-compatible analytics API, and its one singleton.

Durations are milliseconds; rates are fractions in [0, 1]; every query takes the
filters ``since``, ``until`` (timezone-aware), ``workflow``, ``version``, ``user``,
``type`` and ``status`` as keyword arguments (see :mod:`flowscope.analytics.filters`).
For runs executed by the engine, ``workflow_id`` is the workflow's name and
``execution_id`` the run id.

Stores: any Flowscope store: SQLite, PostgreSQL, or the engine's in-memory
``MemoryStore`` (each answers through its ``analytics_source()``, with the same
numbers). The string ``"memory"`` opens a private in-memory SQLite database.

The methods are thin: each calls the analytics query of the same meaning, so that the
seed names, the CLI and reports give the same numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.analytics import anomalies as anomalies_module
from flowscope.analytics import export as export_module
from flowscope.analytics import queries, series, tracking
from flowscope.analytics.percentiles import check_fraction
from flowscope.analytics.store import open_journal
from flowscope.engine.status import RunStatus
from flowscope.errors import AnalyticsError
from flowscope.filters import Filters


class WorkflowAnalyticsEngine:
    """Track runs and query their statistics on one store.

    Args:
        store: ``None`` for the default store (``$FLOWSCOPE_DB`` or
            ``./.flowscope/flowscope.db``), ``"memory"`` for a private in-memory SQLite
            database, a URL or file path, or an open store, SQL or memory (not closed by
            :meth:`close`).
    """

    def __init__(self, store: Any = None) -> None:
        self.store, self._owned = open_journal(store)

    def close(self) -> None:
        """Close the store if this object opened it."""
        if self._owned:
            self.store.close()

    def __enter__(self) -> WorkflowAnalyticsEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tracking ------------------------------------------------------------------------

    def track_workflow_start(
        self, workflow_id: str, execution_id: str, *, user_id: str | None = None,
        workflow_type: str | None = None, timestamp: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Record that a run started (``metadata`` is kept as the run's inputs)."""
        tracking.start_run(self.store, workflow_id, execution_id, user_id=user_id,
                           workflow_type=workflow_type, timestamp=timestamp,
                           metadata=metadata)

    def track_workflow_complete(
        self, workflow_id: str, execution_id: str, *, duration_ms: float | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Record that a tracked run completed (``duration_ms`` None: from its start).

        Raises:
            AnalyticsError: Unknown execution id, or the run already finished.
        """
        tracking.finish_run(self.store, workflow_id, execution_id, RunStatus.COMPLETED,
                            duration_ms=duration_ms, timestamp=timestamp)

    def track_workflow_failure(
        self, workflow_id: str, execution_id: str, *, error: BaseException | str | None = None,
        failed_step: str | None = None, duration_ms: float | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Record that a tracked run failed (an exception is classified like engine errors).

        Raises:
            AnalyticsError: Unknown execution id, or the run already finished.
        """
        tracking.finish_run(self.store, workflow_id, execution_id, RunStatus.FAILED,
                            duration_ms=duration_ms, timestamp=timestamp, error=error,
                            failed_step=failed_step)

    def track_step_execution(
        self, workflow_id: str, execution_id: str, step_id: str, *, status: str = "completed",
        duration_ms: float | None = None, error: BaseException | str | None = None,
        attempt: int = 1, timestamp: datetime | None = None,
    ) -> None:
        """Record one step attempt of a tracked run (it ended at ``timestamp``).

        Raises:
            AnalyticsError: Unknown execution id, status or bad numbers.
        """
        tracking.record_step(self.store, workflow_id, execution_id, step_id, status=status,
                             duration_ms=duration_ms, error=error, attempt=attempt,
                             timestamp=timestamp)

    def record_step_timing(self, workflow_id: str, execution_id: str, step_id: str,
                           duration_ms: float) -> None:
        """Record a completed step attempt that took ``duration_ms``."""
        self.track_step_execution(workflow_id, execution_id, step_id, duration_ms=duration_ms)

    def record_step_duration(self, workflow_id: str, execution_id: str, step_id: str,
                             duration_ms: float) -> None:
        """Same as :meth:`record_step_timing`."""
        self.record_step_timing(workflow_id, execution_id, step_id, duration_ms)

    def record_execution_time(self, workflow_id: str, execution_id: str,
                              duration_ms: float) -> None:
        """Record a whole run's duration: completes a tracked run, or records a completed
        run that ended now if the execution id is new."""
        if tracking.run_facts(self.store, execution_id) is None:
            number = tracking.check_duration(duration_ms)
            assert number is not None
            start = datetime.now(UTC) - timedelta(milliseconds=number)
            self.track_workflow_start(workflow_id, execution_id, timestamp=start)
        self.track_workflow_complete(workflow_id, execution_id, duration_ms=duration_ms)

    def track_memory_usage(self, workflow_id: str, execution_id: str, memory_mb: float, *,
                           step_id: str | None = None, timestamp: datetime | None = None
                           ) -> None:
        """Store a reported memory sample (MiB) of a run or step."""
        tracking.record_resource(self.store, workflow_id, execution_id, "memory_mb", memory_mb,
                                 step_id=step_id, timestamp=timestamp)

    def track_cpu_usage(self, workflow_id: str, execution_id: str, cpu_percent: float, *,
                        step_id: str | None = None, timestamp: datetime | None = None) -> None:
        """Store a reported CPU sample (percent of one core) of a run or step."""
        tracking.record_resource(self.store, workflow_id, execution_id, "cpu_percent",
                                 cpu_percent, step_id=step_id, timestamp=timestamp)

    def record_concurrent_executions(self, count: int, *,
                                     timestamp: datetime | None = None) -> None:
        """Store a reported number of executions in flight."""
        tracking.record_concurrency(self.store, count, timestamp=timestamp)

    def get_resource_usage(self, execution_id: str) -> dict[str, Any]:
        """Return the reported resource samples of a run (max, mean, count per kind)."""
        return tracking.resource_summary(self.store, execution_id)

    # -- queries -------------------------------------------------------------------------

    @staticmethod
    def _filters(workflow_id: str | None, filters: Mapping[str, Any]) -> Filters:
        return Filters.of(filters).with_workflow(workflow_id)

    def calculate_average_duration(self, workflow_id: str | None = None,
                                   **filters: Any) -> float | None:
        """Return the mean run duration (ms), or ``None`` with no finished run."""
        value: float | None = queries.summary(
            self.store, self._filters(workflow_id, filters))["avg_duration_ms"]
        return value

    def calculate_percentile_duration(
        self, percentile: float, workflow_id: str | None = None, *,
        step_id: str | None = None, **filters: Any,
    ) -> float | None:
        """Return the exact ``percentile`` (0-100, linear interpolation) of run durations,
        or of one step's attempt durations when ``step_id`` is given.

        Raises:
            ValueError: ``percentile`` is outside [0, 100] (an ``AnalyticsError`` too).
        """
        fraction = check_fraction(percentile, scale=100.0)
        return queries.percentile_duration(self.store, self._filters(workflow_id, filters),
                                           fraction, step_id=step_id)

    def calculate_throughput(self, workflow_id: str | None = None, **filters: Any) -> float:
        """Return finished runs per minute (see :func:`series.throughput`)."""
        return series.throughput(self.store, self._filters(workflow_id, filters))

    def get_workflow_statistics(self, workflow_id: str | None = None,
                                **filters: Any) -> dict[str, Any]:
        """Return run counts, rates and durations (the seed keys plus a few more)."""
        return queries.summary(self.store, self._filters(workflow_id, filters))

    def get_step_statistics(self, workflow_id: str | None = None,
                            **filters: Any) -> list[dict[str, Any]]:
        """Return per-(workflow, step) statistics."""
        return queries.step_statistics(self.store, self._filters(workflow_id, filters),
                                       resources=True)

    def get_error_rate(self, workflow_id: str | None = None, **filters: Any) -> float | None:
        """Return failed / (completed + failed), or ``None`` with no finished run."""
        value: float | None = self.get_workflow_statistics(workflow_id, **filters)["error_rate"]
        return value

    def get_success_rate(self, workflow_id: str | None = None, **filters: Any) -> float | None:
        """Return completed / (completed + failed), or ``None`` with no finished run."""
        value: float | None = self.get_workflow_statistics(workflow_id,
                                                           **filters)["success_rate"]
        return value

    def get_most_failed_steps(self, limit: int = 10, **filters: Any) -> list[dict[str, Any]]:
        """Return the steps with the most failures (then highest failure rate)."""
        return queries.leaderboard(self.store, Filters.of(filters), "failed", limit=limit)

    def get_slowest_steps(self, limit: int = 10, *, by: str = "p95",
                          **filters: Any) -> list[dict[str, Any]]:
        """Return the slowest steps by ``p95`` (default) or ``mean`` duration."""
        return queries.leaderboard(self.store, Filters.of(filters), "slowest", limit=limit,
                                   by=by)

    def get_most_retried_steps(self, limit: int = 10, **filters: Any) -> list[dict[str, Any]]:
        """Return the steps with the most retried attempts."""
        return queries.leaderboard(self.store, Filters.of(filters), "retried", limit=limit)

    def get_execution_trends(self, bucket: str = "1h", **filters: Any) -> list[dict[str, Any]]:
        """Return counts and durations per time bucket (by end time; empty buckets kept)."""
        return series.trends(self.store, Filters.of(filters), bucket)

    def get_concurrency(self, bucket: str = "1h", **filters: Any) -> list[dict[str, Any]]:
        """Return runs and steps in flight per time bucket."""
        return series.concurrency(self.store, Filters.of(filters), bucket)

    def get_user_analytics(self, user_id: str | None = None,
                           **filters: Any) -> dict[str, Any] | list[dict[str, Any]]:
        """Return one user's statistics (a dict), or every user's (a list) when ``None``."""
        if user_id is not None:
            f = Filters.of({**filters, "user": user_id})
            return {"user_id": user_id, **queries.summary(self.store, f)}
        return queries.by_user(self.store, Filters.of(filters))

    def filter_by_time_range(self, since: datetime, until: datetime,
                             **filters: Any) -> list[dict[str, Any]]:
        """Return the runs created in ``[since, until)`` as export-shaped dicts."""
        f = Filters.of({**filters, "since": since, "until": until})
        if f.since is None or f.until is None:
            raise AnalyticsError("filter_by_time_range needs since and until",
                                 hint="pass two timezone-aware datetimes")
        _, rows = export_module.stream_records(self.store, "runs", f)
        return list(rows)

    def aggregate_by_workflow_type(self, **filters: Any) -> dict[str, Any]:
        """Return statistics per workflow type (key ``None`` for untagged runs)."""
        return {row.pop("workflow_type"): row
                for row in queries.by_type(self.store, Filters.of(filters))}

    def compare_periods(self, metric: str = "p95_duration_ms", **filters: Any
                        ) -> dict[str, Any]:
        """Return ``metric`` over ``[since, until)`` against the period just before."""
        return series.compare(self.store, Filters.of(filters), metric)

    def detect_anomalies(self, *, baseline_periods: int = 7, threshold: float = 3.5,
                         min_samples: int = 5, **filters: Any) -> list[dict[str, Any]]:
        """Return duration and failure-rate anomalies of ``[since, until)``."""
        return anomalies_module.anomalies(
            self.store, Filters.of(filters), baseline_periods=baseline_periods,
            threshold=threshold, min_samples=min_samples)

    # -- exports -------------------------------------------------------------------------

    def export_to_csv(self, destination: export_module.Destination, *, what: str = "runs",
                      **filters: Any) -> int:
        """Write runs or step attempts as CSV with a header row; return rows written."""
        return export_module.export(self.store, destination, what=what, fmt="csv",
                                    filters=Filters.of(filters))

    def export_to_json(self, destination: export_module.Destination, *, what: str = "runs",
                       **filters: Any) -> int:
        """Write runs or step attempts as a JSON array of objects; return rows written."""
        return export_module.export(self.store, destination, what=what, fmt="json",
                                    filters=Filters.of(filters))


_SINGLETON: dict[str, WorkflowAnalyticsEngine] = {}
_SINGLETON_LOCK = threading.Lock()


def get_analytics_engine() -> WorkflowAnalyticsEngine:
    """Return this process's analytics engine on the default store (created on first use).

    This is the one singleton Flowscope has, kept for the seed API; prefer building a
    ``WorkflowAnalyticsEngine(store)`` and passing it where it is needed.
    """
    with _SINGLETON_LOCK:
        engine = _SINGLETON.get("default")
        if engine is None:
            engine = _SINGLETON["default"] = WorkflowAnalyticsEngine()
        return engine
