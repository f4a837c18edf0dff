"""Anomalies: runs and steps whose duration or failure rate departs from a baseline.

The method (robust z-scores, after Iglewicz and Hoaglin):

- The target window is ``[since, until)`` (both required); the baseline window is the
  ``baseline_periods`` periods of the same length just before it.
- Durations, per workflow (runs) and per (workflow, step) (step attempts): the baseline's
  median ``m`` and median absolute deviation ``MAD``; the scale is ``1.4826 * MAD`` (the
  standard deviation, for normal data), or ``1.2533 * mean |x - m|`` when the MAD is 0,
  and never below 1% of ``m`` nor below 1 ms (so a perfectly steady baseline still
  flags a big departure). Each run or attempt in the target window with
  ``|x - m| / scale > threshold`` is listed. Both medians are computed in SQL.
- Failure rates, per workflow (failed / (completed + failed) runs) and per step
  (failures / executions): the baseline is cut into periods of the target's length; the
  median and MAD of the periods' rates (periods with no execution left out) give ``m``
  and the scale as above, floored at 0.01. The target window's rate is flagged when its
  score passes ``threshold``.
- Groups with fewer than ``min_samples`` baseline values (durations) or baseline periods
  (rates), or fewer than ``min_samples`` executions in the target window (rates), are
  not judged.

Each anomaly: ``kind`` (``run_duration``, ``step_duration``, ``run_failure_rate``,
``step_failure_rate``), ``workflow_id``, ``step_id`` and ``run_id`` (``None`` where they do
not apply), ``value``, ``baseline_median``, ``baseline_scale``, ``score`` (the robust z;
its sign says slower/more failing or faster/less failing) and ``departure``
(``value - baseline_median``). Sorted by ``|score|``, largest first.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from flowscope.analytics.filters import Filters, where
from flowscope.analytics.percentiles import grouped_stats
from flowscope.analytics.store import EXECUTED, require_sql
from flowscope.errors import AnalyticsError
from flowscope.store.schema import runs, step_attempts

MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533


def _scale(mad: float, mean_ad: float, median: float, floor: float) -> float:
    scale = MAD_TO_SIGMA * mad if mad > 0 else MEAN_AD_TO_SIGMA * mean_ad
    return max(scale, floor, abs(median) * 0.01)


def _match(cols: Sequence[Any], key: tuple[Any, ...]) -> sa.ColumnElement[bool]:
    return sa.and_(*[c == k for c, k in zip(cols, key, strict=True)])


def anomalies(
    store: Any, filters: Filters, *, baseline_periods: int = 7, threshold: float = 3.5,
    min_samples: int = 5,
) -> list[dict[str, Any]]:
    """Return the anomalies of the target window ``[since, until)`` (module docstring).

    Raises:
        AnalyticsError: ``since``/``until`` missing, or bad tuning arguments.
    """
    if filters.since is None or filters.until is None:
        raise AnalyticsError("anomaly detection needs since and until (the target window)",
                             hint="pass e.g. since=now - 1 day, until=now")
    if isinstance(baseline_periods, bool) or not isinstance(baseline_periods, int) or (
            baseline_periods < 1):
        raise AnalyticsError(f"baseline_periods must be an integer >= 1, not "
                             f"{baseline_periods!r}", hint="pass e.g. 7")
    if not threshold > 0:
        raise AnalyticsError(f"threshold must be > 0, not {threshold!r}", hint="pass e.g. 3.5")
    sql = require_sql(store)
    length = filters.until - filters.since
    base_since = filters.since - length * baseline_periods
    baseline = filters.with_range(base_since, filters.since)
    found: list[dict[str, Any]] = []
    s = step_attempts.c
    executed = [s.status.in_(EXECUTED), s.reused_from_run_id.is_(None)]
    with sql.engine.connect() as conn:
        found += _durations(conn, runs, ("workflow",), "created_at", "id", [], filters,
                            baseline, threshold, min_samples, "run_duration")
        found += _durations(conn, step_attempts, ("workflow", "step_id"), "started_at",
                            "run_id", executed, filters, baseline, threshold, min_samples,
                            "step_duration")
        found += _rates(conn, runs, ("workflow",), "created_at",
                        [runs.c.status.in_(("completed", "failed"))], filters, baseline,
                        baseline_periods, threshold, min_samples, "run_failure_rate")
        found += _rates(conn, step_attempts, ("workflow", "step_id"), "started_at", executed,
                        filters, baseline, baseline_periods, threshold, min_samples,
                        "step_failure_rate")
    found.sort(key=lambda a: -abs(a["score"]))
    return found


def _durations(
    conn: sa.Connection, table: sa.Table, groups: Sequence[str], time: str, id_col: str,
    extra: list[Any], target: Filters, baseline: Filters, threshold: float,
    min_samples: int, kind: str,
) -> list[dict[str, Any]]:
    cols = [table.c[g] for g in groups]
    v = table.c.duration_ms
    base_conds = [*where(table, baseline, time=time), *extra]
    medians = {
        g.key: g.percentiles[0]
        for g in grouped_stats(conn, table, value="duration_ms", where=base_conds,
                               groups=groups, fractions=(0.5,))
        if g.count >= min_samples and g.percentiles[0] is not None
    }
    if not medians:
        return []
    median_of = sa.case(*[(_match(cols, k), m) for k, m in medians.items()], else_=None)
    deviations = (
        sa.select(*cols, sa.func.abs(v - median_of).label("dev"))
        .where(*base_conds, v.is_not(None)).subquery("deviations")
    )
    scales: dict[tuple[Any, ...], float] = {}
    for g in grouped_stats(conn, deviations, value="dev", groups=groups, fractions=(0.5,)):
        if g.key in medians and g.percentiles[0] is not None:
            scales[g.key] = _scale(g.percentiles[0], g.mean or 0.0, medians[g.key], 1.0)
    keys = [k for k in medians if k in scales]
    if not keys:
        return []
    median_of = sa.case(*[(_match(cols, k), medians[k]) for k in keys], else_=None)
    cut = sa.case(*[(_match(cols, k), scales[k] * threshold) for k in keys], else_=None)
    stmt = (
        sa.select(table.c[id_col], *cols, v)
        .where(*where(table, target, time=time), *extra, v.is_not(None),
               sa.func.abs(v - median_of) > cut)
    )
    out = []
    for row in conn.execute(stmt):
        key = tuple(row[1:1 + len(groups)])
        value = float(row[-1])
        median, scale = medians[key], scales[key]
        out.append({
            "kind": kind, "workflow_id": key[0],
            "step_id": key[1] if len(key) > 1 else None, "run_id": row[0],
            "value": value, "baseline_median": median, "baseline_scale": scale,
            "score": (value - median) / scale, "departure": value - median,
        })
    return out


def _rates(
    conn: sa.Connection, table: sa.Table, groups: Sequence[str], time: str,
    extra: list[Any], target: Filters, baseline: Filters, periods: int, threshold: float,
    min_samples: int, kind: str,
) -> list[dict[str, Any]]:
    cols = [table.c[g] for g in groups]
    assert baseline.since is not None and target.since is not None and target.until is not None
    length = (target.until - target.since).total_seconds()
    epoch = table.c[f"{time}_epoch"]
    period = sa.cast((epoch - baseline.since.timestamp()) / length, sa.Integer())
    if conn.dialect.name == "postgresql":
        period = sa.cast(sa.func.floor((epoch - baseline.since.timestamp()) / length),
                         sa.Integer())
    failed = sa.func.sum(sa.case((table.c.status == "failed", 1), else_=0))
    rates: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for row in conn.execute(
        sa.select(*cols, period, sa.func.count(), failed)
        .where(*where(table, baseline, time=time), *extra).group_by(*cols, period)
    ):
        n, bad = int(row[-2]), int(row[-1] or 0)
        if n:
            rates[tuple(row[:len(groups)])].append(bad / n)
    out = []
    for row in conn.execute(
        sa.select(*cols, sa.func.count(), failed)
        .where(*where(table, target, time=time), *extra).group_by(*cols)
    ):
        key = tuple(row[:len(groups)])
        n, bad = int(row[-2]), int(row[-1] or 0)
        history = rates.get(key, [])
        if n < min_samples or len(history) < min(min_samples, periods):
            continue
        median = statistics.median(history)
        deviations = [abs(r - median) for r in history]
        scale = _scale(statistics.median(deviations), statistics.fmean(deviations), median,
                       0.01)
        value = bad / n
        score = (value - median) / scale
        if abs(score) > threshold:
            out.append({
                "kind": kind, "workflow_id": key[0],
                "step_id": key[1] if len(key) > 1 else None, "run_id": None,
                "value": value, "baseline_median": median, "baseline_scale": scale,
                "score": score, "departure": value - median,
            })
    return out
