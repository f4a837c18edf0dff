"""Time series: trends, throughput, concurrency over time, and period comparison.

Time series filter and bucket on the **end** time: a run counts in the bucket it
finished in (``started`` counts runs by their start, in the bucket they started in).
Buckets are aligned to the Unix epoch in UTC (days start at 00:00 UTC; weeks start on
Monday 00:00 UTC), run from the bucket holding ``since`` to the one holding the last
instant before ``until``, and every bucket in between is listed, with zero counts when
empty. Without ``since``/``until`` the range is that of the matching data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flowscope.analytics.filters import Filters
from flowscope.analytics.queries import summary
from flowscope.analytics.source import AnalyticsSource, scope, source_of
from flowscope.analytics.store import EXECUTED
from flowscope.errors import AnalyticsError
from flowscope.store.analytics_query import Bucket, Scope

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_BUCKET = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
#: 1970-01-05 was a Monday: weeks are cut from there.
_WEEK_ORIGIN = 4 * 86400
MAX_BUCKETS = 10_000
"""More buckets than this in one series is refused (a wider bucket is asked for)."""


def parse_bucket(bucket: str) -> int:
    """Return the size in seconds of a bucket such as ``5m``, ``15m``, ``1h``, ``6h``,
    ``1d``, ``1w``.

    Raises:
        AnalyticsError: Not a positive whole number of minutes, hours, days or weeks.
    """
    match = _BUCKET.match(bucket) if isinstance(bucket, str) else None
    if match is None or int(match.group(1)) == 0:
        raise AnalyticsError(
            f"unknown bucket {bucket!r}",
            hint="use a whole number of minutes, hours, days or weeks: 5m, 15m, 1h, 6h, "
            "1d, 1w",
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def _origin(size: int) -> int:
    return _WEEK_ORIGIN if size % _UNITS["w"] == 0 else 0


def _floor(epoch: float, size: int) -> float:
    origin = _origin(size)
    return math.floor((epoch - origin) / size) * size + origin


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _span(
    source: AnalyticsSource, filters: Filters, columns: Iterable[str], rows: Scope, size: int,
) -> list[float]:
    """Return the bucket starts covering the filters' range (or the data's)."""
    lo = filters.since.timestamp() if filters.since is not None else None
    hi = filters.until.timestamp() if filters.until is not None else None
    if lo is None or hi is None:
        found: list[float] = []
        for column in columns:
            _, first, last = source.extent(rows, column)
            found += [v for v in (first, last) if v is not None]
        if not found:
            return []
        lo = min(found) if lo is None else lo
        hi = math.nextafter(max(found), math.inf) if hi is None else hi
    if hi <= lo:
        return []
    first, last = _floor(lo, size), _floor(math.nextafter(hi, -math.inf), size)
    count = int((last - first) // size) + 1
    if count > MAX_BUCKETS:
        raise AnalyticsError(
            f"{count} buckets of {size}s is too many for one series",
            hint=f"use a wider bucket or a shorter range (at most {MAX_BUCKETS} buckets)",
        )
    return [first + i * size for i in range(count)]


def trends(store: Any, filters: Filters, bucket: str = "1h") -> list[dict[str, Any]]:
    """Return run counts and durations per time bucket (by end time).

    Each entry: ``bucket_start`` (aware UTC), ``started`` (runs created in the bucket),
    ``finished``, ``completed``, ``failed``, ``cancelled`` (runs that ended in it),
    ``avg_duration_ms``, ``p50_duration_ms``, ``p95_duration_ms`` (of those runs; ``None``
    when none).

    Raises:
        AnalyticsError: Unknown bucket, or too many buckets.
    """
    size = parse_bucket(bucket)
    source = source_of(store)
    ended = scope(filters, "runs", "ended_at", finished=True)
    starts = _span(source, filters, ["ended_at"], ended, size)
    if not starts:
        return []
    stats = source.group_stats(
        ended, bucket=Bucket("ended_at", size, _origin(size)), fractions=(0.5, 0.95),
        measures=("status:completed", "status:failed", "status:cancelled", "rows"))
    started_rows = source.group_stats(
        scope(filters, "runs", "created_at"), bucket=Bucket("created_at", size, _origin(size)),
        value=None)
    by_bucket = {float(g.key[0]): g for g in stats}
    started = {float(g.key[0]): g.count for g in started_rows}
    out = []
    for start in starts:
        g = by_bucket.get(start)
        extras = g.extras if g is not None else {}
        out.append({
            "bucket_start": _dt(start),
            "started": started.get(start, 0),
            "finished": int(extras.get("rows") or 0),
            "completed": int(extras.get("status:completed") or 0),
            "failed": int(extras.get("status:failed") or 0),
            "cancelled": int(extras.get("status:cancelled") or 0),
            "avg_duration_ms": g.mean if g else None,
            "p50_duration_ms": g.percentiles[0] if g else None,
            "p95_duration_ms": g.percentiles[1] if g else None,
        })
    return out


def throughput(store: Any, filters: Filters) -> float:
    """Return finished runs per minute.

    Runs count when they ended in ``[since, until)``. The window is ``until - since``;
    a missing end is taken from the data (the first matching run's start, the last one's
    end). No runs: ``0.0``. A window under one minute counts as one minute.
    """
    source = source_of(store)
    ended = scope(filters, "runs", "ended_at", finished=True)
    n, first, last = source.extent(ended, "begun_at", "ended_at", count=True)
    if not n or first is None or last is None:
        return 0.0
    lo = filters.since.timestamp() if filters.since is not None else first
    hi = filters.until.timestamp() if filters.until is not None else last
    minutes = max((hi - lo) / 60.0, 1.0)
    return int(n) / minutes


def concurrency(store: Any, filters: Filters, bucket: str = "1h") -> list[dict[str, Any]]:
    """Return runs and steps in flight per time bucket.

    Derived from the recorded intervals (no sampling, so nothing is paid while runs
    execute): a run is in flight from its start to its end (until now while it runs), a
    step attempt from its start to its end. Each entry: ``bucket_start``, ``max_runs``,
    ``avg_runs`` (time-weighted over the bucket), ``max_steps``, ``avg_steps``, and
    ``reported_max`` (the largest count given to ``record_concurrent_executions`` in the
    bucket, ``None`` without one). The intervals are read in one streamed pass and
    folded in Python.

    Raises:
        AnalyticsError: Unknown bucket, or too many buckets.
    """
    size = parse_bucket(bucket)
    source = source_of(store)
    now = datetime.now(UTC).timestamp()
    untimed = replace(filters, since=None, until=None)
    run_rows = scope(untimed, "runs", "created_at", begun=True)
    step_rows = scope(untimed, "steps", "started_at", begun=True, statuses=EXECUTED)
    starts = _span(source, filters, ["started_at", "ended_at"], run_rows, size)
    if not starts:
        return []
    lo, hi = starts[0], starts[-1] + size
    series = []
    for rows in (run_rows, step_rows):
        found = source.intervals(rows, lo, hi)
        series.append(_occupancy(((b, e if e is not None else now) for b, e in found),
                                 lo, size, len(starts)))
    reported = source.reported_concurrency(size, _origin(size), lo, hi)
    (run_max, run_avg), (step_max, step_avg) = series
    return [
        {"bucket_start": _dt(start), "max_runs": run_max[i], "avg_runs": run_avg[i],
         "max_steps": step_max[i], "avg_steps": step_avg[i],
         "reported_max": reported.get(start)}
        for i, start in enumerate(starts)
    ]


def _occupancy(
    intervals: Iterable[tuple[float, float]], lo: float, size: int, count: int
) -> tuple[list[int], list[float]]:
    """Fold intervals into per-bucket maximum and time-weighted mean occupancy."""
    hi = lo + size * count
    changes: list[tuple[float, int]] = []
    for begin, end in intervals:
        b, e = max(float(begin), lo), min(float(end), hi)
        if e > b:  # zero-length intervals are in flight for no time
            changes += ((b, 1), (e, -1))
    # At one instant ends come before starts: back-to-back work is not concurrent.
    changes.sort()
    peak = [0] * count
    area = [0.0] * count
    level, at, index = 0, lo, 0
    for moment, delta in changes:
        while index < count and moment >= lo + (index + 1) * size:
            edge = lo + (index + 1) * size
            area[index] += level * (edge - at)
            at, index = edge, index + 1
            if index < count:
                peak[index] = max(peak[index], level)
        if index >= count:
            break
        area[index] += level * (moment - at)
        at = moment
        level += delta
        peak[index] = max(peak[index], level)
    while index < count:
        edge = lo + (index + 1) * size
        area[index] += level * (edge - at)
        at, index = edge, index + 1
        if index < count:
            peak[index] = max(peak[index], level)
    return peak, [a / size for a in area]


COMPARABLE = (
    "total", "completed", "failed", "cancelled", "success_rate", "error_rate",
    "success_after_retry_rate", "avg_duration_ms", "median_duration_ms", "p95_duration_ms",
    "p99_duration_ms", "min_duration_ms", "max_duration_ms",
)
"""The summary figures :func:`compare` accepts."""


def compare(store: Any, filters: Filters, metric: str = "p95_duration_ms") -> dict[str, Any]:
    """Return a summary figure for ``[since, until)`` and for the period of the same length
    just before it.

    Returns:
        ``metric``, ``current``, ``previous``, ``change`` (current - previous) and
        ``relative_change`` (change / previous; ``None`` when previous is 0 or ``None``),
        and both periods' bounds.

    Raises:
        AnalyticsError: ``since`` or ``until`` missing, or an unknown metric.
    """
    if metric not in COMPARABLE:
        raise AnalyticsError(f"cannot compare {metric!r}",
                             hint="use one of " + ", ".join(COMPARABLE))
    if filters.since is None or filters.until is None:
        raise AnalyticsError("a period comparison needs both since and until",
                             hint="pass the current period, e.g. since=now - 7 days, until=now")
    length = filters.until - filters.since
    previous_since = filters.since - length
    current = summary(store, filters)[metric]
    previous = summary(store, filters.with_range(previous_since, filters.since))[metric]
    change = None if current is None or previous is None else current - previous
    relative = change / previous if change is not None and previous else None
    return {
        "metric": metric, "current": current, "previous": previous, "change": change,
        "relative_change": relative,
        "current_since": filters.since, "current_until": filters.until,
        "previous_since": previous_since, "previous_until": filters.since,
    }
