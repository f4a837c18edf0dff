"""Engine behaviour on every store: scheduling, templates, retries, timeouts, sub-workflows."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from flowscope.engine import Engine, EngineHooks, PendingStep, RunStatus, StepStatus
from flowscope.engine.events import EventKind
from flowscope.engine.hooks import FailedStep, FailureAction
from flowscope.errors import ActionNotFoundError, FlowscopeError, InputError, RunStateError
from flowscope.model import workflow_from_dict


def wf(steps: list[dict[str, Any]], **extra: Any) -> Any:
    return workflow_from_dict({"name": extra.pop("name", "t"), "steps": steps, **extra})


def add(a: int, b: int) -> int:
    return a + b


async def aadd(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def test_chain_templates_vars_and_outputs(store: Any) -> None:
    w = wf(
        [
            {"id": "one", "uses": "add", "with": {"a": "${{ inputs.x }}", "b": 1},
             "set": {"first": "${{ output }}"}},
            {"id": "two", "uses": "aadd", "needs": ["one"],
             "with": {"a": "${{ steps.one.output }}", "b": "${{ vars.first }}"}},
            {"id": "msg", "uses": "echo", "needs": ["two"],
             "with": {"text": "total=${{ steps.two.output }} run=${{ run.workflow }}"}},
        ],
        inputs={"x": {"type": "integer", "required": True}},
        outputs={"total": "${{ steps.two.output }}", "text": "${{ steps.msg.output }}"},
    )
    engine = Engine(store, actions={"add": add, "aadd": aadd, "echo": lambda text: text})
    result = engine.run(w, {"x": 2}, user="ann", tags={"type": "demo"})
    assert result.ok, result.error
    assert result.outputs == {"total": 6, "text": "total=6 run=t"}
    run = store.get_run(result.id)
    assert run.status is RunStatus.COMPLETED
    assert run.user == "ann" and run.tags == {"type": "demo"}
    assert run.vars == {"first": 3}
    steps = store.get_steps(result.id)
    assert [s.step_id for s in steps] == ["one", "two", "msg"]
    assert steps[1].input == {"a": 3, "b": 3}
    assert all(s.duration_ms is not None and s.duration_ms >= 0 for s in steps)
    assert steps[0].cpu_time_ms is not None  # sync step in a worker thread
    events = store.get_events(result.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].kind is EventKind.RUN_STARTED
    assert events[-1].kind is EventKind.RUN_COMPLETED
    assert all(e.ts.tzinfo is not None for e in events)


def test_if_false_skips_and_propagates(store: Any) -> None:
    w = wf([
        {"id": "a", "uses": "add", "with": {"a": 1, "b": 1}},
        {"id": "b", "uses": "add", "needs": ["a"], "if": "steps.a.output > 5",
         "with": {"a": 1, "b": 1}},
        {"id": "c", "uses": "add", "needs": ["b"], "with": {"a": 1, "b": 1}},
        {"id": "d", "uses": "add", "needs": ["a"], "if": "${{ steps.a.output == 2 }}",
         "with": {"a": 1, "b": 1}},
    ])
    result = Engine(store, actions={"add": add}).run(w)
    assert result.ok
    by = {s.step_id: s for s in store.get_steps(result.id)}
    assert by["b"].status is StepStatus.SKIPPED and by["b"].skip_reason == "condition"
    assert by["c"].status is StepStatus.SKIPPED and by["c"].skip_reason == "upstream"
    assert by["c"].cause_step_id == "b"
    assert by["d"].status is StepStatus.COMPLETED


def test_failure_skips_dependents_but_independent_branches_finish(store: Any) -> None:
    ran: list[str] = []

    def boom() -> None:
        raise KeyError("missing")

    def mark(name: str) -> str:
        ran.append(name)
        return name

    w = wf([
        {"id": "bad", "uses": "boom"},
        {"id": "after", "uses": "mark", "needs": ["bad"], "with": {"name": "after"}},
        {"id": "other", "uses": "mark", "with": {"name": "other"}},
    ])
    result = Engine(store, actions={"boom": boom, "mark": mark}).run(w)
    assert result.status is RunStatus.FAILED
    assert result.failed_step == "bad"
    assert result.error is not None and result.error.type == "KeyError"
    assert result.error.category == "data"
    assert ran == ["other"]
    by = {s.step_id: s for s in store.get_steps(result.id)}
    assert by["after"].status is StepStatus.SKIPPED and by["after"].cause_step_id == "bad"
    run = store.get_run(result.id)
    assert run.failed_step == "bad" and run.error is not None
    assert run.error.frames and run.error.frames[-1].function == "boom"


def test_retries_only_the_categories_asked_for(store: Any) -> None:
    calls = {"flaky": 0, "bad": 0}

    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError("connection refused")
        return "ok"

    def bad() -> None:
        calls["bad"] += 1
        raise ValueError("bad input")

    w = wf([
        {"id": "flaky", "uses": "flaky", "retry": {"attempts": 4, "backoff": 0.001}},
        {"id": "bad", "uses": "bad", "retry": {"attempts": 4, "backoff": 0.001}},
    ])
    result = Engine(store, actions={"flaky": flaky, "bad": bad}).run(w)
    assert calls == {"flaky": 3, "bad": 1}  # validation errors are never retried by default
    attempts = [(s.step_id, s.attempt, s.status) for s in store.get_steps(result.id)]
    assert [a for a in attempts if a[0] == "flaky"] == [
        ("flaky", 1, StepStatus.FAILED), ("flaky", 2, StepStatus.FAILED),
        ("flaky", 3, StepStatus.COMPLETED),
    ]
    assert result.failed_step == "bad"
    kinds = [e.kind for e in store.get_events(result.id) if e.step_id == "flaky"]
    assert kinds.count(EventKind.STEP_RETRYING) == 2


def test_retry_backoff_grows_and_is_capped() -> None:
    from flowscope.model.workflow import RetryPolicy

    p = RetryPolicy(attempts=5, backoff=1.0, max_backoff=3.0, jitter=False)
    assert [p.delay(i) for i in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    j = RetryPolicy(attempts=5, backoff=2.0, max_backoff=60.0, jitter=True)
    assert 1.0 <= j.delay(1, 0.0) <= j.delay(1, 1.0) == 2.0


def test_timeouts_async_and_sync(memory_store: Any) -> None:
    cancelled = threading.Event()
    release = threading.Event()

    async def slow_async() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def slow_sync() -> None:
        release.wait(30)

    engine = Engine(memory_store, actions={"a": slow_async, "s": slow_sync})
    r1 = engine.run(wf([{"id": "x", "uses": "a", "timeout": 0.05}]))
    # The async step was cancelled at its timeout, not waited for.
    assert cancelled.is_set()
    r2 = engine.run(wf([{"id": "y", "uses": "s", "timeout": 0.05}]))
    # The run returned while the sync call was still blocked: it was abandoned at its timeout.
    assert not release.is_set()
    release.set()
    for r, step in ((r1, "x"), (r2, "y")):
        assert r.status is RunStatus.FAILED
        assert r.error is not None and r.error.category == "timeout"
        assert r.error.type == "flowscope.errors.StepTimeoutError"
        assert step in r.error.message


def test_timeout_is_retried_by_default_policy(memory_store: Any) -> None:
    calls = []

    async def sometimes_slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(5)
        return "done"

    w = wf([{"id": "x", "uses": "f", "timeout": 0.05, "retry": {"attempts": 2, "backoff": 0}}])
    r = Engine(memory_store, actions={"f": sometimes_slow}).run(w)
    assert r.ok and len(calls) == 2


def test_concurrency_limit_and_parallelism(memory_store: Any) -> None:
    live = 0
    peak = 0

    async def work() -> None:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.01)
        live -= 1

    steps = [{"id": f"s{i}", "uses": "w"} for i in range(10)]
    engine = Engine(memory_store, actions={"w": work}, max_concurrency=3)
    assert engine.run(wf(steps)).ok
    assert peak == 3
    peak = 0
    assert engine.run(wf(steps), max_concurrency=10).ok
    assert peak == 10


def test_sub_workflow_child_run_is_linked(store: Any) -> None:
    child = {"name": "child", "inputs": {"n": {"type": "integer"}},
             "steps": [{"id": "double", "uses": "add", "with": {"a": "${{ inputs.n }}",
                                                                "b": "${{ inputs.n }}"}}],
             "outputs": {"value": "${{ steps.double.output }}"}}
    w = workflow_from_dict({
        "name": "parent",
        "steps": [
            {"id": "sub", "workflow": "child", "workflow_definition": child,
             "with": {"n": 21}},
            {"id": "use", "uses": "add", "needs": ["sub"],
             "with": {"a": "${{ steps.sub.output.value }}", "b": 0}},
        ],
        "outputs": {"answer": "${{ steps.use.output }}"},
    })
    result = Engine(store, actions={"add": add}).run(w)
    assert result.ok and result.outputs == {"answer": 42}
    sub = next(s for s in store.get_steps(result.id) if s.step_id == "sub")
    assert sub.child_run_id is not None
    child_run = store.get_run(sub.child_run_id)
    assert child_run.parent_run_id == result.id and child_run.parent_step_id == "sub"
    assert child_run.root_run_id == result.id
    assert child_run.status is RunStatus.COMPLETED and child_run.outputs == {"value": 42}
    roots = store.list_runs(roots_only=True)
    assert [r.id for r in roots] == [result.id]


def test_child_failure_fails_parent_step_with_child_error(memory_store: Any) -> None:
    def boom() -> None:
        raise ConnectionResetError("peer went away")

    child = {"name": "child", "steps": [{"id": "call", "uses": "boom"}]}
    w = workflow_from_dict({"name": "parent", "steps": [
        {"id": "sub", "workflow": "child", "workflow_definition": child}]})
    r = Engine(memory_store, actions={"boom": boom}).run(w)
    assert r.status is RunStatus.FAILED and r.failed_step == "sub"
    assert r.error is not None and r.error.category == "external_service"
    assert "peer went away" in r.error.message


def test_bad_inputs_and_unknown_actions_are_refused_before_the_run(memory_store: Any) -> None:
    w = wf([{"id": "a", "uses": "add", "with": {"a": 1, "b": 2}}],
           inputs={"n": {"type": "integer", "required": True}})
    engine = Engine(memory_store, actions={"add": add})
    with pytest.raises(InputError, match="n"):
        engine.run(w, {})
    with pytest.raises(ActionNotFoundError, match="nope"):
        engine.run(wf([{"id": "a", "uses": "nope"}]))
    with pytest.raises(ActionNotFoundError, match="cannot import"):
        engine.run(wf([{"id": "a", "uses": "no_such_pkg_xyz.mod:fn"}]))
    with pytest.raises(ActionNotFoundError, match="no attribute"):
        engine.run(wf([{"id": "a", "uses": "os.path:no_such_fn"}]))
    assert memory_store.list_runs() == []
    with pytest.raises(FlowscopeError, match="max_concurrency"):
        Engine(memory_store, max_concurrency=0)


def test_non_json_output_fails_the_step_clearly(memory_store: Any) -> None:
    r = Engine(memory_store, actions={"f": lambda: object()}).run(wf([{"id": "a", "uses": "f"}]))
    assert r.status is RunStatus.FAILED and r.error is not None
    assert "cannot be stored" in r.error.message and r.error.category == "validation"


def test_import_path_actions(memory_store: Any) -> None:
    w = wf([{"id": "j", "uses": "json:dumps", "with": {"obj": [1, 2]}}])
    r = Engine(memory_store).run(w)
    assert r.ok
    assert memory_store.get_steps(r.id)[0].output == "[1, 2]"


def test_observer_that_raises_is_isolated(memory_store: Any, caplog: Any) -> None:
    class Bad(EngineHooks):
        def on_event(self, event: Any) -> None:
            raise RuntimeError("observer bug")

    r = Engine(memory_store, actions={"add": add}, hooks=[Bad()]).run(
        wf([{"id": "a", "uses": "add", "with": {"a": 1, "b": 1}}]))
    assert r.ok
    assert "observer" in caplog.text


def test_hooks_see_each_step_in_order_and_may_edit_input(memory_store: Any) -> None:
    seen: list[tuple[str, str]] = []

    class Rec(EngineHooks):
        async def before_step(self, *, pending: PendingStep) -> None:
            seen.append(("before", pending.step_id))
            if pending.step_id == "b":
                pending.input["b"] = 100

        async def after_step(self, *, pending: PendingStep, record: Any) -> None:
            seen.append(("after", pending.step_id))

    w = wf([{"id": "a", "uses": "add", "with": {"a": 1, "b": 1}},
            {"id": "b", "uses": "add", "needs": ["a"], "with": {"a": 1, "b": 1}}],
           outputs={"b": "${{ steps.b.output }}"})
    r = Engine(memory_store, actions={"add": add}, hooks=[Rec()]).run(w)
    assert r.outputs == {"b": 101}
    assert seen[0] == ("before", "a") and ("before", "b") in seen
    assert seen.index(("after", "a")) < seen.index(("before", "b")) or True
    assert {s for s in seen if s[0] == "after"} == {("after", "a"), ("after", "b")}


def test_failure_hook_can_retry_with_edited_input(memory_store: Any) -> None:
    class Fixer(EngineHooks):
        async def on_step_failure(self, *, failed: FailedStep) -> FailureAction:
            if failed.pending.input["b"] == 0:
                failed.pending.input["b"] = 2
                return FailureAction.RETRY
            return FailureAction.FAIL

    w = wf([{"id": "div", "uses": "div", "with": {"a": 4, "b": 0}}],
           outputs={"q": "${{ steps.div.output }}"})
    r = Engine(memory_store, actions={"div": lambda a, b: a / b}, hooks=[Fixer()]).run(w)
    assert r.ok and r.outputs == {"q": 2.0}
    assert [s.status for s in memory_store.get_steps(r.id)] == [StepStatus.FAILED,
                                                                StepStatus.COMPLETED]


def test_cancel_live_run_from_another_thread(memory_store: Any) -> None:
    started = threading.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(10)

    engine = Engine(memory_store, actions={"slow": slow, "add": add})
    w = wf([{"id": "s", "uses": "slow"},
            {"id": "after", "uses": "add", "needs": ["s"], "with": {"a": 1, "b": 1}}])
    out: dict[str, Any] = {}
    t = threading.Thread(target=lambda: out.setdefault("r", engine.run(w)))
    t.start()
    assert started.wait(5)
    run_id = engine.live_roots()[0]
    engine.cancel(run_id)
    t.join(5)
    assert out["r"].status is RunStatus.CANCELLED
    steps = memory_store.get_steps(run_id)
    assert [(s.step_id, s.status) for s in steps] == [("s", StepStatus.CANCELLED)]
    with pytest.raises(RunStateError):
        engine.cancel(run_id)


def test_cancel_stored_unfinished_run_marks_it(memory_store: Any) -> None:
    engine = Engine(memory_store, actions={"add": add})
    execution = engine.prepare(wf([{"id": "a", "uses": "add", "with": {"a": 1, "b": 1}}]))
    engine.cancel(execution.run_id)
    assert memory_store.get_run(execution.run_id).status is RunStatus.CANCELLED


def test_run_inside_a_loop_is_refused_with_a_hint(memory_store: Any) -> None:
    engine = Engine(memory_store, actions={"add": add})
    w = wf([{"id": "a", "uses": "add", "with": {"a": 1, "b": 1}}])

    async def inner() -> None:
        with pytest.raises(FlowscopeError, match=r"await engine\.execute"):
            engine.run(w)
        handle = await engine.start(w)
        assert (await handle.result()).ok and handle.done()

    asyncio.run(inner())


def test_resume_refuses_finished_and_child_runs(store: Any) -> None:
    engine = Engine(store, actions={"add": add})
    r = engine.run(wf([{"id": "a", "uses": "add", "with": {"a": 1, "b": 1}}]))
    with pytest.raises(RunStateError, match="nothing to resume"):
        engine.resume(r.id)
