"""Run and step statistics: summary, per step, leaderboards, per user, by type.

Definitions (every figure is computed by the store; see :mod:`.percentiles`):

- ``total``: runs matching the filters (sub-workflow runs included: each is a run of its
  own workflow); ``pending``/``running``/``paused``/``completed``/``failed``/
  ``cancelled``: counts by status.
- ``success_rate`` = completed / (completed + failed) and ``error_rate`` = failed /
  (completed + failed): fractions in [0, 1] over finished runs; cancelled runs are
  counted apart and in neither. ``None`` when no run finished.
- ``success_after_retry_rate``: completed runs in which some step needed more than one
  attempt, over completed + failed runs.
- Durations (ms) are over runs that have one (finished runs): mean, median, p95, p99,
  min, max; ``None`` with no such run.
- Per step, an *execution* is an attempt that ran (completed, failed or cancelled; not
  skipped, not reused by a fork); ``failure_rate`` = failures / executions;
  ``retries`` = attempts with number > 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from flowscope.analytics.filters import Filters
from flowscope.analytics.source import scope, source_of
from flowscope.analytics.store import rate
from flowscope.errors import AnalyticsError
from flowscope.store.analytics_query import TimeColumn

_STATUSES = ("pending", "running", "paused", "completed", "failed", "cancelled")
_RUN_TIME: TimeColumn = "created_at"
_STEP_TIME: TimeColumn = "started_at"


def run_statistics(
    store: Any, filters: Filters, *, groups: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Return run statistics (see the module docstring) per group of ``runs`` columns.

    Args:
        store: A store (SQL or memory).
        filters: The filters (time range on the run's ``created_at``).
        groups: ``runs`` columns to group by, e.g. ``("user_id",)``; none for one summary.
    """
    stats = source_of(store).group_stats(
        scope(filters, "runs", _RUN_TIME), groups=groups,
        measures=[*(f"status:{s}" for s in _STATUSES), "retried_runs"])
    out = []
    for g in stats:
        counts = {s: int(g.extras[f"status:{s}"] or 0) for s in _STATUSES}
        total = sum(counts.values())
        if groups and total == 0:
            continue
        finished = counts["completed"] + counts["failed"]
        p50, p95, p99 = g.percentiles
        row: dict[str, Any] = dict(zip(groups, g.key, strict=True))
        row.update(total=total, **counts)
        row.update(
            finished=finished + counts["cancelled"],
            success_rate=rate(counts["completed"], finished),
            error_rate=rate(counts["failed"], finished),
            success_after_retry_rate=rate(int(g.extras["retried_runs"]), finished),
            avg_duration_ms=g.mean, median_duration_ms=p50, p95_duration_ms=p95,
            p99_duration_ms=p99, min_duration_ms=g.minimum, max_duration_ms=g.maximum,
        )
        out.append(row)
    return out


def summary(store: Any, filters: Filters) -> dict[str, Any]:
    """Return the statistics of all runs matching ``filters`` (one dict, never empty)."""
    return run_statistics(store, filters)[0]


def step_statistics(
    store: Any, filters: Filters, *, resources: bool = False,
    fractions: Sequence[float] = (0.5, 0.95, 0.99), step_id: str | None = None,
) -> list[dict[str, Any]]:
    """Return statistics per (workflow, step), sorted by workflow then step.

    Args:
        store: A store (SQL or memory).
        filters: The filters (time range on the attempt's ``started_at``; ``status`` on
            the attempt's status).
        resources: Also return mean queue wait, mean CPU time and max peak memory (these
            come from the covering index too, but widen its pass).
        fractions: The percentiles to compute (of 0.5, 0.95, 0.99; the others' keys are
            ``None``): a leaderboard asks only for the one it ranks by, since on SQLite
            each percentile is a walk along every (workflow, step) group.
        step_id: Only this step (of every workflow the filters let through).
    """
    measures = ["rows", "status:failed", "retries"]
    if resources:
        measures += ["avg:queue_wait_ms", "avg:cpu_time_ms", "max:cpu_time_ms",
                     "max:peak_memory_bytes"]
    stats = source_of(store).group_stats(
        scope(filters, "steps", _STEP_TIME, executed=True, step_id=step_id),
        groups=("workflow", "step_id"), fractions=fractions, measures=measures)
    out = []
    for g in stats:
        executions = int(g.extras["rows"])
        failures = int(g.extras["status:failed"] or 0)
        found = dict(zip(fractions, g.percentiles, strict=True))
        p50, p95, p99 = (found.get(p) for p in (0.5, 0.95, 0.99))
        row: dict[str, Any] = {
            "workflow_id": g.key[0], "step_id": g.key[1], "executions": executions,
            "failures": failures, "failure_rate": rate(failures, executions),
            "retries": int(g.extras["retries"] or 0),
            "avg_duration_ms": g.mean, "median_duration_ms": p50, "p95_duration_ms": p95,
            "p99_duration_ms": p99, "min_duration_ms": g.minimum,
            "max_duration_ms": g.maximum,
        }
        if resources:
            for key, name in (("avg_queue_wait_ms", "avg:queue_wait_ms"),
                              ("avg_cpu_time_ms", "avg:cpu_time_ms"),
                              ("max_cpu_time_ms", "max:cpu_time_ms")):
                value = g.extras[name]
                row[key] = None if value is None else float(value)
            peak = g.extras["max:peak_memory_bytes"]
            row["max_peak_memory_bytes"] = None if peak is None else int(peak)
        out.append(row)
    return out


Board = Literal["slowest", "failed", "retried"]


def leaderboard(
    store: Any, filters: Filters, board: Board, *, limit: int = 10, by: str = "p95"
) -> list[dict[str, Any]]:
    """Return the top steps: ``slowest`` (by ``p95`` or ``mean``), most ``failed``, most
    ``retried``.

    Most failed is ordered by failures, then failure rate; only steps with a failure
    (or a retry, for ``retried``) are listed.

    Raises:
        AnalyticsError: Unknown board or ``by``, or a limit below 1.
    """
    check_limit(limit)
    if board == "slowest":
        key = {"p95": "p95_duration_ms", "mean": "avg_duration_ms", "p99": "p99_duration_ms",
               "median": "median_duration_ms", "max": "max_duration_ms"}.get(by)
        if key is None:
            raise AnalyticsError(f"cannot rank slowest steps by {by!r}",
                                 hint="use by='p95' or by='mean' (or p99, median, max)")
        needed = {"p95": (0.95,), "p99": (0.99,), "median": (0.5,)}.get(by, ())
        rows = step_statistics(store, filters, fractions=needed)
        ranked = sorted((r for r in rows if r[key] is not None),
                        key=lambda r: (-r[key], r["workflow_id"], r["step_id"]))
    elif board == "failed":
        rows = step_statistics(store, filters, fractions=())
        ranked = sorted((r for r in rows if r["failures"]),
                        key=lambda r: (-r["failures"], -r["failure_rate"], r["workflow_id"],
                                       r["step_id"]))
    elif board == "retried":
        rows = step_statistics(store, filters, fractions=())
        ranked = sorted((r for r in rows if r["retries"]),
                        key=lambda r: (-r["retries"], r["workflow_id"], r["step_id"]))
    else:
        raise AnalyticsError(f"unknown leaderboard {board!r}",
                             hint="use 'slowest', 'failed' or 'retried'")
    return ranked[:limit]


def check_limit(limit: int) -> int:
    """Return ``limit`` if it is a positive int.

    Raises:
        AnalyticsError: It is not.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise AnalyticsError(f"limit must be a positive integer, not {limit!r}",
                             hint="pass e.g. limit=10")
    return limit


def by_user(store: Any, filters: Filters) -> list[dict[str, Any]]:
    """Return run statistics per user (``user_id`` ``None`` for runs without one)."""
    return run_statistics(store, filters, groups=("user_id",))


def by_type(store: Any, filters: Filters) -> list[dict[str, Any]]:
    """Return run statistics per workflow type (the ``type`` tag; ``None`` when untagged)."""
    return run_statistics(store, filters, groups=("workflow_type",))


def percentile_duration(
    store: Any, filters: Filters, fraction: float, *, step_id: str | None = None
) -> float | None:
    """Return one exact percentile (a fraction in [0, 1]) of run durations, or of one
    step's execution durations when ``step_id`` is given; ``None`` with no duration."""
    if step_id is None:
        rows = scope(filters, "runs", _RUN_TIME)
    else:
        rows = scope(filters, "steps", _STEP_TIME, executed=True, step_id=step_id)
    stats = source_of(store).group_stats(rows, fractions=(fraction,))
    return stats[0].percentiles[0]


def step_durations(store: Any, filters: Filters, step_id: str) -> dict[str, Any]:
    """Return one step's ``executions``, ``p95_duration_ms`` and ``p99_duration_ms``: the
    figures of its row in :func:`step_statistics` (what ``flowscope stats --by step``
    shows), for diagnosis to quote.

    Every store computes them the same way (executions, time range on ``started_at``,
    exact percentiles).
    """
    rows = step_statistics(store, filters, fractions=(0.95, 0.99), step_id=step_id)
    executions = sum(r["executions"] for r in rows)
    if len(rows) != 1:  # no execution, or the step in several workflows: pool them
        return _pooled(store, filters, step_id, executions)
    row = rows[0]
    return {"executions": executions, "p95_duration_ms": row["p95_duration_ms"],
            "p99_duration_ms": row["p99_duration_ms"]}


def _pooled(store: Any, filters: Filters, step_id: str, executions: int) -> dict[str, Any]:
    p95 = percentile_duration(store, filters, 0.95, step_id=step_id) if executions else None
    p99 = percentile_duration(store, filters, 0.99, step_id=step_id) if executions else None
    return {"executions": executions, "p95_duration_ms": p95, "p99_duration_ms": p99}
