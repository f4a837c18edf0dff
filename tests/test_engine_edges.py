"""Edge cases of the engine: failing templates, sub-workflow timeouts and cancellation."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from flowscope.engine import Engine, EngineHooks, RunStatus, StepStatus
from flowscope.errors import FlowscopeError
from flowscope.model import workflow_from_dict


def wf(steps: list[dict[str, Any]], **extra: Any) -> Any:
    return workflow_from_dict({"name": "edges", "steps": steps, **extra})


def echo(value: Any = None) -> Any:
    return value


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ({"id": "b", "uses": "echo", "needs": ["a"], "if": "steps.a.output.missing > 1"},
         "missing"),
        ({"id": "b", "uses": "echo", "needs": ["a"],
          "with": {"value": "${{ steps.a.output.nope }}"}}, "nope"),
        ({"id": "b", "uses": "echo", "needs": ["a"], "with": {"value": 1},
          "set": {"x": "${{ output.field }}"}}, "field"),
    ],
    ids=["if", "with", "set"],
)
def test_a_template_that_fails_at_run_time_fails_the_step(
    memory_store: Any, step: dict[str, Any], needle: str
) -> None:
    w = wf([{"id": "a", "uses": "echo", "with": {"value": {"k": 1}}}, step])
    result = Engine(memory_store, actions={"echo": echo}).run(w)
    assert result.status is RunStatus.FAILED and result.failed_step == "b"
    assert result.error is not None and result.error.category == "validation"
    assert needle in result.error.message


def test_outputs_that_fail_to_render_fail_the_run(memory_store: Any) -> None:
    w = wf([{"id": "a", "uses": "echo", "with": {"value": 1}}],
           outputs={"x": "${{ steps.a.output.deep }}"})
    result = Engine(memory_store, actions={"echo": echo}).run(w)
    assert result.status is RunStatus.FAILED and result.failed_step is None
    assert result.error is not None and "deep" in result.error.message


def _child(sleep: float) -> dict[str, Any]:
    return {"name": "child", "steps": [{"id": "nap", "uses": "nap", "with": {"s": sleep}}],
            "outputs": {"slept": "${{ steps.nap.output }}"}}


async def nap(s: float) -> float:
    await asyncio.sleep(s)
    return s


def test_sub_workflow_step_timeout(memory_store: Any) -> None:
    engine = Engine(memory_store, actions={"nap": nap})
    ok = engine.run(wf([{"id": "sub", "workflow": "child", "workflow_definition": _child(0.01),
                         "timeout": 5}], outputs={"s": "${{ steps.sub.output.slept }}"}))
    assert ok.ok and ok.outputs == {"s": 0.01}
    slow = engine.run(wf([{"id": "sub", "workflow": "child",
                           "workflow_definition": _child(5), "timeout": 0.1}]))
    assert slow.status is RunStatus.FAILED
    assert slow.error is not None and slow.error.category == "timeout"
    [child] = memory_store.list_runs(parent_run_id=slow.id)
    assert child.status is RunStatus.CANCELLED


def test_cancelling_a_run_cancels_its_running_sub_workflow(memory_store: Any) -> None:
    started = threading.Event()

    async def block(s: float) -> None:
        started.set()
        await asyncio.sleep(s)

    engine = Engine(memory_store, actions={"nap": block})
    w = wf([{"id": "sub", "workflow": "child", "workflow_definition": _child(10)}])
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.setdefault("r", engine.run(w)))
    thread.start()
    assert started.wait(5)
    root = next(r for r in memory_store.list_runs() if r.parent_run_id is None)
    engine.cancel(root.id)
    thread.join(5)
    assert out["r"].status is RunStatus.CANCELLED
    [child] = memory_store.list_runs(parent_run_id=root.id)
    assert child.status is RunStatus.CANCELLED


def test_cancelling_the_task_cancels_the_run(memory_store: Any) -> None:
    started = asyncio.Event()

    async def nap_started(s: float) -> float:
        started.set()
        await asyncio.sleep(s)
        return s

    engine = Engine(memory_store, actions={"nap": nap_started})

    async def main() -> str:
        handle = await engine.start(wf([{"id": "n", "uses": "nap", "with": {"s": 10}}]))
        await asyncio.wait_for(started.wait(), 10)  # the step is running, whatever the load
        handle.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handle.task
        return handle.run_id

    run_id = asyncio.run(main())
    assert memory_store.get_run(run_id).status is RunStatus.CANCELLED
    assert [s.status for s in memory_store.get_steps(run_id)] == [StepStatus.CANCELLED]


def test_a_run_finished_hook_that_raises_is_isolated(memory_store: Any, caplog: Any) -> None:
    class Bad(EngineHooks):
        def on_run_finished(self, **_: Any) -> None:
            raise RuntimeError("hook bug")

    result = Engine(memory_store, actions={"echo": echo}, hooks=[Bad()]).run(
        wf([{"id": "a", "uses": "echo"}]))
    assert result.ok and "run-finished hook" in caplog.text


def test_fork_edits_into_lists_and_bad_paths(memory_store: Any) -> None:
    engine = Engine(memory_store, actions={"echo": echo})
    w = wf([{"id": "a", "uses": "echo", "with": {"value": {"items": [1, 2, 3]}}},
            {"id": "b", "uses": "echo", "needs": ["a"],
             "with": {"value": "${{ steps.a.output['items'][1] }}"}}],
           outputs={"b": "${{ steps.b.output }}"})
    first = engine.run(w)
    assert first.outputs == {"b": 2}
    fork = engine.fork(first.id, "b", {"steps.a.output.items.1": 20})
    assert fork.outputs == {"b": 20}
    with pytest.raises(FlowscopeError, match="no list index"):
        engine.fork(first.id, "b", {"steps.a.output.items.9": 1})
    with pytest.raises(FlowscopeError, match="not a mapping"):
        engine.fork(first.id, "b", {"steps.a.output.items.0.x": 1})
    whole = engine.fork(first.id, "b", {"steps.a.output": {"items": [0, 7]}})
    assert whole.outputs == {"b": 7}
