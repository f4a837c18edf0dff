"""Property tests of the WorkflowDebugger facade, standalone (bookkeeping on plain dicts)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowscope.debugger import DebuggerValueError, SnapshotNotFoundError, WorkflowDebugger
from flowscope.errors import DebuggerError, ExpressionSyntaxError

names = st.sampled_from(["a", "b", "c", "d", "e"])
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
json_data = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text("xyz", min_size=1, max_size=2), inner,
                                            max_size=3)),
    max_leaves=10,
)
states = st.dictionaries(st.text("abc", min_size=1, max_size=2), json_data, max_size=4)


@given(st.lists(st.tuples(st.booleans(), names, st.booleans()), max_size=30))
def test_breakpoint_set_clear_count(ops: list[tuple[bool, str, bool]]) -> None:
    dbg = WorkflowDebugger()
    model: dict[str, bool] = {}
    for is_set, step, enabled in ops:
        if is_set:
            dbg.set_breakpoint(step, enabled=enabled)
            model[step] = enabled
        else:
            assert dbg.clear_breakpoint(step) is (step in model)
            model.pop(step, None)
        assert dbg.breakpoint_count() == len(model)
        for name in "abcde":
            assert dbg.has_breakpoint(name) is model.get(name, False)
    assert sorted(b.step_id for b in dbg.list_breakpoints()) == sorted(model)


@given(st.integers(0, 20), st.integers(-3, 3))
def test_should_pause_counts_hits(n: int, threshold: int) -> None:
    dbg = WorkflowDebugger()
    bp = dbg.set_breakpoint("s", condition="x > t", hit_limit=3)
    paused = sum(dbg.should_pause("s", {"x": i, "t": threshold}) for i in range(n))
    holds = sum(1 for i in range(n) if i > threshold)
    assert bp.hit_count == holds and paused == min(holds, 3)
    assert dbg.should_pause("other", {"x": 1}) is False
    assert dbg.should_pause("s", {}) is False  # cannot be evaluated: not met


def test_hit_condition_logpoint_and_disabled() -> None:
    dbg = WorkflowDebugger()
    dbg.set_breakpoint("s", hit_condition="== 2")
    assert [dbg.should_pause("s") for _ in range(3)] == [False, True, False]
    dbg.set_breakpoint("s", hit_condition="% 2")
    assert [dbg.should_pause("s") for _ in range(4)] == [False, True, False, True]
    dbg.set_breakpoint("s", hit_condition=3)  # a bare number means >= 3
    assert [dbg.should_pause("s") for _ in range(4)] == [False, False, True, True]
    dbg.set_breakpoint("s", log_message="x is {x}")
    assert dbg.should_pause("s", {"x": [1]}) is False and dbg.logs == ["x is [1]"]
    dbg.set_breakpoint("s", enabled=False)
    assert dbg.should_pause("s") is False and not dbg.has_breakpoint("s")
    with pytest.raises(ExpressionSyntaxError):
        dbg.set_breakpoint("s", condition="x >")
    assert [b.enabled for b in dbg.list_breakpoints()] == [False]  # a refused one changes nothing


@given(states)
def test_capture_state_is_independent(state: dict[str, Any]) -> None:
    dbg = WorkflowDebugger()
    original = copy.deepcopy(state)
    captured = dbg.capture_state(state)
    assert captured == original
    state["new"] = 1
    for value in state.values():
        if isinstance(value, (list, dict)):
            value.clear() if isinstance(value, dict) else value.append(0)
    assert captured == original


@given(json_data)
def test_get_variable_follows_dotted_paths(value: Any) -> None:
    state = {"root": value}
    paths: list[tuple[str, Any]] = [("root", value)]
    frontier = [("root", value)]
    while frontier:
        path, item = frontier.pop()
        kids = item.items() if isinstance(item, dict) else enumerate(item) \
            if isinstance(item, list) else []
        for key, child in kids:
            if "." in str(key):
                continue
            paths.append((f"{path}.{key}", child))
            frontier.append((f"{path}.{key}", child))
    for path, expected in paths:
        assert WorkflowDebugger.get_variable(state, path) == expected
    assert WorkflowDebugger.get_variable(state, "root.missing.deeper") is None
    assert WorkflowDebugger.get_variable({"items": [{"id": 7}]}, "items.0.id") == 7


@given(st.lists(states, max_size=12), st.integers(1, 5))
def test_snapshot_order_and_bound(items: list[dict[str, Any]], bound: int) -> None:
    dbg = WorkflowDebugger(max_snapshots=bound)
    taken = [dbg.take_snapshot(s, label=str(i)) for i, s in enumerate(items)]
    assert dbg.snapshot_count() == min(len(items), bound)
    kept = dbg.get_snapshots()
    assert [s.id for s in kept] == [s.id for s in taken[-bound:]] if items else kept == []
    assert [s.id for s in kept] == sorted(s.id for s in kept)
    for snap, state in zip(taken[-bound:], items[-bound:], strict=False):
        assert dict(snap) == state and dbg.restore_snapshot(snap.id) == state
    for gone in taken[:-bound]:
        with pytest.raises(SnapshotNotFoundError):
            dbg.restore_snapshot(gone.id)


def test_snapshot_is_read_only_copy() -> None:
    dbg = WorkflowDebugger()
    state = {"a": {"b": [1]}}
    snap = dbg.create_snapshot(state, label="x")
    state["a"]["b"].append(2)
    snap["a"]["b"].append(3)  # a copy: the snapshot does not change
    assert snap["a"] == {"b": [1]} and snap.label == "x" and snap.taken_at.tzinfo is not None
    with pytest.raises(TypeError):
        snap["a"] = 1  # type: ignore[index]


@given(states, states)
def test_compare_states_round_trip(a: dict[str, Any], b: dict[str, Any]) -> None:
    diff = WorkflowDebugger().compare_states(a, b)
    assert set(diff) == {"added", "removed", "changed"}
    if a == b:
        assert diff == {"added": {}, "removed": {}, "changed": {}}
    for path in diff["added"]:
        assert WorkflowDebugger.get_variable(a, path) is None or "." in path
    for path, change in diff["changed"].items():
        assert WorkflowDebugger.get_variable(a, path) == change["old"]
        assert WorkflowDebugger.get_variable(b, path) == change["new"]


def test_compare_states_nested_paths() -> None:
    diff = WorkflowDebugger().compare_states(
        {"a": {"b": 1, "gone": 2}, "items": [1, 2]}, {"a": {"b": 3, "new": 4}, "items": [1]})
    assert diff == {"added": {"a.new": 4}, "removed": {"a.gone": 2, "items.1": 2},
                    "changed": {"a.b": {"old": 1, "new": 3}}}


@given(st.lists(st.integers(-3, 3), min_size=1, max_size=10))
def test_watches(values: list[int]) -> None:
    dbg = WorkflowDebugger()
    dbg.add_watch("x * 2")
    dbg.watch_variable("missing.y")
    triggered = []
    for v in values:
        assert dbg.get_watched_values({"x": v}) == {"x * 2": v * 2}
        triggered.append(dbg.watch_triggered({"x": v}))
    expected = [[]] + [["x * 2"] if b != a else [] for a, b in itertools.pairwise(values)]
    assert triggered == expected
    with pytest.raises(ExpressionSyntaxError):
        dbg.add_watch("x +")


def test_position_and_step_mode_checks() -> None:
    dbg = WorkflowDebugger()
    dbg.set_current_step(2, 5)
    assert (dbg.current_step, dbg.total_steps) == (2, 5)
    for bad in [(5, 5), (-1, 3), (0, 0)]:
        with pytest.raises(ValueError):
            dbg.set_current_step(*bad)
    for mode in ["step_over", "step_into", "step_out", "continue"]:
        dbg.set_step_mode(mode)
        assert dbg.step_mode == mode
    with pytest.raises(DebuggerValueError):
        dbg.set_step_mode("jump")
    with pytest.raises(DebuggerError):
        dbg.wait_for_stop(0)  # needs an engine


def test_tracing_records_checks_only_while_on() -> None:
    dbg = WorkflowDebugger()
    dbg.should_pause("a", {"x": 1})
    dbg.start_tracing()
    dbg.should_pause("b", {"x": 2})
    dbg.stop_tracing()
    dbg.should_pause("c")
    assert [(t.step_id, t.input) for t in dbg.get_trace()] == [("b", {"x": 2})]
    state = dbg.get_execution_state()
    assert state["status"] == "idle" and state["run_id"] is None
