"""Breakpoints, inspection, edits, stop-on-error, restore, fork, ownership and all-stop."""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest

from debugger_helpers import WAIT, make_engine, nested
from flowscope.debugger import (
    Debugger,
    HitConditionError,
    NotStoppedError,
    StopReason,
    StopTimeoutError,
    WorkflowDebugger,
)
from flowscope.engine import RunStatus
from flowscope.engine.events import EventKind
from flowscope.errors import AccessDeniedError, DebuggerError, ExpressionSyntaxError
from flowscope.model import workflow_from_dict

LOOPY = {"name": "loopy", "inputs": {"k": {"type": "integer", "default": 3}}, "steps": [
    {"id": f"s{i}", "uses": "rec", "needs": [f"s{i - 1}"] if i else [],
     "with": {"name": f"s{i}", "value": i}, "set": {"last": "${{ output }}"}}
    for i in range(6)
]}


def chain() -> Any:
    return workflow_from_dict(LOOPY)


def stops(dbg: WorkflowDebugger, command: str = "continue_execution") -> list[tuple[str, str]]:
    """Collect (reason, step) of every stop until the run ends, giving ``command`` at each."""
    out = []
    while (stop := dbg.wait_for_stop(WAIT)) is not None:
        out.append((stop.reason.value, stop.step_id))
        getattr(dbg, command)()
    return out


@pytest.fixture
def setup(store: Any) -> Any:
    engine, calls = make_engine(store)
    dbg = WorkflowDebugger(engine, user="ann")
    yield engine, calls, dbg, store
    dbg.close()


def test_condition_hit_condition_and_hit_limit(setup: Any) -> None:
    _, _, dbg, _ = setup
    session = dbg.session
    session.set_breakpoint("s1", condition="vars.last == 0")
    session.set_breakpoint("s2", condition="vars.last == 99")  # never holds
    for i in range(3, 6):
        session.set_breakpoint(f"s{i}", hit_condition=">= 1", hit_limit=1)
    dbg.start(chain())
    assert stops(dbg) == [("breakpoint", "s1"), ("breakpoint", "s3"), ("breakpoint", "s4"),
                          ("breakpoint", "s5")]
    counts = {bp.step_id: bp.hit_count for bp in session.breakpoints()}
    assert counts == {"s1": 1, "s2": 0, "s3": 1, "s4": 1, "s5": 1}


def test_hit_condition_forms_across_runs(memory_store: Any) -> None:
    engine, _ = make_engine(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    bp = dbg.set_breakpoint("s0", hit_condition="% 2")
    got = []
    for _ in range(4):
        dbg.start(chain())
        got.append(len(stops(dbg)))
    assert got == [0, 1, 0, 1] and bp.hit_count == 4
    dbg.set_breakpoint("s0", hit_limit=2)
    got = []
    for _ in range(3):
        dbg.start(chain())
        got.append(len(stops(dbg)))
    assert got == [1, 1, 0]


@pytest.mark.parametrize("bad", ["x >", "__import__('os')", "a.b(", ""])
def test_bad_condition_refused_when_set(memory_store: Any, bad: str) -> None:
    engine, _ = make_engine(memory_store)
    session = Debugger(engine).open_session(user="ann")
    with pytest.raises(ExpressionSyntaxError):
        session.set_breakpoint("s0", condition=bad)
    assert session.breakpoints() == []


@pytest.mark.parametrize("bad", ["> x", ">= -1", "% 0", "~3", "", True])
def test_bad_hit_condition_refused(memory_store: Any, bad: Any) -> None:
    engine, _ = make_engine(memory_store)
    session = Debugger(engine).open_session(user="ann")
    with pytest.raises(HitConditionError, match="hit condition"):
        session.set_breakpoint("s0", hit_condition=bad)


def test_bad_log_message_and_hit_limit_refused(memory_store: Any) -> None:
    engine, _ = make_engine(memory_store)
    session = Debugger(engine).open_session(user="ann")
    with pytest.raises(ExpressionSyntaxError):
        session.set_breakpoint("s0", log_message="value {x +}")
    with pytest.raises(DebuggerError, match="hit_limit"):
        session.set_breakpoint("s0", hit_limit=0)
    with pytest.raises(DebuggerError, match="step_id"):
        session.set_breakpoint("")


def test_logpoint_logs_an_event_and_never_stops(setup: Any) -> None:
    _, _, dbg, store = setup
    dbg.set_breakpoint("s2", log_message="at {input.name} last={vars.last} {{x}}")
    handle = dbg.start(chain())
    assert stops(dbg) == []
    logs = [e for e in store.get_events(handle.run_id) if e.kind is EventKind.LOG]
    assert [(e.message, e.source, e.step_id) for e in logs] == [
        ("at s2 last=1 {x}", "logpoint", "s2")]


def test_edge_entry_and_failure_breakpoints(setup: Any) -> None:
    engine, _, dbg, _ = setup
    session = dbg.session
    session.set_breakpoint("z", kind="edge", source="p1")  # z becomes ready via p2
    session.set_breakpoint("p2", kind="edge", source="sub")
    session.set_breakpoint(kind="entry", workflow="grand")
    dbg.start(nested())
    got = stops(dbg)
    assert got[:2] == [("breakpoint", "g1"), ("breakpoint", "p2")]
    assert ("breakpoint", "z") in got or len(got) == 2  # depends on which need finished last

    def boom(name: str) -> None:
        raise TimeoutError("slow upstream")

    engine.register_action("boom", boom)
    wf = workflow_from_dict({"name": "f", "steps": [
        {"id": "x", "uses": "boom", "with": {"name": "x"}}]})
    bp = session.set_breakpoint(kind="failure", categories=["validation"])
    dbg.start(wf)
    assert stops(dbg) == []  # a timeout is not a validation error
    session.update_breakpoint(bp.id, categories=["timeout"])
    handle = dbg.start(wf)
    stop = dbg.wait_for_stop(WAIT)
    assert stop is not None and stop.reason is StopReason.EXCEPTION
    assert stop.breakpoint is not None and stop.error is not None
    assert stop.error.category == "timeout"
    dbg.continue_execution()
    assert handle.result(WAIT).status is RunStatus.FAILED


def test_breakpoints_added_and_removed_while_live(setup: Any) -> None:
    _, _, dbg, _ = setup
    session = dbg.session
    first = session.set_breakpoint("s1")
    gone = session.set_breakpoint("s4")
    handle = dbg.start(chain())
    stop = dbg.wait_for_stop(WAIT)
    assert stop is not None and stop.step_id == "s1"
    session.remove_breakpoint(gone.id)
    session.set_breakpoint("s3")
    session.update_breakpoint(first.id, enabled=False)
    dbg.continue_execution()
    assert stops(dbg) == [("breakpoint", "s3")]
    assert handle.result(WAIT).ok


def test_inspect_evaluate_previews_paging_and_set_variable(setup: Any) -> None:
    _, calls, dbg, store = setup
    session = dbg.session
    big = {"name": "big", "steps": [
        {"id": "mk", "uses": "rec", "with": {"name": "mk", "value": list(range(500))},
         "set": {"items": "${{ output }}", "total": 0}},
        {"id": "use", "uses": "rec", "needs": ["mk"],
         "with": {"name": "use", "value": "${{ vars.total }}"}}],
        "outputs": {"out": "${{ steps.use.output }}"}}
    dbg.set_breakpoint("use")
    handle = dbg.start(workflow_from_dict(big))
    stop = dbg.wait_for_stop(WAIT)
    assert stop is not None and stop.step_id == "use"
    assert [v.name for v in session.scopes()] == ["inputs", "steps", "vars", "run",
                                                            "input"]
    page = session.variables("vars.items", 10, 5)
    assert [(v.name, v.path, v.preview.text) for v in page][:2] == [
        ("10", "vars.items.10", "10"), ("11", "vars.items.11", "11")]
    assert len(page) == 5
    items = session.variables("vars")[0]
    assert items.name == "items" and items.has_children and items.preview.length == 500
    assert items.preview.truncated and len(items.preview.text) <= 80
    assert session.evaluate("len(vars.items) + input.value") == 500
    with pytest.raises(ExpressionSyntaxError):
        session.evaluate("vars.items[")
    assert session.set_variable("input.value", 41) == 0
    assert session.set_variable("vars.total", 7) == 0
    with pytest.raises(DebuggerError, match="only vars"):
        session.set_variable("steps.mk.output", 1)
    assert dbg.inspect_variable("vars.total") == 7
    dbg.continue_execution()
    result = handle.result(WAIT)
    assert result.outputs == {"out": 41}  # the edited input is what the step received
    edits = [(e.path, e.old, e.new, e.user) for e in store.get_events(handle.run_id)
             if e.kind is EventKind.VARIABLE_EDITED]
    assert edits == [("input.value", 0, 41, "ann"), ("vars.total", 0, 7, "ann")]
    assert store.get_run(handle.run_id).vars["total"] == 7
    assert calls["use"] == 1


def test_watches_report_changes_and_can_stop(setup: Any) -> None:
    _, _, dbg, _ = setup
    session = dbg.session
    session.add_watch("vars.last")
    session.add_watch("nope.x")
    dbg.set_breakpoint("s2")
    dbg.set_breakpoint("s3")
    dbg.start(chain())
    first = dbg.wait_for_stop(WAIT)
    assert first is not None
    assert [(w.expression, w.value, w.changed) for w in first.watches] == [
        ("vars.last", 1, False), ("nope.x", None, False)]
    assert first.watches[1].error is not None
    dbg.continue_execution()
    second = dbg.wait_for_stop(WAIT)
    assert second is not None and second.watches[0].value == 2 and second.watches[0].changed
    dbg.continue_execution()
    assert dbg.wait_for_stop(WAIT) is None
    with pytest.raises(ExpressionSyntaxError):
        session.add_watch("(")
    for bp in session.breakpoints():
        session.remove_breakpoint(bp.id)
    session.add_watch("vars.last", stop_on_change=True)
    dbg.start(chain())
    assert stops(dbg)[:2] == [("watch", "s1"), ("watch", "s2")]  # s0: not set yet


def test_stop_on_error_edit_input_and_retry(setup: Any) -> None:
    engine, _, dbg, store = setup
    seen = []

    def divide(a: int, b: int) -> float:
        seen.append(b)
        return a / b

    engine.register_action("divide", divide)
    wf = workflow_from_dict({"name": "div", "steps": [
        {"id": "d", "uses": "divide", "with": {"a": 10, "b": 0}},
        {"id": "after", "uses": "rec", "needs": ["d"], "with": {"name": "after"}}],
        "outputs": {"q": "${{ steps.d.output }}"}})
    handle = dbg.start(wf, stop_on_error=True)
    stop = dbg.wait_for_stop(WAIT)
    assert stop is not None and stop.reason is StopReason.EXCEPTION and stop.step_id == "d"
    assert stop.error is not None and stop.error.type == "ZeroDivisionError"
    assert store.get_run(handle.run_id).status is RunStatus.PAUSED  # not failed yet
    dbg.session.set_variable("input.b", 5)
    dbg.session.retry()
    result = handle.result(WAIT)
    assert result.ok and result.outputs == {"q": 2.0} and seen == [0, 5]
    with pytest.raises(NotStoppedError):
        dbg.session.retry()


def test_stop_on_error_then_let_it_fail(setup: Any) -> None:
    engine, _, dbg, _ = setup
    engine.register_action("bad", lambda: 1 / 0)
    wf = workflow_from_dict({"name": "bad", "steps": [{"id": "b", "uses": "bad"}]})
    handle = dbg.start(wf, stop_on_error=True)
    assert dbg.wait_for_stop(WAIT) is not None
    dbg.continue_execution()
    assert handle.result(WAIT).status is RunStatus.FAILED


def test_restore_rewinds_and_reruns(setup: Any) -> None:
    _, calls, dbg, store = setup
    dbg.set_breakpoint("s4")
    handle = dbg.start(chain())
    stop = dbg.wait_for_stop(WAIT)
    assert stop is not None and stop.step_id == "s4"
    snaps = {s.step_id: s for s in dbg.get_snapshots() if s.run_id == handle.run_id}
    assert snaps["s2"]["vars"] == {"last": 1}
    assert set(snaps["s2"]["steps"]) == {"s0", "s1"}
    diff = dbg.compare_states(snaps["s2"].id, snaps["s4"].id)
    assert diff["changed"] == {"vars.last": {"old": 1, "new": 3}}
    assert set(diff["added"]) == {"steps.s2", "steps.s3"} and diff["removed"] == {}
    state = dbg.restore_snapshot(snaps["s2"].id)
    assert state["vars"] == {"last": 1}
    again = dbg.wait_for_stop(WAIT)
    assert again is not None and (again.reason.value, again.step_id) == ("step", "s2")
    dbg.clear_breakpoint("s4")
    dbg.continue_execution()
    assert handle.result(WAIT).ok
    assert calls == {"s0": 1, "s1": 1, "s2": 2, "s3": 2, "s4": 1, "s5": 1}
    rewound = [a.step_id for a in store.get_steps(handle.run_id, include_rewound=True)
               if a.rewound]
    assert rewound == ["s2", "s3"]
    with pytest.raises(NotStoppedError):
        dbg.session.restore(snaps["s2"].id)


def test_fork_through_the_facade_does_not_repeat_external_steps(setup: Any) -> None:
    _, calls, dbg, _ = setup
    wf = workflow_from_dict({"name": "ext", "steps": [
        {"id": "charge", "uses": "rec", "effects": "external",
         "with": {"name": "charge", "value": 10}, "set": {"charged": "${{ output }}"}},
        {"id": "total", "uses": "rec", "needs": ["charge"],
         "with": {"name": "total", "value": "${{ vars.charged + 1 }}"}}],
        "outputs": {"total": "${{ steps.total.output }}"}})
    first = dbg.start(wf).result(WAIT)
    assert first.outputs == {"total": 11}
    assert dbg.fork_preview(first.id, "total")["external_reused"] == ["charge"]
    forked = dbg.fork(first.id, "total", state_edits={"vars.charged": 100})
    assert forked.outputs == {"total": 101}
    assert calls == {"charge": 1, "total": 2}


def test_another_user_is_refused(memory_store: Any) -> None:
    engine, _ = make_engine(memory_store)
    debugger = Debugger(engine)
    session = debugger.open_session(user="ann", workflow="loopy")
    # Ownership is checked where a session is looked up: bob never gets ann's session.
    bobs = functools.partial(debugger.get_session, session.id, user="bob")
    for call in (
        lambda: bobs().set_breakpoint("s1"),
        lambda: bobs().breakpoints(),
        lambda: bobs().step_over(),
        lambda: bobs().snapshots(),
        lambda: bobs().evaluate("1"),
        lambda: debugger.attach(session.id, "any-run", user="bob"),
        lambda: debugger.get_session(session.id, user="bob"),
        lambda: debugger.session_record(session.id, user="bob"),
        lambda: debugger.close_session(session.id, user="bob"),
    ):
        with pytest.raises(AccessDeniedError):
            call()
    assert debugger.sessions(user="bob") == []
    assert debugger.get_session(session.id, user="ann") is session


def test_workflow_session_debugs_runs_from_their_first_step(memory_store: Any) -> None:
    engine, _ = make_engine(memory_store)
    debugger = Debugger(engine)
    session = debugger.open_session(user="ann", workflow="loopy", stop_on_entry=True)
    seen: list[Any] = []
    session.subscribe(lambda stop: seen.append(stop and stop.step_id))
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.setdefault("r", engine.run(chain())))
    thread.start()
    stop = session.wait_for_stop(WAIT)
    assert stop is not None and (stop.reason, stop.step_id) == (StopReason.ENTRY, "s0")
    session.continue_()
    thread.join(WAIT)
    assert result["r"].ok and seen == ["s0", None]
    assert session.wait_for_stop(WAIT) is None  # the end of the debugged run
    other = engine.run(workflow_from_dict({"name": "other", "steps": [
        {"id": "o", "uses": "rec", "with": {"name": "o"}}]}))
    assert other.ok
    with pytest.raises(StopTimeoutError):  # no stop, and no debugged run ended
        session.wait_for_stop(0.05)


def test_wait_for_stop_tells_the_end_of_a_run_from_a_timeout(memory_store: Any) -> None:
    engine, _ = make_engine(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    with pytest.raises(StopTimeoutError) as info:
        dbg.wait_for_stop(0.01)  # nothing runs yet
    assert isinstance(info.value, TimeoutError) and info.value.timeout == 0.01
    handle = dbg.start(chain())
    assert dbg.wait_for_stop(WAIT) is None  # the run ended (no breakpoint)
    assert handle.result(WAIT).ok
    dbg.close()


def test_all_stop_with_parallel_branches(memory_store: Any) -> None:
    """While one branch is stopped, no step starts anywhere; a running step finishes."""
    engine, calls = make_engine(memory_store)
    started, release = threading.Event(), threading.Event()

    def slow(name: str) -> str:
        started.set()
        release.wait(WAIT)
        calls[name] += 1
        return name

    engine.register_action("slow", slow)
    wf = workflow_from_dict({"name": "par", "steps": [
        {"id": "long", "uses": "slow", "with": {"name": "long"}},
        {"id": "after_long", "uses": "rec", "needs": ["long"], "with": {"name": "after_long"}},
        {"id": "quick", "uses": "rec", "with": {"name": "quick"}},
        {"id": "stopper", "uses": "rec", "needs": ["quick"], "with": {"name": "stopper"}}]})
    dbg = WorkflowDebugger(engine, user="ann")
    dbg.set_breakpoint("stopper")
    handle = dbg.start(wf)
    stop = dbg.wait_for_stop(WAIT)
    assert stop is not None and stop.step_id == "stopper"
    assert started.wait(WAIT)
    release.set()  # the running step finishes while the tree is stopped
    live = engine.control(handle.run_id)
    assert live is not None
    for _ in range(int(WAIT * 100)):  # bounded by WAIT, not by how fast the machine is
        if "after_long" in live.waiting:
            break
        threading.Event().wait(0.01)
    assert calls["long"] == 1 and "after_long" not in calls  # held, not started
    assert live.waiting == {"stopper", "after_long"} and not live.executing
    assert memory_store.get_steps(handle.run_id)[0].step_id in {"quick", "long"}
    dbg.continue_execution()
    assert handle.result(WAIT).ok and calls["after_long"] == 1


def test_sessions_breakpoints_and_history_are_stored(store: Any) -> None:
    engine, _ = make_engine(store)
    debugger = Debugger(engine, max_snapshots=3)
    session = debugger.open_session(user="ann", workflow="loopy", stop_on_error=True)
    bp = session.set_breakpoint("s9", condition="vars.last > 1")
    result = engine.run(chain())
    assert result.ok
    assert len(session.snapshots()) == 3  # the ring is bounded
    history = session.history(result.id)
    assert [h["step_id"] for h in history] == [f"s{i}" for i in range(6)]
    assert history[3]["state"]["vars"] == {"last": 2}
    assert set(history[3]["state"]["steps"]) == {"s0", "s1", "s2"}
    assert history[0]["state"]["inputs"] == {"k": 3}
    record = debugger.session_record(session.id, user="ann")
    assert record.workflow == "loopy" and record.options["stop_on_error"] is True
    rows = debugger.store.breakpoints(session.id)
    assert [(r["id"], r["spec"]["condition"]) for r in rows] == [(bp.id, "vars.last > 1")]
    debugger.close_session(session.id, user="ann")
    assert debugger.session_record(session.id, user="ann").closed_at is not None


def test_traces_from_the_journal(store: Any) -> None:
    engine, _ = make_engine(store)
    engine.register_action("bad", lambda: 1 / 0)
    wf = workflow_from_dict({"name": "tr", "steps": [
        {"id": "a", "uses": "rec", "with": {"name": "a", "value": 1},
         "set": {"x": "${{ output }}", "y": 2}},
        {"id": "b", "uses": "rec", "needs": ["a"], "with": {"name": "b", "value": 5},
         "set": {"x": "${{ output }}"}},
        {"id": "c", "uses": "bad", "needs": ["b"]}]})
    result = engine.run(wf)
    from flowscope.debugger import build_trace, export_json

    entries = build_trace(store, result.id)
    assert [(e.step_id, e.status) for e in entries] == [
        ("a", "completed"), ("b", "completed"), ("c", "failed")]
    assert entries[0].vars_diff["added"] == {"x": 1, "y": 2}
    assert entries[1].vars_diff == {"added": {}, "removed": {},
                                    "changed": {"x": {"old": 1, "new": 5}}}
    assert entries[1].input == {"name": "b", "value": 5} and entries[1].output == 5
    assert entries[2].error is not None and "ZeroDivisionError" in entries[2].error["traceback"]
    assert entries[0].entered_at is not None and entries[0].duration_ms is not None
    assert [e.step_id for e in build_trace(store, result.id, "b")] == ["b"]
    import json

    assert json.loads(export_json(entries))[2]["error"]["type"] == "ZeroDivisionError"


def test_pause_at_a_stop_goes_on_and_stops_before_the_next_step(setup: Any) -> None:
    _, _, dbg, _ = setup
    dbg.set_breakpoint("s1")
    dbg.start(chain())
    first = dbg.wait_for_stop(WAIT)
    assert first is not None and first.step_id == "s1"
    dbg.pause_execution()
    second = dbg.wait_for_stop(WAIT)
    assert second is not None and (second.reason, second.step_id) == ("pause", "s2")
    dbg.continue_execution()
    assert dbg.wait_for_stop(WAIT) is None


def test_watch_added_at_a_stop_reports_the_change_at_the_next(setup: Any) -> None:
    _, _, dbg, _ = setup
    dbg.set_breakpoint("s2")
    dbg.set_breakpoint("s3")
    dbg.start(chain())
    first = dbg.wait_for_stop(WAIT)
    assert first is not None
    dbg.session.add_watch("vars.last")
    dbg.continue_execution()
    second = dbg.wait_for_stop(WAIT)
    assert second is not None
    assert [(w.value, w.changed) for w in second.watches] == [(2, True)]
    dbg.continue_execution()
    assert dbg.wait_for_stop(WAIT) is None
