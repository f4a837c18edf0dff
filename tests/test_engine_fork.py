"""Fork: reuse recorded outputs before the fork point, never repeat external calls there."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from flowscope.engine import Engine, RunStatus, StepStatus
from flowscope.errors import FlowscopeError
from flowscope.model import workflow_from_dict

DEFINITION = {
    "name": "orders",
    "inputs": {"qty": {"type": "integer", "default": 2}},
    "steps": [
        {"id": "price", "uses": "count", "with": {"name": "price", "value": 10}},
        {"id": "charge", "uses": "count", "needs": ["price"], "effects": "external",
         "with": {"name": "charge", "value": "${{ steps.price.output * inputs.qty }}"},
         "set": {"charged": "${{ output }}"}},
        {"id": "total", "uses": "count", "needs": ["charge"],
         "with": {"name": "total", "value": "${{ vars.charged + 1 }}"}},
        {"id": "mail", "uses": "count", "needs": ["total"], "effects": "external",
         "with": {"name": "mail", "value": "${{ steps.total.output }}"}},
    ],
    "outputs": {"total": "${{ steps.total.output }}"},
}


@pytest.fixture
def setup(store: Any) -> tuple[Engine, Counter[str], Any]:
    calls: Counter[str] = Counter()

    def count(name: str, value: Any) -> Any:
        calls[name] += 1
        return value

    return Engine(store, actions={"count": count}), calls, store


def test_fork_reuses_outputs_and_applies_edits(setup: tuple[Engine, Counter[str], Any]) -> None:
    engine, calls, store = setup
    wf = workflow_from_dict(DEFINITION)
    first = engine.run(wf)
    assert first.outputs == {"total": 21}
    calls.clear()

    preview = engine.fork_preview(first.id, "total")
    assert preview["reuse"] == ["price", "charge"]
    assert preview["run"] == ["total", "mail"]
    assert preview["external_repeated"] == ["mail"]
    assert preview["external_reused"] == ["charge"]

    fork = engine.fork(first.id, "total", state_edits={"vars.charged": 100})
    assert fork.status is RunStatus.COMPLETED
    assert fork.outputs == {"total": 101}
    assert calls == Counter({"total": 1, "mail": 1})  # charge (external) was not repeated
    run = store.get_run(fork.id)
    assert (run.forked_from_run_id, run.forked_from_step) == (first.id, "total")
    steps = {s.step_id: s for s in store.get_steps(fork.id)}
    assert steps["charge"].reused_from_run_id == first.id
    assert steps["charge"].output == 20
    assert steps["total"].reused_from_run_id is None


def test_fork_edits_reused_outputs_and_inputs(setup: tuple[Engine, Counter[str], Any]) -> None:
    engine, calls, _ = setup
    first = engine.run(workflow_from_dict(DEFINITION))
    calls.clear()
    fork = engine.fork(first.id, "charge", {"steps.price.output": 7, "inputs.qty": 3})
    assert fork.outputs == {"total": 22}
    assert calls == Counter({"charge": 1, "total": 1, "mail": 1})


def test_fork_rerun_effects_repeats_external_steps(
    setup: tuple[Engine, Counter[str], Any],
) -> None:
    engine, calls, _ = setup
    first = engine.run(workflow_from_dict(DEFINITION))
    calls.clear()
    preview = engine.fork_preview(first.id, "total", rerun_effects=True)
    assert preview["reuse"] == ["price"]
    assert preview["external_repeated"] == ["charge", "mail"]
    engine.fork(first.id, "total", rerun_effects=True)
    assert calls == Counter({"charge": 1, "total": 1, "mail": 1})


def test_fork_of_a_failed_run_runs_the_failed_part(memory_store: Any) -> None:
    state = {"broken": True}

    def step(name: str) -> str:
        if name == "b" and state["broken"]:
            raise ValueError("b is broken")
        return name

    wf = workflow_from_dict({"name": "f", "steps": [
        {"id": "a", "uses": "s", "with": {"name": "a"}},
        {"id": "b", "uses": "s", "needs": ["a"], "with": {"name": "b"}},
    ]})
    engine = Engine(memory_store, actions={"s": step})
    failed = engine.run(wf)
    assert failed.status is RunStatus.FAILED
    state["broken"] = False
    fork = engine.fork(failed.id, "b")
    assert fork.ok
    statuses = [(s.step_id, s.status) for s in memory_store.get_steps(fork.id)]
    assert statuses == [("a", StepStatus.COMPLETED), ("b", StepStatus.COMPLETED)]


def test_fork_bad_arguments(setup: tuple[Engine, Counter[str], Any]) -> None:
    engine, _, _ = setup
    first = engine.run(workflow_from_dict(DEFINITION))
    with pytest.raises(FlowscopeError, match="no step 'nope'"):
        engine.fork(first.id, "nope")
    with pytest.raises(FlowscopeError, match="not reused"):
        engine.fork(first.id, "price", {"steps.total.output": 1})
    with pytest.raises(FlowscopeError, match="cannot edit"):
        engine.fork(first.id, "total", {"outputs.x": 1})
