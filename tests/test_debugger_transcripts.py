"""Stepping as transcripts (the bdb way): each stop (reason, step, depth) and the command
given there. The workflow: a -> sub[c1 -> csub[g1 -> g2] -> c2] -> (p1 | p2) -> z.

To write a new transcript, call ``run_transcript(..., dry_run=True)`` and read it.
"""

from __future__ import annotations

from typing import Any

import pytest

from debugger_helpers import CHILD, Transcript, make_engine, nested, run_transcript
from flowscope.debugger import WorkflowDebugger
from flowscope.engine import RunStatus

OVER: Transcript = [
    (("entry", "a", 1), "step_over"),
    (("step", "sub", 1), "step_over"),  # the whole sub-workflow runs
    (("step", "p1", 1), "step_over"),
    (("step", "p2", 1), "step_over"),  # the parallel branch is the same frame
    (("step", "z", 1), "step_over"),
]

INTO: Transcript = [
    (("entry", "a", 1), "step_into"),  # plain step: like step_over
    (("step", "sub", 1), "step_into"),
    (("step", "c1", 2), "step_into"),
    (("step", "csub", 2), "step_into"),
    (("step", "g1", 3), "step_into"),
    (("step", "g2", 3), "step_into"),  # the grandchild ends: next step of its parent
    (("step", "c2", 2), "step_into"),
    (("step", "p1", 1), "step_into"),
    (("step", "p2", 1), "step_into"),
    (("step", "z", 1), "step_into"),
]

OUT: Transcript = [
    (("entry", "a", 1), "step_into"),
    (("step", "sub", 1), "step_into"),
    (("step", "c1", 2), "step_into"),
    (("step", "csub", 2), "step_into"),
    (("step", "g1", 3), "step_out"),  # g2 runs; stop at the parent's next step
    (("step", "c2", 2), "step_out"),
    (("step", "p1", 1), "step_out"),  # step_out of the root: run to the end
]

OVER_IN_CHILD: Transcript = [
    (("entry", "a", 1), "step_into"),
    (("step", "sub", 1), "step_into"),
    (("step", "c1", 2), "step_over"),
    (("step", "csub", 2), "step_over"),  # the grandchild runs whole
    (("step", "c2", 2), "step_over"),  # the child ends: the next step of the parent
    (("step", "p1", 1), "continue_execution"),
]

BREAKPOINTS: Transcript = [
    (("breakpoint", "g2", 3), "step_over"),
    (("step", "c2", 2), "continue_execution"),
    (("breakpoint", "p2", 1), "continue_execution"),
]


@pytest.mark.parametrize(("name", "transcript"), [
    ("over", OVER), ("into", INTO), ("out", OUT), ("over_in_child", OVER_IN_CHILD),
])
def test_stepping_transcripts(store: Any, name: str, transcript: Transcript) -> None:
    engine, calls = make_engine(store)
    dbg = WorkflowDebugger(engine, user="ann")
    result = run_transcript(dbg, nested(), transcript, stop_on_entry=True)
    assert result.status is RunStatus.COMPLETED
    assert set(calls.values()) == {1} and len(calls) == 8  # every step ran exactly once
    dbg.close()


def test_breakpoints_in_grandchild_and_branch(store: Any) -> None:
    engine, _ = make_engine(store)
    dbg = WorkflowDebugger(engine, user="ann")
    dbg.set_breakpoint("g2")
    dbg.set_breakpoint("p2")
    assert run_transcript(dbg, nested(), BREAKPOINTS).ok


def test_no_breakpoints_and_continue_never_stops(memory_store: Any) -> None:
    engine, calls = make_engine(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    assert run_transcript(dbg, nested(), []).ok
    assert sum(calls.values()) == 8


def test_stop_reports_frames_root_to_here(memory_store: Any) -> None:
    engine, _ = make_engine(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    dbg.set_breakpoint("g1")
    handle = dbg.start(nested())
    stop = dbg.wait_for_stop(10)
    assert stop is not None and stop.breakpoint is not None
    assert [f.step_id for f in stop.frames] == ["sub", "csub", "g1"]
    assert [f.workflow for f in stop.frames] == ["nested", "child", "grand"]
    assert stop.frames[0].run_id == handle.run_id and stop.run_id == stop.frames[-1].run_id
    state = dbg.get_execution_state()
    assert state["status"] == "paused" and state["step_id"] == "g1"
    assert memory_store.get_run(handle.run_id).status is RunStatus.PAUSED  # ancestors too
    dbg.continue_execution()
    assert handle.result(10).ok
    assert dbg.wait_for_stop(10) is None


def test_pause_stops_before_the_next_step(memory_store: Any) -> None:
    import threading

    release, started = threading.Event(), threading.Event()
    engine, _ = make_engine(memory_store)

    def slow(name: str) -> str:
        started.set()
        release.wait(10)
        return name

    engine.register_action("slow", slow)
    from flowscope.model import workflow_from_dict

    wf = workflow_from_dict({"name": "w", "steps": [
        {"id": "s1", "uses": "slow", "with": {"name": "s1"}},
        {"id": "s2", "uses": "rec", "needs": ["s1"], "with": {"name": "s2"}}]})
    dbg = WorkflowDebugger(engine, user="ann")
    handle = dbg.start(wf)
    assert started.wait(10)
    dbg.pause_execution()
    release.set()
    stop = dbg.wait_for_stop(10)
    assert stop is not None and (stop.reason.value, stop.step_id) == ("pause", "s2")
    dbg.continue_execution()
    assert handle.result(10).ok


SIBLING = {"name": "sibling", "steps": [
    {"id": "a", "uses": "rec", "with": {"name": "a"}},
    {"id": "sub", "needs": ["a"], "workflow": "child", "workflow_definition": CHILD},
    {"id": "sib", "uses": "rec", "needs": ["a"], "with": {"name": "sib"}},
    {"id": "z", "uses": "rec", "needs": ["sub", "sib"], "with": {"name": "z"}},
]}

INTO_PAST_A_READY_SIBLING: Transcript = [
    (("entry", "a", 1), "step_over"),
    (("step", "sub", 1), "step_into"),  # sib is ready too, held at the gate
    (("step", "c1", 2), "step_over"),  # entered the child: sib did not steal the stop
    (("step", "csub", 2), "step_over"),
    (("step", "c2", 2), "step_over"),
    (("step", "z", 1), "step_over"),
]


def test_step_into_enters_the_child_while_a_sibling_is_ready(memory_store: Any) -> None:
    engine, calls = make_engine(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    from flowscope.model import workflow_from_dict

    result = run_transcript(dbg, workflow_from_dict(SIBLING), INTO_PAST_A_READY_SIBLING,
                            stop_on_entry=True)
    assert result.ok and set(calls.values()) == {1} and len(calls) == 7
