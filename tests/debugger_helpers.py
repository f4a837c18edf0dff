"""Shared helpers of the debugger tests: workflows and the transcript driver."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flowscope.debugger import WorkflowDebugger
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict

#: Seconds to wait for a stop; a correct run stops within milliseconds.
WAIT = 10.0

GRANDCHILD = {"name": "grand", "steps": [
    {"id": "g1", "uses": "rec", "with": {"name": "g1"}},
    {"id": "g2", "uses": "rec", "needs": ["g1"], "with": {"name": "g2"}},
]}
CHILD = {"name": "child", "steps": [
    {"id": "c1", "uses": "rec", "with": {"name": "c1"}},
    {"id": "csub", "needs": ["c1"], "workflow": "grand", "workflow_definition": GRANDCHILD},
    {"id": "c2", "uses": "rec", "needs": ["csub"], "with": {"name": "c2"}},
]}
NESTED = {"name": "nested", "steps": [
    {"id": "a", "uses": "rec", "with": {"name": "a"}, "set": {"n": 1}},
    {"id": "sub", "needs": ["a"], "workflow": "child", "workflow_definition": CHILD},
    {"id": "p1", "uses": "rec", "needs": ["sub"], "with": {"name": "p1"}},
    {"id": "p2", "uses": "rec", "needs": ["sub"], "with": {"name": "p2"}},
    {"id": "z", "uses": "rec", "needs": ["p1", "p2"], "with": {"name": "z"}},
]}


def nested() -> Any:
    """Two levels of sub-workflows, then two parallel branches."""
    return workflow_from_dict(NESTED)


def make_engine(store: Any, **actions: Any) -> tuple[Engine, Counter[str]]:
    """An engine whose ``rec`` action counts calls by name and returns the name."""
    calls: Counter[str] = Counter()

    async def rec(name: str, value: Any = None) -> Any:
        calls[name] += 1
        return name if value is None else value

    return Engine(store, actions={"rec": rec, **actions}), calls


Expected = tuple[str, str, int]
Transcript = list[tuple[Expected, str]]


def run_transcript(dbg: WorkflowDebugger, wf: Any, transcript: Transcript, *,
                   dry_run: bool = False, inputs: dict[str, Any] | None = None,
                   **start: Any) -> Any:
    """Drive a run: at each stop check (reason, step, depth), then give the command.

    With ``dry_run`` the actual transcript is printed instead of checked (use it to write
    a new test, then check every line by hand).
    """
    handle = dbg.start(wf, inputs, **start)
    actual: Transcript = []
    for i, (expected, command) in enumerate(transcript):
        stop = dbg.wait_for_stop(WAIT)
        got = None if stop is None else (stop.reason.value, stop.step_id, stop.depth)
        if dry_run:
            print(f"    ({got!r}, {command!r}),")
            if stop is None:
                break
        else:
            assert got == expected, f"stop {i}: expected {expected}, got {got}; so far {actual}"
        assert stop is not None
        actual.append((got, command))  # type: ignore[arg-type]
        getattr(dbg, command)()
    last = dbg.wait_for_stop(WAIT)
    while dry_run and last is not None:
        print(f"    (({last.reason.value!r}, {last.step_id!r}, {last.depth}), '...'),")
        dbg.continue_execution()
        last = dbg.wait_for_stop(WAIT)
    assert last is None, f"unexpected extra stop {last}"
    return handle.result(WAIT)
