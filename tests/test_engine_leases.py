"""Run ownership: leases, fencing epochs, takeover, commands from other owners."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from flowscope.engine import Engine, RunStatus
from flowscope.engine.events import StepCompleted
from flowscope.engine.hooks import EngineHooks, PendingStep
from flowscope.engine.leases import Fence
from flowscope.engine.records import RunRecord, StepAttemptRecord
from flowscope.engine.status import StepStatus
from flowscope.errors import LeaseLostError, RunOwnedError
from flowscope.model import workflow_from_dict


def make_run(run_id: str = "run-lease-1") -> RunRecord:
    return RunRecord(id=run_id, workflow="w", version="1", definition_hash="h",
                     status=RunStatus.PENDING, created_at=datetime.now(UTC))


def test_acquire_refuses_a_live_lease_of_another_owner(store: Any) -> None:
    store.create_run(make_run())
    first = store.acquire_lease("run-lease-1", "host:1:a", ttl=30)
    assert first.epoch == 1 and first.owner == "host:1:a"
    with pytest.raises(RunOwnedError, match="being executed by host:1:a") as info:
        store.acquire_lease("run-lease-1", "host:2:b", ttl=30)
    assert "--force" in str(info.value) and info.value.expires_in > 20
    # The same owner may take it again; force takes it from anyone: the epoch grows.
    assert store.acquire_lease("run-lease-1", "host:1:a", ttl=30).epoch == 2
    forced = store.acquire_lease("run-lease-1", "host:2:b", ttl=30, force=True)
    assert forced.epoch == 3
    info_now = store.lease_info("run-lease-1")
    assert info_now.live and info_now.owner == "host:2:b" and info_now.epoch == 3


def test_an_expired_lease_can_be_taken_without_force(store: Any) -> None:
    store.create_run(make_run())
    store.acquire_lease("run-lease-1", "host:1:a", ttl=0.05)
    time.sleep(0.2)  # past the lease: this is the expiry under test, not a speed check
    info = store.lease_info("run-lease-1")
    assert info.gone and not info.live
    taken = store.acquire_lease("run-lease-1", "host:2:b", ttl=30)
    assert taken.epoch == 2


def test_writes_with_a_stale_epoch_are_refused_and_store_nothing(store: Any) -> None:
    store.create_run(make_run())
    old = store.acquire_lease("run-lease-1", "host:1:a", ttl=30)
    store.acquire_lease("run-lease-1", "host:2:b", ttl=30, force=True)
    attempt = StepAttemptRecord(run_id="run-lease-1", step_id="a", attempt=1,
                                status=StepStatus.COMPLETED, output=1)
    event = StepCompleted(run_id="run-lease-1", seq=1, ts=datetime.now(UTC), step_id="a")
    with pytest.raises(LeaseLostError, match="taken over"):
        store.record_step(attempt, [event], fence=old.fence)
    with pytest.raises(LeaseLostError):
        store.update_run("run-lease-1", status=RunStatus.RUNNING, fence=old.fence)
    with pytest.raises(LeaseLostError):
        store.append_events([event], fence=old.fence)
    assert store.get_steps("run-lease-1") == []
    assert store.get_events("run-lease-1") == []
    assert store.get_run("run-lease-1").status is RunStatus.PENDING
    with pytest.raises(LeaseLostError):
        store.renew_lease(old, ttl=30)
    # The current holder writes fine.
    store.record_step(attempt, [event], fence=Fence("run-lease-1", 2))
    assert len(store.get_steps("run-lease-1")) == 1


def test_release_keeps_the_epoch_so_the_old_holder_stays_fenced(store: Any) -> None:
    store.create_run(make_run())
    lease = store.acquire_lease("run-lease-1", "host:1:a", ttl=30)
    store.release_lease(lease)
    info = store.lease_info("run-lease-1")
    assert info.owner is None and not info.live and not info.gone and info.epoch == 1
    again = store.acquire_lease("run-lease-1", "host:2:b", ttl=30)
    assert again.epoch == 2
    with pytest.raises(LeaseLostError):
        store.append_events([], fence=lease.fence, run_vars=("run-lease-1", {"x": 1}))


def test_commands_are_taken_once_in_order(store: Any) -> None:
    store.create_run(make_run("run-a"))
    store.create_run(make_run("run-b"))
    store.send_command("run-a", "cancel", user="ada")
    store.send_command("run-b", "cancel")
    assert store.take_commands(["run-x"]) == []
    got = store.take_commands(["run-a", "run-b"])
    assert [(c.run_id, c.kind, c.user) for c in got] == [("run-a", "cancel", "ada"),
                                                         ("run-b", "cancel", None)]
    assert store.take_commands(["run-a", "run-b"]) == []


def test_last_seq_and_event_kinds(store: Any) -> None:
    store.create_run(make_run())
    assert store.last_seq("run-lease-1") == 0
    now = datetime.now(UTC)
    store.append_events([StepCompleted(run_id="run-lease-1", seq=s, ts=now, step_id="a")
                         for s in (1, 2, 3)])
    assert store.last_seq("run-lease-1") == 3
    assert store.get_events("run-lease-1", kinds=()) == []
    assert len(store.get_events("run-lease-1", kinds=(StepCompleted.kind,))) == 3


class _Gate(EngineHooks):
    """Holds step ``b`` until released; tells when it got there."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    async def before_step(self, *, pending: PendingStep) -> None:
        if pending.step_id == "b":
            self.reached.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)


WF = {"name": "lw", "steps": [
    {"id": "a", "uses": "ok"}, {"id": "b", "uses": "ok", "needs": ["a"]},
    {"id": "c", "uses": "ok", "needs": ["b"]},
]}


def _in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_a_zombie_owner_commits_nothing_after_a_takeover(store: Any) -> None:
    gate = _Gate()
    ran: list[str] = []
    zombie = Engine(store, actions={"ok": lambda: ran.append("z") or 1}, hooks=[gate])
    wf = workflow_from_dict(WF)
    thread, out = _in_thread(lambda: zombie.run(wf))
    assert gate.reached.wait(10)
    run_id = store.list_runs(limit=1)[0].id
    with pytest.raises(RunOwnedError):
        Engine(store, actions={"ok": lambda: 1}).resume(run_id)
    taker = Engine(store, actions={"ok": lambda: ran.append("t") or 1})
    result = taker.resume(run_id, force=True)
    assert result.status is RunStatus.COMPLETED
    events_before = [e.seq for e in store.get_events(run_id)]
    gate.release.set()  # the zombie wakes up and tries to go on
    thread.join(10)
    assert isinstance(out[0], LeaseLostError)
    assert [e.seq for e in store.get_events(run_id)] == events_before
    assert events_before == list(range(1, len(events_before) + 1))
    # The zombie may still call b's code after it wakes (it learns of the takeover at its
    # first write), but none of it commits: one attempt of each step, by the new owner.
    assert ran[:3] == ["z", "t", "t"] and set(ran[3:]) <= {"z"} and len(ran) <= 4
    assert [(a.step_id, a.attempt) for a in store.get_steps(run_id)] == [
        ("a", 1), ("b", 1), ("c", 1)]
    assert store.get_run(run_id).status is RunStatus.COMPLETED


def test_cancel_from_another_engine_reaches_the_owner(store: Any) -> None:
    gate = _Gate()
    owner = Engine(store, actions={"ok": lambda: 1}, hooks=[gate])
    thread, out = _in_thread(lambda: owner.run(workflow_from_dict(WF)))
    assert gate.reached.wait(10)
    run_id = store.list_runs(limit=1)[0].id
    other = Engine(store, actions={"ok": lambda: 1})
    assert other.cancel(run_id, user="bob") == "requested"
    thread.join(10)
    assert not thread.is_alive()
    assert out[0].status is RunStatus.CANCELLED
    run = store.get_run(run_id)
    assert run.status is RunStatus.CANCELLED and run.owner is None
    seqs = [e.seq for e in store.get_events(run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_an_interrupted_run_is_resumable_and_reruns_nothing_committed(store: Any) -> None:
    gate = _Gate()
    ran: list[str] = []
    engine = Engine(store, actions={"ok": lambda: ran.append("x") or 1}, hooks=[gate])
    thread, out = _in_thread(lambda: engine.run(workflow_from_dict(WF)))
    assert gate.reached.wait(10)
    run_id = store.list_runs(limit=1)[0].id
    engine.interrupt(run_id)
    thread.join(10)
    assert out[0].status is RunStatus.INTERRUPTED
    assert store.get_run(run_id).status is RunStatus.INTERRUPTED
    assert not store.lease_info(run_id).live  # released: anyone may resume
    result = Engine(store, actions={"ok": lambda: ran.append("y") or 1}).resume(run_id)
    assert result.status is RunStatus.COMPLETED
    assert ran == ["x", "y", "y"]
    assert [a.step_id for a in store.get_steps(run_id)] == ["a", "b", "c"]


def test_a_long_step_shows_as_running_in_the_journal_before_it_ends(store: Any) -> None:
    release = threading.Event()
    engine = Engine(store, actions={"wait": lambda: release.wait(10) and 1})
    wf = workflow_from_dict({"name": "live", "steps": [{"id": "w", "uses": "wait"}]})
    thread, out = _in_thread(lambda: engine.run(wf))
    kinds: list[str] = []
    for _ in range(500):  # bounded poll: the start is committed about 50 ms in
        runs = store.list_runs(limit=1)
        if runs:
            kinds = [e.kind.value for e in store.get_events(runs[0].id)]
            if "step_started" in kinds:
                break
        time.sleep(0.01)
    release.set()
    thread.join(10)
    engine.close()
    assert kinds[-2:] == ["step_ready", "step_started"]  # seen while the step ran
    assert out[0].status is RunStatus.COMPLETED
    seqs = [e.seq for e in store.get_events(out[0].id)]
    assert seqs == list(range(1, len(seqs) + 1))
