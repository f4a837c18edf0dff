"""Regression tests for the engine defects of issue 9 that show inside one process.

Each test states the correct behaviour. A test that fails on the engine as it stands is
marked ``xfail(strict=True)`` with the defect's number, so that it turns into a failure
(XPASS) the moment the defect is fixed, and the mark is then removed with the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from flowscope import Engine, EngineHooks, WorkflowDebugger, open_store, workflow_from_dict
from flowscope.engine import Event, EventKind, RunStatus
from flowscope.errors import StoreError

#: Seconds any wait of these tests may last; a correct engine answers in milliseconds.
WAIT = 10.0


class JournalProxy:
    """Passes every call through to a real store; ``before``/``after`` see the writes."""

    WRITES = ("create_run", "record_step", "update_run", "append_events")

    def __init__(self, inner: Any, *, before: Callable[[str, tuple[Any, ...]], None] | None = None,
                 after: Callable[[str, tuple[Any, ...]], None] | None = None) -> None:
        self._inner = inner
        self._before = before
        self._after = after

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self._before is not None:
                self._before(name, args)
            result = attr(*args, **kwargs)
            if self._after is not None:
                self._after(name, args)
            return result

        return write


def chain(*ids: str, uses: str = "echo") -> dict[str, Any]:
    """A workflow whose steps run one after another, each returning its own id."""
    return {"name": "chain", "steps": [
        {"id": sid, "uses": uses, "with": {"name": sid}, **({"needs": [ids[i - 1]]} if i else {})}
        for i, sid in enumerate(ids)
    ]}


async def echo(name: str) -> str:
    await asyncio.sleep(0)
    return name


# -- defect 3: a timed-out sync step keeps running beside its retry -----------------------------


class _Overlap:
    """Counts the copies of one step's code running at once (from any thread)."""

    def __init__(self, first_sleep: float) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0
        self.first_sleep = first_sleep

    def slow(self) -> str:
        with self.lock:
            self.calls += 1
            call = self.calls
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.first_sleep if call == 1 else 0.0)
        finally:
            with self.lock:
                self.running -= 1
        return f"call {call}"


def test_a_timed_out_sync_step_never_runs_beside_its_retry(memory_store: Any) -> None:
    """A sync step (thread executor) that times out is abandoned, not copied.

    The step has ``timeout: 0.2`` and three attempts retried on timeout; its first call
    sleeps 1.5 s (it cannot be interrupted in its thread). Expected: the first attempt is
    recorded as timed out, and the retry does not start while the abandoned first call is
    still running, so at most one copy of the step's code runs at any moment; the run
    then completes with the retry's output. Today the retry starts beside the abandoned
    call (two copies at once).
    """
    overlap = _Overlap(first_sleep=1.5)
    engine = Engine(memory_store, actions={"slow": overlap.slow})
    wf = workflow_from_dict({"name": "timeouts", "steps": [
        {"id": "s", "uses": "slow", "timeout": 0.2,
         "retry": {"attempts": 3, "backoff": 0, "jitter": False, "on": ["timeout"]}},
    ], "outputs": {"out": "${{ steps.s.output }}"}})
    try:
        result = engine.run(wf)
    finally:
        engine.close()
    assert overlap.most == 1
    assert result.status is RunStatus.COMPLETED
    attempts = [(a.attempt, a.status.value, a.error.category if a.error else None)
                for a in memory_store.get_steps(result.id)]
    assert attempts[0] == (1, "failed", "timeout")
    assert attempts[-1][1] == "completed"


# -- defect 6: after_step hooks are fire-and-forget ---------------------------------------------


class _SlowAfter(EngineHooks):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def after_step(self, *, pending: Any, record: Any) -> None:
        await asyncio.sleep(0.05)
        self.seen.append(pending.step_id)


def test_after_step_hooks_are_awaited_before_the_run_returns(memory_store: Any) -> None:
    """An ``after_step`` hook that awaits finishes for every step, the last one included.

    Expected: when ``engine.run`` returns, the hook (which sleeps 50 ms, then notes the
    step) has noted every step of the run. Today the hooks are tasks nobody awaits, so the
    one for the last step is cancelled when the run's loop closes.
    """
    hook = _SlowAfter()
    engine = Engine(memory_store, actions={"echo": echo}, hooks=[hook])
    result = engine.run(workflow_from_dict(chain("a", "b", "c")))
    assert result.ok
    assert sorted(hook.seen) == ["a", "b", "c"]


# -- defect 7: observers see events before they are committed -----------------------------------


class _Observer(EngineHooks):
    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)


def test_observers_never_see_an_event_whose_commit_failed(memory_store: Any) -> None:
    """An observer is shown an event only after the journal committed it.

    The store's ``record_step`` raises for step ``b``. Expected: the observer receives
    ``step_completed`` for ``a`` (committed) and never for ``b`` (its commit failed),
    however the engine then ends the run. Today observers are called when an event is
    made, before its commit, so a progress display says ``b`` completed.
    """

    def fail_b(method: str, args: tuple[Any, ...]) -> None:
        if method == "record_step" and args[0].step_id == "b":
            raise StoreError("the disk is full", hint="free some space")

    observer = _Observer()
    engine = Engine(JournalProxy(memory_store, before=fail_b),  # type: ignore[arg-type]
                    actions={"echo": echo}, hooks=[observer])
    # How the engine ends the run (failed, or raising) is not what this test is about.
    with contextlib.suppress(Exception):
        engine.run(workflow_from_dict(chain("a", "b", "c")))
    completed = [e.step_id for e in observer.events if e.kind is EventKind.STEP_COMPLETED]
    assert "a" in completed
    assert "b" not in completed


# -- defect 9: events commit out of seq order ---------------------------------------------------


class _Follower:
    """A reader thread following ``get_events(after_seq=last)`` on its own connection.

    Besides polling freely, it polls once after every journal write (the writer waits
    for that poll), so that it looks at the journal at every commit point.
    """

    def __init__(self, path: Path, run_id: str) -> None:
        self.store = open_store(str(path))
        self.run_id = run_id
        self.seen: list[int] = []
        self._cond = threading.Condition()
        self._asked = 0
        self._served = 0
        self._stop = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _poll(self) -> None:
        last = self.seen[-1] if self.seen else 0
        self.seen.extend(e.seq for e in self.store.get_events(self.run_id, after_seq=last))

    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._asked > self._served or self._stop,
                                        timeout=0.002)
                    asked, stop = self._asked, self._stop
                self._poll()
                with self._cond:
                    self._served = asked
                    self._cond.notify_all()
                if stop:
                    return
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
            with self._cond:
                self._served = 1 << 60
                self._cond.notify_all()

    def after_write(self, _method: str, _args: tuple[Any, ...]) -> None:
        """Called by the writer after each commit: wait for one poll that follows it."""
        with self._cond:
            self._asked += 1
            mine = self._asked
            self._cond.notify_all()
            assert self._cond.wait_for(lambda: self._served >= mine, timeout=WAIT)

    def finish(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self.thread.join(WAIT)
        self.store.close()


@st.composite
def dags(draw: st.DrawFn) -> list[list[int]]:
    """Needs of each step (indexes of earlier steps): random DAG shapes with 2-7 steps."""
    n = draw(st.integers(2, 7))
    return [sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(i, 3)))) if i else []
            for i in range(n)]


def _dag_workflow(needs: list[list[int]]) -> dict[str, Any]:
    return {"name": "dag", "steps": [
        {"id": f"s{i}", "uses": "echo", "with": {"name": f"s{i}"},
         **({"needs": [f"s{j}" for j in deps]} if deps else {})}
        for i, deps in enumerate(needs)
    ]}


def _follow_one_run(needs: list[list[int]]) -> tuple[list[int], list[int]]:
    """Run the DAG on a SQLite file with a follower; return (seen seqs, stored seqs)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flowscope.db"
        store = open_store(str(path))
        holder: dict[str, _Follower] = {}

        def after(method: str, args: tuple[Any, ...]) -> None:
            if "f" in holder:
                holder["f"].after_write(method, args)

        engine = Engine(JournalProxy(store, after=after),  # type: ignore[arg-type]
                        actions={"echo": echo})

        async def main() -> str:
            handle = await engine.start(_dag_workflow(needs))
            follower = _Follower(path, handle.run_id)
            holder["f"] = follower
            follower.thread.start()
            result = await handle.result()
            assert result.ok
            return handle.run_id

        try:
            run_id = asyncio.run(main())
        finally:
            engine.close()
            if "f" in holder:
                holder["f"].finish()
        follower = holder["f"]
        assert follower.error is None, follower.error
        stored = [e.seq for e in store.get_events(run_id)]
        store.close()
        return follower.seen, stored


@settings(max_examples=12, deadline=None)
@given(needs=dags())
@example(needs=[[], [0], [0], [1, 2]])  # a fan-out and a fan-in: the classic case
def test_a_reader_following_the_events_sees_each_once_in_seq_order(
        needs: list[list[int]]) -> None:
    """A reader polling ``get_events(after_seq=last)`` during the run misses nothing.

    The run's steps form a random DAG (parallel branches included) on a SQLite file; a
    reader thread on its own connection follows the events, looking at every commit.
    Expected: it sees seqs 1..n, each exactly once, strictly increasing, where n is the
    number of events stored for the run. Today a step's start events are held in memory
    until its result commits, so a branch that commits later adds seqs below ones the
    reader has already passed, and the reader never sees them.
    """
    seen, stored = _follow_one_run(needs)
    assert stored == list(range(1, len(stored) + 1))
    assert seen == stored


def test_a_finished_run_has_seqs_one_to_n(sqlite_store: Any) -> None:
    """After a run with parallel branches, its stored events are seq 1..n, no gap."""
    engine = Engine(sqlite_store, actions={"echo": echo})
    result = engine.run(_dag_workflow([[], [0], [0], [0], [1, 2, 3]]))
    assert result.ok
    seqs = [e.seq for e in sqlite_store.get_events(result.id)]
    assert seqs == list(range(1, len(seqs) + 1))


# -- defect 11: fork does not reproduce the state at its fork point -----------------------------


def test_fork_sees_a_debugger_edit_made_before_its_fork_point(store: Any) -> None:
    """``engine.fork(run, "s3")`` gives ``s3`` the vars the source run's ``s3`` saw.

    ``s1`` sets ``vars.x = 1``; the run stops before ``s2`` in a debugger session, which
    sets ``vars.x = 42``; ``s3`` returns ``vars.x``. The source run's ``s3`` returns 42.
    Expected: the fork from ``s3`` reuses ``s1`` and ``s2`` and its ``s3`` returns 42
    too. Today fork rebuilds vars from ``vars_set`` events only and gives ``s3`` 1.
    """
    wf = workflow_from_dict({"name": "edits", "steps": [
        {"id": "s1", "uses": "echo", "with": {"name": "s1"}, "set": {"x": 1}},
        {"id": "s2", "uses": "echo", "needs": ["s1"], "with": {"name": "s2"}},
        {"id": "s3", "uses": "value", "needs": ["s2"], "with": {"v": "${{ vars.x }}"}},
    ], "outputs": {"x": "${{ steps.s3.output }}"}})

    async def value(v: Any) -> Any:
        return v

    engine = Engine(store, actions={"echo": echo, "value": value})
    dbg = WorkflowDebugger(engine, user="ann")
    try:
        dbg.set_breakpoint("s2")
        handle = dbg.start(wf)
        stop = dbg.wait_for_stop(WAIT)
        assert stop is not None and stop.step_id == "s2"
        assert dbg.session is not None
        dbg.session.set_variable("vars.x", 42)
        dbg.continue_execution()
        source = handle.result(WAIT)
        assert source.outputs == {"x": 42}
    finally:
        dbg.close()
    forked = engine.fork(source.id, "s3")
    assert forked.status is RunStatus.COMPLETED
    assert forked.outputs == {"x": 42}
