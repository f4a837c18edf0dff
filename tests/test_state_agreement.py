"""One truth for run state: what each step saw is what the journal rebuilds, everywhere.

Random workflows (steps that ``set`` variables and read them back) run under a debug
session that stops at random steps and edits ``vars`` there. Every step receives the
whole of ``vars`` as an input, so its recorded input is what it saw. Then, for every step
boundary, the engine's fold of the journal (``vars_before``), the trace, a fork from that
step and a resume's starting state must all agree with what the step saw.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowscope.debugger import WorkflowDebugger
from flowscope.debugger.traces import build_trace
from flowscope.diagnosis import analyse_run
from flowscope.diagnosis.context import error_context
from flowscope.engine import Engine, RunStatus
from flowscope.engine.state import STATE_KINDS, fold_vars, vars_before
from flowscope.model import workflow_from_dict

WAIT = 10.0


async def echo(seen: Any, value: Any) -> Any:
    return value


async def boom(seen: Any, value: Any) -> Any:
    raise KeyError(f"missing {value}")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, tuple[str, int]]]:
    n = draw(st.integers(min_value=2, max_value=6))
    steps: list[dict[str, Any]] = []
    for i in range(n):
        step: dict[str, Any] = {"id": f"s{i}", "uses": "echo",
                                "with": {"seen": "${{ vars }}", "value": i}}
        if i:
            # Any earlier steps as needs: chains, fan-ins and independent branches.
            needs = draw(st.lists(st.sampled_from([f"s{j}" for j in range(i)]),
                                  max_size=2, unique=True))
            if needs:
                step["needs"] = needs
        if draw(st.booleans()):
            var = draw(st.sampled_from(["a", "b", "c"]))
            step["set"] = {var: "${{ output }}"}
        steps.append(step)
    edits = draw(st.dictionaries(
        st.sampled_from([f"s{i}" for i in range(1, n)]),
        st.tuples(st.sampled_from(["a", "b", "d"]), st.integers(100, 999)), max_size=3))
    if draw(st.booleans()):
        # The last step fails: error context must show the state it started with.
        steps[-1]["uses"] = "boom"
    return {"name": "agree", "steps": steps}, edits


def run_with_edits(store: Any, definition: dict[str, Any],
                   edits: dict[str, tuple[str, int]]) -> str:
    engine = Engine(store, actions={"echo": echo, "boom": boom}, max_concurrency=1)
    dbg = WorkflowDebugger(engine, user="ann")
    try:
        for step_id in edits:
            dbg.set_breakpoint(step_id)
        handle = dbg.start(workflow_from_dict(definition))
        for _ in range(len(edits)):
            stop = dbg.wait_for_stop(WAIT)
            if stop is None:
                break
            var, value = edits[stop.step_id]
            assert dbg.session is not None
            dbg.session.set_variable(f"vars.{var}", value)
            dbg.continue_execution()
        result = handle.result(WAIT)
        failing = definition["steps"][-1]["uses"] == "boom"
        assert result.status is (RunStatus.FAILED if failing else RunStatus.COMPLETED)
        return result.id
    finally:
        dbg.close()
        engine.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_every_reader_agrees_on_the_state_at_every_step_boundary(
        sqlite_store: Any, scenario: tuple[dict[str, Any], dict[str, tuple[str, int]]]) -> None:
    definition, edits = scenario
    run_id = run_with_edits(sqlite_store, definition, edits)
    store = sqlite_store
    seen = {a.step_id: a.input["seen"] for a in store.get_steps(run_id)}
    assert set(seen) == {s["id"] for s in definition["steps"]}
    events = store.get_events(run_id, kinds=STATE_KINDS)
    # The engine's fold of the journal.
    for step_id, saw in seen.items():
        assert vars_before(events, step_id) == saw, step_id
    # The trace of each attempt.
    for entry in build_trace(store, run_id):
        assert entry.vars_before == seen[entry.step_id], entry.step_id
    # Resume starts from the same fold as the run's own final variables.
    assert fold_vars(events) == dict(store.get_run(run_id).vars)
    # Error context shows the state the failing step started with.
    if store.get_run(run_id).status is RunStatus.FAILED:
        context = error_context(store, analyse_run(store, run_id))
        assert context["vars"] == seen[context["step_id"]]
    # A fork from each step gives that step exactly what it saw in the source run.
    engine = Engine(store, actions={"echo": echo, "boom": boom}, max_concurrency=1)
    try:
        for step_id, saw in seen.items():
            fork = engine.fork(run_id, step_id)
            assert fork.status in (RunStatus.COMPLETED, RunStatus.FAILED)
            forked = {a.step_id: a for a in store.get_steps(fork.id)}
            assert forked[step_id].input is not None
            assert forked[step_id].input["seen"] == saw, step_id
    finally:
        engine.close()
