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


# -- the richer half: edits, restore, watches, logpoints, conditions ---------------------------

#: s0 -> s1 -> ... -> s5; each returns its number and sets vars.last to it.
CHAIN = {"name": "chain", "steps": [
    {"id": f"s{i}", "uses": "rec", "needs": [f"s{i - 1}"] if i else [],
     "with": {"name": f"s{i}", "value": i}, "set": {"last": "${{ output }}"}}
    for i in range(6)
], "outputs": {"last": "${{ vars.last }}"}}

EDITS: Transcript = [
    (("breakpoint", "s2", 1), ("evaluate", "vars.last"), 1),
    (("breakpoint", "s2", 1), ("set_variable", "vars.last", 41), 1),  # returns the old value
    (("breakpoint", "s2", 1), ("evaluate", "vars.last + 1"), 42),
    (("breakpoint", "s2", 1), ("set_variable", "input.value", 99), 2),  # the pending input
    (("breakpoint", "s2", 1), ("inspect", "input.value"), {
        "path": "input.value", "value": 99,
        "preview": {"type": "int", "length": None, "text": "99", "truncated": False}}),
    (("breakpoint", "s2", 1), "step_over"),
    (("step", "s3", 1), ("evaluate", "steps.s2.output"), 99),  # s2 ran with the edit
    (("step", "s3", 1), ("evaluate", "vars.last"), 99),
    (("step", "s3", 1), "continue"),
]

CONDITIONS: Transcript = [
    (("entry", "s0", 1), ("break", "s1", {"condition": "vars.last == 7"})),  # never holds
    (("entry", "s0", 1), ("break", "s3", {"condition": "vars.last >= 2"})),
    (("entry", "s0", 1), ("break", "s4", {"hit_condition": "== 2"})),  # one hit per run
    (("entry", "s0", 1), ("break", "s5", {"hit_limit": 1})),
    (("entry", "s0", 1), "continue"),
    (("breakpoint", "s3", 1), ("evaluate", "vars.last"), 2),
    (("breakpoint", "s3", 1), "continue"),
    (("breakpoint", "s5", 1), "continue"),
]

RESTORE: Transcript = [
    (("breakpoint", "s4", 1), ("evaluate", "vars.last"), 3),
    (("breakpoint", "s4", 1), ("restore", 3), {"rerun": ["s2", "s3"], "kept": []}),
    (("step", "s2", 1), ("evaluate", "vars.last"), 1),  # the state before s2 again
    (("step", "s2", 1), ("clear_breakpoint", "s4"), True),
    (("step", "s2", 1), "continue"),
]

WATCHES: Transcript = [
    (("breakpoint", "s1", 1), ("watch", "vars.last")),  # baseline: 0 here
    (("breakpoint", "s1", 1), ("watch", "nope.x")),
    (("breakpoint", "s1", 1), "step_over"),
    (("step", "s2", 1, (("vars.last", 1, True), ("nope.x", None, False))), "step_over"),
    (("step", "s3", 1, (("vars.last", 2, True), ("nope.x", None, False))),
     ("unwatch", "nope.x"), True),
    (("step", "s3", 1, (("vars.last", 2, True), ("nope.x", None, False))), "continue"),
]

STOP_ON_CHANGE: Transcript = [
    (("breakpoint", "s2", 1), ("watch", "vars.last > 2", {"stop_on_change": True})),
    (("breakpoint", "s2", 1), ("clear_breakpoint", "s2"), True),
    (("breakpoint", "s2", 1), "continue"),
    (("watch", "s4", 1, (("vars.last > 2", True, True),)), "continue"),  # false -> true
]

LOGPOINTS: Transcript = [
    (("entry", "s0", 1), ("break", "s2", {"log_message": "at {input.name}: last={vars.last}"})),
    (("entry", "s0", 1), ("break", "s3", {"log_message": "s3 {vars.last}",
                                          "condition": "vars.last > 5"})),  # never logs
    (("entry", "s0", 1), ("break", "s4")),
    (("entry", "s0", 1), ("logs",), []),
    (("entry", "s0", 1), "continue"),  # logpoints never stop
    (("breakpoint", "s4", 1), ("logs",), ["at s2: last=1"]),
    (("breakpoint", "s4", 1), "continue"),
]


@pytest.mark.parametrize(("name", "transcript", "breaks", "outputs"), [
    ("edits", EDITS, ["s2"], {"last": 5}),
    ("conditions", CONDITIONS, [], {"last": 5}),
    ("restore", RESTORE, ["s4"], {"last": 5}),
    ("watches", WATCHES, ["s1"], {"last": 5}),
    ("stop_on_change", STOP_ON_CHANGE, ["s2"], {"last": 5}),
    ("logpoints", LOGPOINTS, [], {"last": 5}),
])
def test_inspect_edit_restore_watch_transcripts(
        store: Any, name: str, transcript: Transcript, breaks: list[str],
        outputs: dict[str, Any]) -> None:
    engine, _ = make_engine(store)
    dbg = WorkflowDebugger(engine, user="ann")
    for step in breaks:
        dbg.set_breakpoint(step)
    from flowscope.model import workflow_from_dict

    result = run_transcript(dbg, workflow_from_dict(CHAIN), transcript,
                            stop_on_entry=name in ("conditions", "logpoints"))
    assert result.ok and result.outputs == outputs
    dbg.close()


def test_dry_run_prints_the_actual_transcript(memory_store: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    engine, _ = make_engine(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    dbg.set_breakpoint("s4")
    from flowscope.model import workflow_from_dict

    wrong: Transcript = [(("step", "nowhere", 9), ("evaluate", "vars.last"), 0),
                         (("step", "nowhere", 9), "continue")]
    assert run_transcript(dbg, workflow_from_dict(CHAIN), wrong, dry_run=True).ok
    assert capsys.readouterr().out.splitlines() == [
        "    (('breakpoint', 's4', 1), ('evaluate', 'vars.last'), 3),",
        "    (('breakpoint', 's4', 1), 'continue'),",
    ]
