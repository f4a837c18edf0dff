"""Property tests: random DAGs keep the scheduling rules.

The run status machine is checked in ``test_run_status_machine.py``, against its own model.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowscope.engine import Engine, RunStatus, StepStatus
from flowscope.model import workflow_from_dict
from flowscope.store import open_store


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 10))
    steps = []
    for i in range(n):
        needs = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        steps.append({
            "id": f"s{i}",
            "needs": [f"s{j}" for j in needs],
            "skip": draw(st.booleans()) and draw(st.booleans()),
            "fail": draw(st.integers(0, 9)) == 0,
            "sleep": draw(st.sampled_from([0, 0, 0.001])),
        })
    return {"steps": steps, "limit": draw(st.integers(1, 4))}


def expected_statuses(spec: dict[str, Any]) -> dict[str, StepStatus]:
    out: dict[str, StepStatus] = {}
    for s in spec["steps"]:
        if any(out[n] is not StepStatus.COMPLETED for n in s["needs"]) or s["skip"]:
            out[s["id"]] = StepStatus.SKIPPED
        elif s["fail"]:
            out[s["id"]] = StepStatus.FAILED
        else:
            out[s["id"]] = StepStatus.COMPLETED
    return out


@settings(max_examples=60, deadline=None)
@given(spec=dags())
def test_random_dags_follow_the_rules(spec: dict[str, Any]) -> None:
    calls: list[str] = []
    finished: set[str] = set()
    live = 0
    peak = 0
    needs = {s["id"]: s["needs"] for s in spec["steps"]}

    async def work(name: str, fail: bool, sleep: float) -> str:
        nonlocal live, peak
        assert all(n in finished for n in needs[name]), f"{name} started before its needs"
        calls.append(name)
        live += 1
        peak = max(peak, live)
        try:
            await asyncio.sleep(sleep)
            if fail:
                raise ValueError(f"{name} failed on purpose")
            return name
        finally:
            live -= 1
            finished.add(name)

    definition = {
        "name": "random",
        "steps": [
            {"id": s["id"], "uses": "work", "needs": s["needs"],
             "if": "false" if s["skip"] else "true",
             "with": {"name": s["id"], "fail": s["fail"], "sleep": s["sleep"]}}
            for s in spec["steps"]
        ],
    }
    store = open_store("memory")
    engine = Engine(store, actions={"work": work}, max_concurrency=spec["limit"])
    result = engine.run(workflow_from_dict(definition))

    assert len(calls) == len(set(calls)), "a step ran twice"
    assert peak <= spec["limit"]
    expected = expected_statuses(spec)
    got = {s.step_id: s.status for s in store.get_steps(result.id)}
    assert got == expected
    assert set(calls) == {k for k, v in expected.items() if v is not StepStatus.SKIPPED}
    any_failed = StepStatus.FAILED in expected.values()
    assert result.status is (RunStatus.FAILED if any_failed else RunStatus.COMPLETED)
    if any_failed:
        first_failed = next(s.step_id for s in store.get_steps(result.id)
                        if s.status is StepStatus.FAILED)
        assert result.failed_step == first_failed
    for att in store.get_steps(result.id):
        if att.status is StepStatus.SKIPPED and att.skip_reason == "upstream":
            assert att.cause_step_id in needs[att.step_id]
            assert got[att.cause_step_id] is not StepStatus.COMPLETED
