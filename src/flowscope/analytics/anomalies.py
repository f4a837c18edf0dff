"""Anomalies: runs and steps whose duration or failure rate departs from a baseline.

The method (robust z-scores, after Iglewicz and Hoaglin):

- The target window is ``[since, until)`` (both required); the baseline window is the
  ``baseline_periods`` periods of the same length just before it.
- Durations, per workflow (runs) and per (workflow, step) (step attempts): the baseline's
  median ``m`` and median absolute deviation ``MAD``; the scale is ``1.4826 * MAD`` (the
  standard deviation, for normal data), or ``1.2533 * mean |x - m|`` when the MAD is 0,
  and never below 1% of ``m`` nor below 1 ms (so a perfectly steady baseline still
  flags a big departure). Each run or attempt in the target window with
  ``|x - m| / scale > threshold`` is listed. Both medians are computed by the store.
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
from typing import Any, Literal

from flowscope.analytics.filters import Filters
from flowscope.analytics.source import AnalyticsSource, scope, source_of
from flowscope.errors import AnalyticsError
from flowscope.store.analytics_query import Bucket, TimeColumn

MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533


def _scale(mad: float, mean_ad: float, median: float, floor: float) -> float:
    scale = MAD_TO_SIGMA * mad if mad > 0 else MEAN_AD_TO_SIGMA * mean_ad
    return max(scale, floor, abs(median) * 0.01)


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
    source = source_of(store)
    length = filters.until - filters.since
    base_since = filters.since - length * baseline_periods
    baseline = filters.with_range(base_since, filters.since)
    found: list[dict[str, Any]] = []
    kinds: list[tuple[Table, tuple[str, ...], TimeColumn]] = [
        ("runs", ("workflow",), "created_at"), ("steps", ("workflow", "step_id"), "started_at")]
    for table, groups, time in kinds:
        found += _durations(source, table, groups, time, filters, baseline, threshold,
                            min_samples)
    for table, groups, time in kinds:
        found += _rates(source, table, groups, time, filters, baseline, baseline_periods,
                        threshold, min_samples)
    found.sort(key=lambda a: -abs(a["score"]))
    return found


Table = Literal["runs", "steps"]


def _rows(table: Table, filters: Filters, time: TimeColumn, *, rates: bool = False) -> Any:
    if table == "steps":
        return scope(filters, "steps", time, executed=True)
    return scope(filters, "runs", time,
                 statuses=("completed", "failed") if rates else None)


def _durations(
    source: AnalyticsSource, table: Table, groups: Sequence[str], time: TimeColumn,
    target: Filters, baseline: Filters, threshold: float, min_samples: int,
) -> list[dict[str, Any]]:
    base = _rows(table, baseline, time)
    medians = {
        g.key: g.percentiles[0]
        for g in source.group_stats(base, groups=groups, fractions=(0.5,))
        if g.count >= min_samples and g.percentiles[0] is not None
    }
    if not medians:
        return []
    scales: dict[tuple[Any, ...], float] = {}
    for g in source.group_stats(base, groups=groups, fractions=(0.5,), centers=medians):
        if g.key in medians and g.percentiles[0] is not None:
            scales[g.key] = _scale(g.percentiles[0], g.mean or 0.0, medians[g.key], 1.0)
    if not scales:
        return []
    id_col = "id" if table == "runs" else "run_id"
    kind = "run_duration" if table == "runs" else "step_duration"
    out = []
    for row in source.records(_rows(table, target, time), [id_col, *groups, "duration_ms"]):
        key = tuple(row[g] for g in groups)
        if row["duration_ms"] is None or key not in scales:
            continue
        value = float(row["duration_ms"])
        median, scale = medians[key], scales[key]
        if not abs(value - median) > scale * threshold:
            continue
        out.append({
            "kind": kind, "workflow_id": key[0],
            "step_id": key[1] if len(key) > 1 else None, "run_id": row[id_col],
            "value": value, "baseline_median": median, "baseline_scale": scale,
            "score": (value - median) / scale, "departure": value - median,
        })
    return out


def _rates(
    source: AnalyticsSource, table: Table, groups: Sequence[str], time: TimeColumn,
    target: Filters, baseline: Filters, periods: int, threshold: float, min_samples: int,
) -> list[dict[str, Any]]:
    assert baseline.since is not None and target.since is not None and target.until is not None
    length = (target.until - target.since).total_seconds()
    kind = "run_failure_rate" if table == "runs" else "step_failure_rate"
    rates: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for g in source.group_stats(
        _rows(table, baseline, time, rates=True), groups=groups, value=None,
        bucket=Bucket(time, length, baseline.since.timestamp()), measures=("status:failed",),
    ):
        n, bad = g.count, int(g.extras["status:failed"] or 0)
        if n:
            rates[g.key[:len(groups)]].append(bad / n)
    out = []
    for g in source.group_stats(_rows(table, target, time, rates=True), groups=groups,
                                value=None, measures=("status:failed",)):
        key = g.key
        n, bad = g.count, int(g.extras["status:failed"] or 0)
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
