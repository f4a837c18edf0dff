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

import sqlalchemy as sa

from flowscope.analytics.filters import Filters, where
from flowscope.analytics.percentiles import grouped_stats
from flowscope.analytics.queries import summary
from flowscope.analytics.schema import concurrency_samples
from flowscope.analytics.store import EXECUTED, require_sql
from flowscope.errors import AnalyticsError
from flowscope.store.schema import runs, step_attempts

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


def _bucket_sql(conn: sa.Connection, epoch: Any, size: int) -> Any:
    origin = _origin(size)
    scaled = (epoch - origin) / float(size)
    if conn.dialect.name == "postgresql":
        index = sa.cast(sa.func.floor(scaled), sa.BigInteger())
    else:  # CAST truncates toward zero, which is floor for times after 1970
        index = sa.cast(scaled, sa.Integer())
    return index * size + origin


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _span(
    conn: sa.Connection, filters: Filters, epoch_cols: Iterable[Any], conds: list[Any],
    size: int,
) -> list[float]:
    """Return the bucket starts covering the filters' range (or the data's)."""
    lo = filters.since.timestamp() if filters.since is not None else None
    hi = filters.until.timestamp() if filters.until is not None else None
    if lo is None or hi is None:
        found: list[float] = []
        for col in epoch_cols:
            row = conn.execute(sa.select(sa.func.min(col), sa.func.max(col)).where(*conds)).one()
            found += [v for v in row if v is not None]
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
    sql = require_sql(store)
    r = runs.c
    end_conds = [*where(runs, filters, time="ended_at"), r.ended_at_epoch.is_not(None)]
    start_conds = where(runs, filters, time="created_at")
    with sql.engine.connect() as conn:
        starts = _span(conn, filters, [r.ended_at_epoch], end_conds, size)
        if not starts:
            return []
        b = _bucket_sql(conn, r.ended_at_epoch, size)
        source = (
            sa.select(b.label("b"), r.duration_ms.label("v"), r.status)
            .where(*end_conds).subquery("ended")
        )
        stats = grouped_stats(
            conn, source, groups=("b",), fractions=(0.5, 0.95),
            extras={s: (lambda c, s=s: sa.func.sum(sa.case((c.status == s, 1), else_=0)))
                    for s in ("completed", "failed", "cancelled")}
            | {"finished": lambda c: sa.func.count()},
        )
        sb = _bucket_sql(conn, r.created_at_epoch, size)
        started_rows = conn.execute(
            sa.select(sb.label("b"), sa.func.count()).where(*start_conds).group_by(sb)
        ).all()
    by_bucket = {float(g.key[0]): g for g in stats}
    started = {float(row[0]): int(row[1]) for row in started_rows}
    out = []
    for start in starts:
        g = by_bucket.get(start)
        extras = g.extras if g is not None else {}
        out.append({
            "bucket_start": _dt(start),
            "started": started.get(start, 0),
            "finished": int(extras.get("finished") or 0),
            "completed": int(extras.get("completed") or 0),
            "failed": int(extras.get("failed") or 0),
            "cancelled": int(extras.get("cancelled") or 0),
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
    sql = require_sql(store)
    r = runs.c
    conds = [*where(runs, filters, time="ended_at"), r.ended_at_epoch.is_not(None)]
    with sql.engine.connect() as conn:
        n, first, last = conn.execute(
            sa.select(sa.func.count(), sa.func.min(sa.func.coalesce(r.started_at_epoch,
                                                                    r.created_at_epoch)),
                      sa.func.max(r.ended_at_epoch)).where(*conds)
        ).one()
    if not n:
        return 0.0
    lo = filters.since.timestamp() if filters.since is not None else float(first)
    hi = filters.until.timestamp() if filters.until is not None else float(last)
    minutes = max((hi - lo) / 60.0, 1.0)
    return int(n) / minutes


def concurrency(store: Any, filters: Filters, bucket: str = "1h") -> list[dict[str, Any]]:
    """Return runs and steps in flight per time bucket.

    Derived from the recorded intervals (no sampling, so nothing is paid while runs
    execute): a run is in flight from its start to its end (until now while it runs), a
    step attempt from its start to its end. Each entry: ``bucket_start``, ``max_runs``,
    ``avg_runs`` (time-weighted over the bucket), ``max_steps``, ``avg_steps``, and
    ``reported_max`` (the largest count given to ``record_concurrent_executions`` in the
    bucket, ``None`` without one). The intervals are read in one streamed pass, ordered
    in SQL, and folded in Python.

    Raises:
        AnalyticsError: Unknown bucket, or too many buckets.
    """
    size = parse_bucket(bucket)
    sql = require_sql(store)
    now = datetime.now(UTC).timestamp()
    r, s = runs.c, step_attempts.c
    untimed = replace(filters, since=None, until=None)
    run_conds = [*where(runs, untimed, time="created_at"), r.started_at_epoch.is_not(None)]
    step_conds = [*where(step_attempts, untimed, time="started_at"),
                  s.started_at_epoch.is_not(None), s.status.in_(EXECUTED)]
    sample = concurrency_samples.c
    with sql.engine.connect() as conn:
        starts = _span(conn, filters, [r.started_at_epoch, r.ended_at_epoch], run_conds, size)
        if not starts:
            return []
        lo, hi = starts[0], starts[-1] + size
        series = []
        for table_cols, conds in (((r.started_at_epoch, r.ended_at_epoch), run_conds),
                                  ((s.started_at_epoch, s.ended_at_epoch), step_conds)):
            begin, end = table_cols
            stmt = sa.select(begin, end).where(
                *conds, begin < hi, sa.or_(end.is_(None), end >= lo)
            )
            rows = conn.execution_options(yield_per=10_000).execute(stmt)
            series.append(_occupancy(((b, e if e is not None else now) for b, e in rows),
                                     lo, size, len(starts)))
        sb = _bucket_sql(conn, sample.ts_epoch, size)
        reported = {
            float(row[0]): int(row[1]) for row in conn.execute(
                sa.select(sb, sa.func.max(sample.count))
                .where(sample.ts_epoch >= lo, sample.ts_epoch < hi).group_by(sb)
            )
        }
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
