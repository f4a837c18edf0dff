"""Diagnosis, analytics and the CLI share one ``Filters`` type (``flowscope.filters``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flowscope.analytics.filters import Filters as AnalyticsFilters
from flowscope.diagnosis.failures import FailureFilter, make_filter
from flowscope.errors import AnalyticsError, DiagnosisError, FilterError
from flowscope.filters import Filters


def test_one_type_for_every_room() -> None:
    assert AnalyticsFilters is Filters
    now = datetime(2026, 3, 1, tzinfo=UTC)
    flt = make_filter({"since": "7d", "workflow": "orders", "type": "batch", "step": "s1"},
                      now=now)
    assert isinstance(flt, Filters)
    assert (flt.since, flt.workflow, flt.type, flt.step_id) == (
        now - timedelta(days=7), "orders", "batch", "s1")
    # The old spelling of the workflow type still works.
    assert make_filter({"workflow_type": "batch"}).type == "batch"


def test_a_bad_filter_is_an_error_of_both_rooms() -> None:
    with pytest.raises(FilterError) as info:
        make_filter({"since": datetime(2026, 1, 1)})
    assert isinstance(info.value, DiagnosisError) and isinstance(info.value, AnalyticsError)
    assert "naive datetime" in str(info.value)
    with pytest.raises(AnalyticsError, match="unknown status"):
        Filters(status="weird")
    with pytest.raises(DiagnosisError, match="unknown filter 'status'"):
        make_filter({"status": "failed"})  # every failure has failed: no such filter


def test_of_refuses_unknown_names_and_knows_the_subclass_fields() -> None:
    assert FailureFilter.of({"category": "timeout"}).category == "timeout"
    with pytest.raises(FilterError, match="unknown filter"):
        Filters.of({"category": "timeout"})
