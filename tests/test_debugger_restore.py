"""Restore keeps the recorded results of steps with external effects (unless asked)."""

from __future__ import annotations

from typing import Any

import pytest

from debugger_helpers import WAIT, Transcript, make_engine, run_transcript
from flowscope.debugger import WorkflowDebugger
from flowscope.model import workflow_from_dict

CHARGE = {"name": "charge", "steps": [
    {"id": "s0", "uses": "rec", "with": {"name": "s0", "value": 1}, "set": {"x": 1}},
    {"id": "charge", "uses": "pay", "needs": ["s0"], "effects": "external",
     "with": {"amount": 10}, "set": {"charged": "${{ output }}"}},
    {"id": "s2", "uses": "rec", "needs": ["charge"],
     "with": {"name": "s2", "value": "${{ vars.charged }}"}},
    {"id": "s3", "uses": "rec", "needs": ["s2"], "with": {"name": "s3"}},
], "outputs": {"seen": "${{ steps.s2.output }}"}}


def charging(store: Any) -> tuple[Any, Any, list[int]]:
    """An engine whose ``pay`` action counts its calls (the side effect)."""
    payments: list[int] = []

    def pay(amount: int) -> int:
        payments.append(amount)
        return amount * len(payments)  # a second call would charge a different amount

    engine, calls = make_engine(store, pay=pay)
    return engine, calls, payments


def test_restore_does_not_repeat_an_external_step(store: Any) -> None:
    engine, calls, payments = charging(store)
    dbg = WorkflowDebugger(engine, user="ann")
    dbg.set_breakpoint("s3")
    handle = dbg.start(workflow_from_dict(CHARGE))
    stop = dbg.wait_for_stop(WAIT)
    assert stop is not None and stop.step_id == "s3"
    before_charge = next(s for s in dbg.get_snapshots() if s.step_id == "charge")
    dbg.restore_snapshot(before_charge.id)
    again = dbg.wait_for_stop(WAIT)
    assert again is not None and again.step_id == "s2"  # charge kept its result
    dbg.clear_breakpoint("s3")
    dbg.continue_execution()
    assert dbg.wait_for_stop(WAIT) is None
    result = handle.result(WAIT)
    assert payments == [10]  # the payment was made once
    assert result.outputs == {"seen": 10}  # its `set` still feeds the steps after it
    assert calls["s2"] == 2 and calls["s0"] == 1
    dbg.close()


KEEP: Transcript = [
    (("breakpoint", "s3", 1), ("evaluate", "vars.charged"), 10),
    (("breakpoint", "s3", 1), ("restore", 2), {"rerun": ["s2"], "kept": ["charge"]}),
    (("step", "s2", 1), ("evaluate", "steps.charge.output"), 10),  # its recorded result
    (("step", "s2", 1), ("evaluate", "vars.charged"), 10),  # and the vars it set
    (("step", "s2", 1), ("clear_breakpoint", "s3"), True),
    (("step", "s2", 1), "continue"),
]

RERUN: Transcript = [
    (("breakpoint", "s3", 1), ("restore", 2, {"rerun_effects": True}),
     {"rerun": ["charge", "s2"], "kept": []}),
    (("step", "charge", 1), ("evaluate", "vars"), {"x": 1}),
    (("step", "charge", 1), ("clear_breakpoint", "s3"), True),
    (("step", "charge", 1), "continue"),
]


@pytest.mark.parametrize(("name", "transcript", "paid", "seen"), [
    ("keep", KEEP, [10], 10), ("rerun_effects", RERUN, [10, 10], 20),
])
def test_restore_transcripts(memory_store: Any, name: str, transcript: Transcript,
                             paid: list[int], seen: int) -> None:
    engine, _, payments = charging(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    dbg.set_breakpoint("s3")
    result = run_transcript(dbg, workflow_from_dict(CHARGE), transcript)
    assert payments == paid and result.outputs == {"seen": seen}
    dbg.close()


def test_the_facade_restore_snapshot_may_rerun_effects(memory_store: Any) -> None:
    engine, _, payments = charging(memory_store)
    dbg = WorkflowDebugger(engine, user="ann")
    dbg.set_breakpoint("s3")
    handle = dbg.start(workflow_from_dict(CHARGE))
    assert dbg.wait_for_stop(WAIT) is not None
    dbg.clear_breakpoint("s3")
    state = dbg.restore_snapshot(2, rerun_effects=True)
    assert set(state["steps"]) == {"s0"}
    again = dbg.wait_for_stop(WAIT)
    assert again is not None and again.step_id == "charge"
    dbg.continue_execution()
    assert dbg.wait_for_stop(WAIT) is None
    assert handle.result(WAIT).ok and payments == [10, 10]
    dbg.close()
