"""Property tests: counts, means, rates and exact percentiles equal numpy's and a
plain-Python reference, on SQLite and PostgreSQL (when FLOWSCOPE_TEST_POSTGRES is set)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowscope.analytics.percentiles import lerp
from flowscope.compat import WorkflowAnalyticsEngine
from flowscope.store.testing import make_store, store_params

T0 = datetime(2026, 3, 1, tzinfo=UTC)
durations = st.lists(
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=25,
)
fractions = st.sampled_from([0.0, 1.0, 5.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0])


@pytest.fixture(params=store_params())
def analytics(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkflowAnalyticsEngine]:
    with make_store(request.param, tmp_path) as store:
        yield WorkflowAnalyticsEngine(store)


def reference_percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks, in plain Python."""
    ordered = sorted(values)
    h = (len(ordered) - 1) * q / 100.0
    lo = math.floor(h)
    hi = math.ceil(h)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (h - lo)


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def track_runs(a: WorkflowAnalyticsEngine, wf: str, values: list[float],
               failed: list[bool] | None = None) -> None:
    for i, value in enumerate(values):
        run_id = f"{wf}-{i}"
        a.track_workflow_start(wf, run_id, timestamp=T0 + timedelta(seconds=i))
        if failed and failed[i]:
            a.track_workflow_failure(wf, run_id, duration_ms=value)
        else:
            a.track_workflow_complete(wf, run_id, duration_ms=value)


@settings(max_examples=15)
@given(values=durations, q=fractions)
def test_run_percentiles_and_means_match_numpy(analytics: WorkflowAnalyticsEngine,
                                               values: list[float], q: float) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    track_runs(analytics, wf, values)
    got = analytics.calculate_percentile_duration(q, wf)
    assert close(got, float(np.percentile(values, q)))
    assert close(got, reference_percentile(values, q))
    stats = analytics.get_workflow_statistics(wf)
    assert stats["total"] == stats["completed"] == len(values)
    assert close(stats["avg_duration_ms"], float(np.mean(values)))
    assert close(stats["median_duration_ms"], float(np.median(values)))
    assert close(stats["p95_duration_ms"], float(np.percentile(values, 95)))
    assert close(stats["p99_duration_ms"], float(np.percentile(values, 99)))
    assert stats["min_duration_ms"] == min(values)
    assert stats["max_duration_ms"] == max(values)


@settings(max_examples=12)
@given(data=st.lists(st.tuples(st.floats(0, 1e5, allow_nan=False), st.booleans()),
                     min_size=1, max_size=20))
def test_rates_and_counts_match_reference(analytics: WorkflowAnalyticsEngine,
                                          data: list[tuple[float, bool]]) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    values = [d for d, _ in data]
    failed = [f for _, f in data]
    track_runs(analytics, wf, values, failed)
    stats = analytics.get_workflow_statistics(wf)
    n_failed = sum(failed)
    assert stats["failed"] == n_failed and stats["completed"] == len(data) - n_failed
    assert close(analytics.get_error_rate(wf), n_failed / len(data))
    assert close(analytics.get_success_rate(wf), 1 - n_failed / len(data))


@settings(max_examples=12)
@given(groups=st.dictionaries(st.sampled_from(["a", "b", "c"]),
                              st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False),
                                                 st.booleans()), min_size=1, max_size=12),
                              min_size=1))
def test_step_statistics_match_numpy(analytics: WorkflowAnalyticsEngine,
                                     groups: dict[str, list[tuple[float, bool]]]) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    analytics.track_workflow_start(wf, wf, timestamp=T0)
    for step, samples in groups.items():
        for i, (value, failed) in enumerate(samples):
            analytics.track_step_execution(wf, wf, step, duration_ms=value,
                                           status="failed" if failed else "completed",
                                           attempt=i + 1, timestamp=T0 + timedelta(seconds=i))
    rows = {r["step_id"]: r for r in analytics.get_step_statistics(wf)}
    assert set(rows) == set(groups)
    for step, samples in groups.items():
        values = [v for v, _ in samples]
        row = rows[step]
        fails = sum(f for _, f in samples)
        assert row["executions"] == len(values) and row["failures"] == fails
        assert close(row["failure_rate"], fails / len(values))
        assert row["retries"] == len(values) - 1
        assert close(row["avg_duration_ms"], float(np.mean(values)))
        for key, q in (("median_duration_ms", 50), ("p95_duration_ms", 95),
                       ("p99_duration_ms", 99)):
            assert close(row[key], float(np.percentile(values, q)))
        got = analytics.calculate_percentile_duration(90, wf, step_id=step)
        assert close(got, float(np.percentile(values, 90)))


@settings(max_examples=10)
@given(values=st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=20),
       offsets=st.lists(st.integers(0, 3 * 3600 - 1), min_size=20, max_size=20))
def test_trend_buckets_match_numpy(analytics: WorkflowAnalyticsEngine, values: list[float],
                                   offsets: list[int]) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    ends = []
    for i, value in enumerate(values):
        end = T0 + timedelta(seconds=offsets[i])
        begin = end - timedelta(milliseconds=value)
        analytics.track_workflow_start(wf, f"{wf}-{i}", timestamp=begin)
        analytics.track_workflow_complete(wf, f"{wf}-{i}", duration_ms=value, timestamp=end)
        ends.append(end)
    rows = analytics.get_execution_trends("1h", workflow=wf, since=T0,
                                          until=T0 + timedelta(hours=3))
    assert [r["bucket_start"] for r in rows] == [T0 + timedelta(hours=h) for h in range(3)]
    for h, row in enumerate(rows):
        inside = [v for v, e in zip(values, ends, strict=False)
                  if (e - T0) // timedelta(hours=1) == h]
        assert row["completed"] == row["finished"] == len(inside)
        if inside:
            assert close(row["p95_duration_ms"], float(np.percentile(inside, 95)))
            assert close(row["p50_duration_ms"], float(np.percentile(inside, 50)))
        else:
            assert row["p95_duration_ms"] is None and row["avg_duration_ms"] is None


def test_lerp_matches_postgres_formula() -> None:
    assert lerp(1.0, 3.0, 2.5) == 2.0
    assert lerp(1.0, None, 0.0) == 1.0
    assert lerp(None, None, 0.0) is None


def test_sqlite_and_postgres_agree(tmp_path: Path) -> None:
    from flowscope.store.testing import postgres_url

    if postgres_url() is None:
        pytest.skip("set FLOWSCOPE_TEST_POSTGRES")
    rng = np.random.default_rng(7)
    values = [float(v) for v in rng.lognormal(5, 2, size=101)]
    results: list[Any] = []
    for kind in ("sqlite", "postgres"):
        with make_store(kind, tmp_path / kind if kind == "sqlite" else tmp_path) as store:
            a = WorkflowAnalyticsEngine(store)
            track_runs(a, "wf", values)
            for i, v in enumerate(values):
                a.track_step_execution("wf", "wf-0", "s", duration_ms=v, attempt=i + 1,
                                       timestamp=T0 + timedelta(seconds=i))
            results.append((a.get_workflow_statistics("wf"), a.get_step_statistics("wf"),
                            [a.calculate_percentile_duration(q, "wf") for q in (1, 33.3, 97)]))
    sqlite_result, pg_result = results
    assert sqlite_result[2] == pg_result[2]  # percentiles: the same to the last bit
    for key in ("median_duration_ms", "p95_duration_ms", "p99_duration_ms"):
        assert sqlite_result[0][key] == pg_result[0][key]
        assert sqlite_result[1][0][key] == pg_result[1][0][key]
