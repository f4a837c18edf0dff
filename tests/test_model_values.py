"""``flowscope.model.values``: the one JSON walker, duration parser and aware-time guard."""

from __future__ import annotations

import enum
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowscope.errors import AnalyticsError, InvalidValueError
from flowscope.model.values import (
    is_duration,
    parse_duration,
    parse_seconds,
    plain_json,
    require_aware,
)

json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=4),
    max_leaves=20,
)


@given(json_data)
def test_plain_json_is_an_equal_private_copy(value: object) -> None:
    copied = plain_json(value)
    assert copied == value
    if isinstance(value, dict | list) and value:
        assert copied is not value


class Color(enum.IntEnum):
    RED = 1


class Name(enum.StrEnum):
    ADA = "ada"


def test_tuples_become_lists_and_subclasses_their_base_type() -> None:
    out = plain_json({"a": (1, (2, 3)), "c": Color.RED, "n": Name.ADA,
                      "o": OrderedDict(x=1)})
    assert out == {"a": [1, [2, 3]], "c": 1, "n": "ada", "o": {"x": 1}}
    assert type(out["c"]) is int and type(out["n"]) is str  # type: ignore[index]
    assert type(out["o"]) is dict  # type: ignore[index]


@pytest.mark.parametrize(("value", "path", "problem"), [
    ({"items": [1, {"price": {1, 2}}]}, "$.items[1].price", "is a set"),
    ({"a": {3: "x"}}, "$.a", "has a key 3 that is not a string"),
    ([0.5, float("nan")], "$[1]", "is nan"),
    ({"odd key": object()}, '$["odd key"]', "is a object"),
])
def test_the_error_names_the_path(value: object, path: str, problem: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        plain_json(value, "the output of step 'load'")
    assert str(info.value).startswith(f"the output of step 'load' is not JSON data: {path} "
                                      f"{problem}")


def test_nan_is_let_through_when_asked_and_the_error_class_is_the_callers() -> None:
    assert plain_json([float("inf")], allow_nan=True) == [float("inf")]
    with pytest.raises(AnalyticsError):
        plain_json(datetime.now(UTC), error=AnalyticsError)


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), ("7d", 7 * 86400.0),
    ("2w", 14 * 86400.0), (" 1.5 M ", 90.0), ("30", 30.0), (".5s", 0.5), (12, 12.0),
    (0.25, 0.25), (timedelta(minutes=1), 60.0),
])
def test_durations(text: str | float | timedelta, seconds: float) -> None:
    assert parse_seconds(text) == seconds
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", [0, -3, "soon", "5 days", True, float("inf"), "0s", None])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="must be a positive duration"):
        parse_seconds(bad, "`timeout`")  # type: ignore[arg-type]


def test_a_unit_can_be_required() -> None:
    assert is_duration("7d") and not is_duration("2026") and is_duration("30",
                                                                           unit_required=False)
    with pytest.raises(InvalidValueError):
        parse_duration("2026", "--since", unit_required=True)


def test_require_aware() -> None:
    plus2 = timezone(timedelta(hours=2))
    moment = datetime(2026, 1, 1, 12, tzinfo=plus2)
    assert require_aware(moment, "since") == moment
    assert require_aware(moment, "since").tzinfo is UTC
    with pytest.raises(InvalidValueError, match="since is a naive datetime"):
        require_aware(datetime(2026, 1, 1), "since")
    with pytest.raises(AnalyticsError, match="must be a datetime, not str"):
        require_aware("2026-01-01", "until", error=AnalyticsError)
