"""Property tests: random DAGs load; an injected cycle is reported as a real cycle."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowscope.errors import CycleError
from flowscope.model import workflow_from_dict


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], dict[str, list[str]]]:
    """Steps in a random order; each needs only steps that come earlier in a hidden order."""
    size = draw(st.integers(min_value=1, max_value=12))
    ids = [f"s{i}" for i in range(size)]
    needs: dict[str, list[str]] = {}
    for i, step_id in enumerate(ids):
        earlier = ids[:i]
        needs[step_id] = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
    order = draw(st.permutations(ids))
    return list(order), needs


def as_definition(order: list[str], needs: dict[str, list[str]]) -> dict[str, Any]:
    steps = []
    for step_id in order:
        step: dict[str, Any] = {"id": step_id, "uses": "pkg.mod:fn"}
        if needs[step_id]:
            step["needs"] = needs[step_id]
            # Read one ancestor's output: always allowed, since it is in `needs`.
            step["with"] = {"x": "${{ steps." + needs[step_id][0] + ".output }}"}
        steps.append(step)
    return {"name": "random", "steps": steps}


@settings(max_examples=150, deadline=None)
@given(dags())
def test_random_dags_load(dag: tuple[list[str], dict[str, list[str]]]) -> None:
    order, needs = dag
    wf = workflow_from_dict(as_definition(order, needs))
    assert wf.step_ids == tuple(order)
    for step_id, deps in needs.items():
        assert wf.step(step_id).needs == tuple(deps)
        assert wf.ancestors(step_id) >= set(deps)
    assert workflow_from_dict(wf.definition).definition_hash == wf.definition_hash


@st.composite
def cyclic(draw: st.DrawFn) -> tuple[list[str], dict[str, list[str]]]:
    """A random DAG plus one edge from a step to one of its descendants (or itself's chain)."""
    order, needs = draw(dags())
    # Pick a path in the hidden order: a lower step and a higher one that reaches it.
    ids = sorted(needs, key=lambda s: int(s[1:]))
    low = draw(st.integers(min_value=0, max_value=len(ids) - 1))
    high = draw(st.integers(min_value=low, max_value=len(ids) - 1))
    # Force a chain low <- ... <- high by adding needs along consecutive ids, then close it.
    for i in range(low + 1, high + 1):
        if ids[i - 1] not in needs[ids[i]]:
            needs[ids[i]] = [*needs[ids[i]], ids[i - 1]]
    if low == high:
        # A two-step cycle needs a partner; add one that needs `low` and is needed by it.
        partner = f"s{len(ids)}"
        needs[partner] = [ids[low]]
        order.append(partner)
        high_id = partner
    else:
        high_id = ids[high]
    needs[ids[low]] = [*needs[ids[low]], high_id]
    return order, needs


@settings(max_examples=150, deadline=None)
@given(cyclic())
def test_injected_cycle_is_reported(graph: tuple[list[str], dict[str, list[str]]]) -> None:
    order, needs = graph
    definition = as_definition(order, needs)
    for step in definition["steps"]:
        step.pop("with", None)  # keep the test about the graph alone
    try:
        workflow_from_dict(definition)
    except CycleError as err:
        cycle = err.cycle
        assert len(cycle) >= 2
        assert len(set(cycle)) == len(cycle)
        # Each step of the cycle runs before the next, i.e. the next one needs it.
        for before, after in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            assert before in needs[after], (before, after, cycle)
        assert " -> ".join([*cycle, cycle[0]]) in str(err)
    else:
        raise AssertionError("a definition with a cycle loaded")
