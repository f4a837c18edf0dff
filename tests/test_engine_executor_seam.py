"""The executor seam: registered executors, the step context, abandoned calls, tracing."""

from __future__ import annotations

import asyncio
import threading
import tracemalloc
from typing import Any

import pytest

from flowscope import current_step
from flowscope.engine import Engine, RunStatus
from flowscope.engine import memory as tracing
from flowscope.engine.context import StepContext, idempotency_key
from flowscope.engine.executors import (
    Executor,
    InlineExecutor,
    Outcome,
    StepCall,
    ThreadExecutor,
)
from flowscope.errors import FlowscopeError, StepCancelledError
from flowscope.model import workflow_from_dict


class Recording:
    """An executor that runs calls inline and remembers them (like a remote queue would)."""

    def __init__(self) -> None:
        self.calls: list[StepCall] = []
        self.closed = False
        self.inner = InlineExecutor()

    async def run(self, call: StepCall) -> Outcome:
        self.calls.append(call)
        outcome = await self.inner.run(call)
        return Outcome(output=outcome.output, error=outcome.error, cpu_ms=12.5,
                       peak_bytes=4096)

    def close(self) -> None:
        self.closed = True


def test_a_registered_executor_runs_the_steps_that_name_it(memory_store: Any) -> None:
    remote = Recording()
    assert isinstance(remote, Executor)
    engine = Engine(memory_store, actions={"add": lambda a, b: a + b},
                    executors={"remote": remote})
    wf = workflow_from_dict({"name": "ex", "steps": [
        {"id": "here", "uses": "add", "with": {"a": 1, "b": 2}},
        {"id": "there", "uses": "add", "executor": "remote", "needs": ["here"],
         "with": {"a": "${{ steps.here.output }}", "b": 10}},
    ], "outputs": {"sum": "${{ steps.there.output }}"}})
    result = engine.run(wf)
    engine.close()
    assert result.outputs == {"sum": 13}
    assert [c.step_id for c in remote.calls] == ["there"]
    assert remote.calls[0].kwargs == {"a": 3, "b": 10} and remote.closed
    there = next(a for a in memory_store.get_steps(result.id) if a.step_id == "there")
    # The figures the executor measured are what the journal keeps.
    assert there.cpu_time_ms == 12.5 and there.peak_memory_bytes == 4096


def test_an_executor_must_implement_the_protocol(memory_store: Any) -> None:
    with pytest.raises(FlowscopeError, match="Executor protocol"):
        Engine(memory_store, executors={"bad": object()})  # type: ignore[dict-item]


def test_step_code_reads_its_context(memory_store: Any) -> None:
    seen: list[tuple[str, str, int, str, float | None]] = []

    def look() -> str:
        ctx = current_step()
        seen.append((ctx.run_id, ctx.step_id, ctx.attempt, ctx.idempotency_key, ctx.timeout))
        return ctx.idempotency_key

    async def look_async() -> str:
        return current_step().idempotency_key

    engine = Engine(memory_store, actions={"look": look, "look_async": look_async})
    wf = workflow_from_dict({"name": "ctx", "steps": [
        {"id": "a", "uses": "look", "timeout": 5},
        {"id": "b", "uses": "look_async", "needs": ["a"]},
    ]})
    result = engine.run(wf)
    engine.close()
    assert seen == [(result.id, "a", 1, idempotency_key(result.id, "a", 1), 5.0)]
    outputs = {a.step_id: a.output for a in memory_store.get_steps(result.id)}
    assert outputs["b"] == idempotency_key(result.id, "b", 1) != outputs["a"]
    with pytest.raises(FlowscopeError, match="outside a step"):
        current_step()


def test_the_key_is_stable_per_attempt_and_differs_between_attempts() -> None:
    assert idempotency_key("r", "s", 1) == idempotency_key("r", "s", 1)
    assert len({idempotency_key("r", "s", 1), idempotency_key("r", "s", 2),
                idempotency_key("r", "t", 1), idempotency_key("q", "s", 1)}) == 4


def test_a_timed_out_call_is_told_it_was_given_up(memory_store: Any) -> None:
    release = threading.Event()
    told: list[bool] = []

    def slow() -> str:
        ctx = current_step()
        release.wait(10)
        told.append(ctx.cancelled)
        try:
            ctx.check()
        except StepCancelledError:
            told.append(True)
        return "late"

    engine = Engine(memory_store, actions={"slow": slow})
    wf = workflow_from_dict({"name": "t", "steps": [{"id": "s", "uses": "slow",
                                                     "timeout": 0.1}]})
    result = engine.run(wf)
    assert result.status is RunStatus.FAILED and result.error is not None
    assert result.error.category == "timeout"
    release.set()
    for _ in range(200):  # the abandoned thread finishes on its own, after the run
        if len(told) == 2:
            break
        threading.Event().wait(0.02)
    engine.close()
    assert told == [True, True]


def test_a_retry_waits_for_the_abandoned_call_then_warns_past_the_bound() -> None:
    asyncio.run(_retry_past_the_bound())


async def _retry_past_the_bound() -> None:
    executor = ThreadExecutor(2, overlap_wait=0.05)
    gate = threading.Event()
    ctx = StepContext(run_id="r", step_id="s", attempt=1, timeout=0.05)
    first = StepCall(run_id="r", step_id="s", attempt=1, fn=lambda: gate.wait(10),
                     kwargs={}, is_async=False, timeout=0.05, context=ctx)
    out = await executor.run(first)
    assert out.error is not None and executor.abandoned("r", "s")
    second = StepCall(run_id="r", step_id="s", attempt=2, fn=lambda: "ok", kwargs={},
                      is_async=False, timeout=None,
                      context=StepContext(run_id="r", step_id="s", attempt=2))
    out2 = await executor.run(second)
    assert out2.output == "ok"
    assert out2.warnings and "abandoned" in out2.warnings[0]
    gate.set()
    executor.close()


def test_tracing_is_reference_counted_across_engines() -> None:
    assert not tracemalloc.is_tracing()
    tracing.acquire()
    tracing.acquire()
    assert tracemalloc.is_tracing() and tracing.holders() == 2
    tracing.release()
    assert tracemalloc.is_tracing()
    tracing.release()
    assert not tracemalloc.is_tracing() and tracing.holders() == 0
    tracing.release()  # an extra release is harmless
    assert tracing.holders() == 0


def test_two_measuring_engines_share_tracing(memory_store: Any) -> None:
    inside: list[bool] = []

    def probe() -> bool:
        inside.append(tracemalloc.is_tracing())
        return True

    a = Engine(memory_store, actions={"probe": probe}, measure_memory=True)
    b = Engine(memory_store, actions={"probe": probe}, measure_memory=True)
    wf = workflow_from_dict({"name": "m", "steps": [{"id": "p", "uses": "probe"}]})
    assert a.run(wf).ok and b.run(wf).ok
    a.close()
    b.close()
    assert inside == [True, True] and not tracemalloc.is_tracing()
