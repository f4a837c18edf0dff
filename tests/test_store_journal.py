"""The journal contract, run on every store: memory, a SQLite file, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from flowscope.engine.events import (
    EVENT_TYPES,
    Event,
    EventKind,
    Log,
    RunCancelled,
    RunCompleted,
    RunContinued,
    RunFailed,
    RunInterrupted,
    RunPaused,
    RunResumed,
    RunRewound,
    RunStarted,
    StepCompleted,
    StepEffectUncertain,
    StepFailed,
    StepReady,
    StepRetrying,
    StepReused,
    StepSkipped,
    StepStarted,
    VariableEdited,
    VarsSet,
)
from flowscope.engine.journal import Journal
from flowscope.engine.records import ErrorInfo, FrameInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus, StepStatus
from flowscope.errors import OutputNotSerializableError, RunNotFoundError, StoreError
from flowscope.store.testing import make_store, store_params

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=store_params())
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    with make_store(request.param, tmp_path) as store:
        yield store


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_run(run_id: str = "run-0001", **changes: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "id": run_id, "workflow": "orders", "version": "3", "definition_hash": "abc123",
        "status": RunStatus.PENDING, "created_at": T0,
    }
    fields.update(changes)
    return RunRecord(**fields)


ERROR = ErrorInfo(
    type="requests.HTTPError", message="503 from upstream", category="external_service",
    traceback="Traceback...\n", bases=("IOError", "Exception"), status_code=503,
    frames=(FrameInfo("app.py", 10, "call"), FrameInfo("lib.py", 3, "get", False)),
)


def full_run() -> RunRecord:
    return RunRecord(
        id="run-full-1", workflow="orders", version="3", definition_hash="h" * 64,
        status=RunStatus.FAILED, definition={"name": "orders", "steps": [{"id": "a"}]},
        inputs={"n": 3, "names": ["x", "y"], "big": 2**70}, outputs={"total": 1.5},
        vars={"count": 2}, error=ERROR, failed_step="charge", user="ada",
        tags={"type": "billing", "env": "prod"}, parent_run_id="run-parent",
        parent_step_id="sub", root_run_id="run-root", forked_from_run_id="run-old",
        forked_from_step="charge", created_at=at(0), started_at=at(1), ended_at=at(3.5),
        source="flows/orders.yaml",
    )


def full_attempt(run_id: str = "run-full-1") -> StepAttemptRecord:
    return StepAttemptRecord(
        run_id=run_id, step_id="charge", attempt=2, status=StepStatus.FAILED,
        input={"amount": 10, "nested": {"k": [1, None, True]}}, output=None, error=ERROR,
        ready_at=at(1), started_at=at(1.25), ended_at=at(2), duration_ms=750.0,
        queue_wait_ms=250.0, cpu_time_ms=12.5, peak_memory_bytes=2**40,
        child_run_id="run-child", reused_from_run_id="run-old", skip_reason="upstream",
        cause_step_id="fetch", rewound=False, vars_after={"count": 3},
    )


def all_events(run_id: str) -> list[Event]:
    def base(seq: int, step: str | None = "s1") -> dict[str, Any]:
        return {"run_id": run_id, "seq": seq, "ts": at(seq), "step_id": step}

    return [
        RunStarted(**base(1, None), workflow="orders", version="3", inputs={"n": 1},
                   parent_run_id="p", parent_step_id="ps"),
        RunResumed(**base(2, None), completed_steps=4),
        RunPaused(**base(3), reason="breakpoint"),
        RunContinued(**base(4)),
        StepReady(**base(5), via="s0"),
        StepStarted(**base(6), attempt=2),
        StepCompleted(**base(7), attempt=2, duration_ms=5.5),
        StepFailed(**base(8), attempt=1, error_type="KeyError", message="'x'",
                   category="data", will_retry=True, duration_ms=1.0),
        StepRetrying(**base(9), attempt=2, delay=0.5),
        StepSkipped(**base(10), reason="upstream", cause_step_id="s0"),
        StepReused(**base(11), from_run_id="run-old"),
        VarsSet(**base(12), values={"x": {"deep": [1]}}),
        Log(**base(13), message="hello", source="logpoint"),
        VariableEdited(**base(14), path="vars.x", old={"a": 1}, new=[1, 2], user="ada"),
        RunRewound(**base(15), to_step="s1", discarded=("s1", "s2")),
        RunCompleted(**base(16, None), outputs={"total": 3}, duration_ms=16000.0),
        RunFailed(**base(17, None), error_type="E", message="m", category="internal",
                  failed_step="s1", duration_ms=1.0),
        RunCancelled(**base(18, None), duration_ms=2.0),
        RunInterrupted(**base(19, None), reason="sigterm"),
        StepEffectUncertain(**base(20), attempt=1, idempotency_key="k-1", action="rerun"),
    ]


def test_stores_satisfy_the_journal_protocol(journal: Journal) -> None:
    assert isinstance(journal, Journal)
    assert journal.dialect in ("memory", "sqlite", "postgresql")  # type: ignore[attr-defined]


def test_run_round_trips_every_field(journal: Journal) -> None:
    run = full_run()
    journal.create_run(run)
    got = journal.get_run(run.id)
    assert got == run
    assert got.duration_ms == pytest.approx(2500.0)


def test_create_run_fills_created_at_in_utc(journal: Journal) -> None:
    before = datetime.now(UTC)
    journal.create_run(make_run(created_at=None))
    created = journal.get_run("run-0001").created_at
    assert created is not None and created.tzinfo == UTC
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC)


def test_attempt_round_trips_every_field(journal: Journal) -> None:
    journal.create_run(full_run())
    attempt = full_attempt()
    journal.record_step(attempt)
    assert journal.get_steps("run-full-1") == [attempt]


def test_attempt_with_scalar_and_list_outputs(journal: Journal) -> None:
    journal.create_run(make_run())
    outputs: list[Any] = ["text", 7, 1.25, True, [1, "a"], {"k": None}, 12345678901234567890]
    for i, output in enumerate(outputs):
        journal.record_step(StepAttemptRecord(
            run_id="run-0001", step_id=f"s{i}", attempt=1, status=StepStatus.COMPLETED,
            output=output,
        ))
    assert [s.output for s in journal.get_steps("run-0001")] == outputs


def test_every_event_type_round_trips(journal: Journal) -> None:
    journal.create_run(make_run())
    events = all_events("run-0001")
    assert {type(e) for e in events} == set(EVENT_TYPES.values())
    journal.append_events(events)
    got = journal.get_events("run-0001")
    assert got == events
    assert [e.kind for e in got] == [e.kind for e in events]
    assert all(e.ts.tzinfo == UTC for e in got)
    assert journal.get_events("run-0001", after_seq=15) == events[15:]


def test_record_step_commits_events_and_vars_together(journal: Journal) -> None:
    journal.create_run(make_run(vars={"n": 0}))
    events = [
        StepStarted(run_id="run-0001", seq=1, ts=at(1), step_id="a"),
        StepCompleted(run_id="run-0001", seq=2, ts=at(2), step_id="a"),
    ]
    attempt = StepAttemptRecord(run_id="run-0001", step_id="a", attempt=1,
                                status=StepStatus.COMPLETED, output={"y": 2})
    journal.record_step(attempt, events, run_vars={"n": 1})
    assert journal.get_steps("run-0001") == [attempt]
    assert journal.get_events("run-0001") == events
    assert journal.get_run("run-0001").vars == {"n": 1}


def test_steps_come_back_in_recording_order(journal: Journal) -> None:
    journal.create_run(make_run())
    order = ["z", "a", "m", "a"]
    for i, step in enumerate(order):
        journal.record_step(StepAttemptRecord(
            run_id="run-0001", step_id=step, attempt=i + 1, status=StepStatus.COMPLETED))
    assert [(s.step_id, s.attempt) for s in journal.get_steps("run-0001")] == [
        ("z", 1), ("a", 2), ("m", 3), ("a", 4)]


def test_events_out_of_order_are_returned_by_seq(journal: Journal) -> None:
    journal.create_run(make_run())
    journal.append_events([Log(run_id="run-0001", seq=3, ts=at(3), message="c")])
    journal.append_events([Log(run_id="run-0001", seq=1, ts=at(1), message="a")])
    assert [e.seq for e in journal.get_events("run-0001")] == [1, 3]


def bad_event() -> Event:
    return VarsSet(run_id="run-0001", seq=2, ts=at(2), step_id="a", values={"s": {1, 2}})


def test_record_step_is_atomic(journal: Journal) -> None:
    journal.create_run(make_run(vars={"n": 0}))
    good = StepStarted(run_id="run-0001", seq=1, ts=at(1), step_id="a")
    attempt = StepAttemptRecord(run_id="run-0001", step_id="a", attempt=1,
                                status=StepStatus.COMPLETED, output=1)
    with pytest.raises(OutputNotSerializableError, match="vars_set event #2"):
        journal.record_step(attempt, [good, bad_event()], run_vars={"n": 1})
    assert journal.get_steps("run-0001") == []
    assert journal.get_events("run-0001") == []
    assert journal.get_run("run-0001").vars == {"n": 0}


def test_record_step_rolls_back_on_a_duplicate_seq(journal: Journal) -> None:
    journal.create_run(make_run())
    journal.append_events([Log(run_id="run-0001", seq=1, ts=at(1))])
    attempt = StepAttemptRecord(run_id="run-0001", step_id="a", attempt=1,
                                status=StepStatus.COMPLETED)
    with pytest.raises(StoreError, match="seq"):
        journal.record_step(attempt, [
            Log(run_id="run-0001", seq=2, ts=at(2)), Log(run_id="run-0001", seq=1, ts=at(1)),
        ])
    assert journal.get_steps("run-0001") == []
    assert [e.seq for e in journal.get_events("run-0001")] == [1]


def test_unserialisable_output_names_the_step(journal: Journal) -> None:
    journal.create_run(make_run())
    attempt = StepAttemptRecord(run_id="run-0001", step_id="load", attempt=1,
                                status=StepStatus.COMPLETED, output={"when": datetime.now(UTC)})
    with pytest.raises(OutputNotSerializableError, match=r"output of step 'load'.*datetime"):
        journal.record_step(attempt)
    with pytest.raises(OutputNotSerializableError, match=r"NaN|Out of range"):
        journal.record_step(StepAttemptRecord(
            run_id="run-0001", step_id="x", attempt=1, status=StepStatus.COMPLETED,
            output=float("nan")))
    assert journal.get_steps("run-0001") == []


def test_unserialisable_inputs_refuse_the_run(journal: Journal) -> None:
    with pytest.raises(OutputNotSerializableError, match="inputs of run run-0001"):
        journal.create_run(make_run(inputs={"f": object()}))
    with pytest.raises(RunNotFoundError):
        journal.get_run("run-0001")


def test_duplicate_run_id_is_refused(journal: Journal) -> None:
    journal.create_run(make_run())
    with pytest.raises(StoreError, match="run-0001"):
        journal.create_run(make_run(workflow="other"))
    assert journal.get_run("run-0001").workflow == "orders"


def test_writes_for_unknown_runs_raise_run_not_found(journal: Journal) -> None:
    attempt = StepAttemptRecord(run_id="nope-1234", step_id="a", attempt=1,
                                status=StepStatus.COMPLETED)
    with pytest.raises(RunNotFoundError, match="nope-1234"):
        journal.record_step(attempt)
    with pytest.raises(RunNotFoundError):
        journal.update_run("nope-1234", status=RunStatus.RUNNING)
    with pytest.raises(RunNotFoundError):
        journal.append_events([Log(run_id="nope-1234", seq=1, ts=at(1))])
    with pytest.raises(RunNotFoundError):
        journal.mark_rewound("nope-1234", ["a"])


def test_update_run_changes_only_given_fields(journal: Journal) -> None:
    journal.create_run(make_run(inputs={"a": 1}, vars={"v": 0}))
    journal.update_run("run-0001", status=RunStatus.RUNNING, started_at=at(1),
                         events=[RunStarted(run_id="run-0001", seq=1, ts=at(1),
                                            workflow="orders", version="3")])
    journal.update_run("run-0001", status=RunStatus.FAILED, ended_at=at(4), error=ERROR,
                         failed_step="charge", outputs={"o": 1}, run_vars={"v": 9})
    run = journal.get_run("run-0001")
    assert run.status is RunStatus.FAILED
    assert (run.started_at, run.ended_at) == (at(1), at(4))
    assert run.error == ERROR and run.failed_step == "charge"
    assert run.outputs == {"o": 1} and run.vars == {"v": 9} and run.inputs == {"a": 1}
    assert run.duration_ms == pytest.approx(3000.0)
    assert [e.seq for e in journal.get_events("run-0001")] == [1]


def test_update_run_accepts_status_strings_and_refuses_unknown(journal: Journal) -> None:
    journal.create_run(make_run())
    journal.update_run("run-0001", status="running")  # type: ignore[arg-type]
    assert journal.get_run("run-0001").status is RunStatus.RUNNING
    with pytest.raises(StoreError, match="unknown run status 'done'"):
        journal.update_run("run-0001", status="done")  # type: ignore[arg-type]


def test_mark_rewound_hides_live_attempts(journal: Journal) -> None:
    journal.create_run(make_run())
    for step in ("a", "b", "c"):
        journal.record_step(StepAttemptRecord(
            run_id="run-0001", step_id=step, attempt=1, status=StepStatus.COMPLETED))
    journal.mark_rewound("run-0001", ["b", "c"])
    journal.record_step(StepAttemptRecord(
        run_id="run-0001", step_id="b", attempt=1, status=StepStatus.COMPLETED, output="again"))
    live = journal.get_steps("run-0001")
    assert [(s.step_id, s.output, s.rewound) for s in live] == [
        ("a", None, False), ("b", "again", False)]
    every = journal.get_steps("run-0001", include_rewound=True)
    assert [(s.step_id, s.rewound) for s in every] == [
        ("a", False), ("b", True), ("c", True), ("b", False)]


def test_get_run_by_unique_prefix(journal: Journal) -> None:
    journal.create_run(make_run("a1b2c3d4e5"))
    journal.create_run(make_run("a1b2ffff00"))
    assert journal.get_run("a1b2c").id == "a1b2c3d4e5"
    assert journal.get_run("a1b2f").id == "a1b2ffff00"


def test_ambiguous_prefix_lists_candidates(journal: Journal) -> None:
    journal.create_run(make_run("a1b2c3d4e5"))
    journal.create_run(make_run("a1b2ffff00"))
    with pytest.raises(RunNotFoundError) as info:
        journal.get_run("a1b2")
    assert "a1b2c3d4e5" in str(info.value) and "a1b2ffff00" in str(info.value)
    assert "more characters" in str(info.value)


def test_prefix_rules(journal: Journal) -> None:
    journal.create_run(make_run("abc"))
    journal.create_run(make_run("abcdef99"))
    assert journal.get_run("abc").id == "abc"  # an exact id of any length
    with pytest.raises(RunNotFoundError, match="at least 4"):
        journal.get_run("ab")
    with pytest.raises(RunNotFoundError, match="ABCD"):
        journal.get_run("ABCD")  # prefixes are case-sensitive, also on SQLite
    with pytest.raises(RunNotFoundError, match="a%c"):
        journal.get_run("a%cd")  # LIKE wildcards are literal
    with pytest.raises(RunNotFoundError):
        journal.get_run("zzzzzz")


def seed_runs(store: Journal) -> None:
    store.create_run(make_run("r-1", created_at=at(10), user="ada", status=RunStatus.COMPLETED))
    store.create_run(make_run("r-2", created_at=at(20), user="bob", workflow="billing"))
    store.create_run(make_run("r-3", created_at=at(30), user="ada", status=RunStatus.FAILED,
                              parent_run_id="r-1", parent_step_id="sub"))
    store.create_run(make_run("r-4", created_at=at(30), user="ada", parent_run_id="r-1",
                              parent_step_id="sub"))
    store.create_run(make_run("r-5", created_at=at(40), status=RunStatus.FAILED))


def ids(runs: list[RunRecord]) -> list[str]:
    return [r.id for r in runs]


def test_list_runs_newest_first_with_id_tie_break(journal: Journal) -> None:
    seed_runs(journal)
    assert ids(journal.list_runs()) == ["r-5", "r-4", "r-3", "r-2", "r-1"]
    assert ids(journal.list_runs(limit=2)) == ["r-5", "r-4"]
    assert ids(journal.list_runs(limit=None)) == ["r-5", "r-4", "r-3", "r-2", "r-1"]
    assert journal.list_runs(limit=0) == []


@pytest.mark.parametrize(("filters", "expected"), [
    ({"workflow": "billing"}, ["r-2"]),
    ({"status": RunStatus.FAILED}, ["r-5", "r-3"]),
    ({"status": "completed"}, ["r-1"]),
    ({"user": "ada"}, ["r-4", "r-3", "r-1"]),
    ({"parent_run_id": "r-1"}, ["r-4", "r-3"]),
    ({"roots_only": True}, ["r-5", "r-2", "r-1"]),
    ({"since": at(20)}, ["r-5", "r-4", "r-3", "r-2"]),
    ({"until": at(30)}, ["r-2", "r-1"]),
    ({"since": at(15), "until": at(35), "user": "ada"}, ["r-4", "r-3"]),
    ({"since": at(20).astimezone(timezone(timedelta(hours=5)))}, ["r-5", "r-4", "r-3", "r-2"]),
    ({"workflow": "missing"}, []),
])
def test_list_runs_filters(journal: Journal, filters: dict[str, Any],
                           expected: list[str]) -> None:
    seed_runs(journal)
    assert ids(journal.list_runs(**filters)) == expected


def test_list_runs_refuses_bad_arguments(journal: Journal) -> None:
    with pytest.raises(StoreError, match="unknown run status"):
        journal.list_runs(status="finished")
    with pytest.raises(StoreError, match="limit"):
        journal.list_runs(limit=-1)
    with pytest.raises(StoreError, match="naive datetime"):
        journal.list_runs(since=datetime(2025, 1, 1))


def test_find_child_run_returns_the_newest(journal: Journal) -> None:
    seed_runs(journal)
    assert journal.find_child_run("r-1", "missing") is None
    child = journal.find_child_run("r-1", "sub")
    assert child is not None and child.id == "r-4"


def test_datetimes_come_back_aware_utc(journal: Journal) -> None:
    plus2 = timezone(timedelta(hours=2))
    local = datetime(2025, 6, 1, 14, 0, 0, tzinfo=plus2)
    journal.create_run(make_run(created_at=local, started_at=local))
    journal.record_step(StepAttemptRecord(
        run_id="run-0001", step_id="a", attempt=1, status=StepStatus.COMPLETED,
        started_at=local, ended_at=local + timedelta(seconds=1)),
        [Log(run_id="run-0001", seq=1, ts=local)])
    run = journal.get_run("run-0001")
    step = journal.get_steps("run-0001")[0]
    event = journal.get_events("run-0001")[0]
    for value in (run.created_at, run.started_at, step.started_at, step.ended_at, event.ts):
        assert value is not None and value.tzinfo == UTC
    assert run.created_at == datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(journal: Journal) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        journal.create_run(make_run(created_at=datetime(2025, 1, 1)))
    journal.create_run(make_run())
    with pytest.raises(StoreError, match="naive datetime"):
        journal.record_step(StepAttemptRecord(
            run_id="run-0001", step_id="a", attempt=1, status=StepStatus.COMPLETED,
            ended_at=datetime(2025, 1, 1)))
    assert journal.get_steps("run-0001") == []


def test_stored_values_cannot_be_changed_by_callers(journal: Journal) -> None:
    inputs: dict[str, Any] = {"items": [1, 2]}
    journal.create_run(make_run(inputs=inputs))
    output: dict[str, Any] = {"rows": [1]}
    step_input: dict[str, Any] = {"q": "x"}
    journal.record_step(
        StepAttemptRecord(run_id="run-0001", step_id="a", attempt=1,
                          status=StepStatus.COMPLETED, input=step_input, output=output),
        # The attempt row holds the resolved input; the event's JSON field is ``values``.
        [VarsSet(run_id="run-0001", seq=1, ts=at(1), step_id="a", values=step_input)],
    )
    inputs["items"].append(3)
    output["rows"].append(2)
    step_input["q"] = "changed"
    journal.get_run("run-0001").inputs["items"].append(4)
    journal.get_steps("run-0001")[0].output["rows"].append(5)
    got_event = journal.get_events("run-0001")[0]
    assert isinstance(got_event, VarsSet)
    got_event.values["q"] = "mutated"  # type: ignore[index]
    assert journal.get_run("run-0001").inputs == {"items": [1, 2]}
    step = journal.get_steps("run-0001")[0]
    assert step.output == {"rows": [1]} and step.input == {"q": "x"}
    again = journal.get_events("run-0001")[0]
    assert isinstance(again, VarsSet) and again.values == {"q": "x"}


def test_json_values_follow_json_rules(journal: Journal) -> None:
    journal.create_run(make_run())
    journal.record_step(StepAttemptRecord(
        run_id="run-0001", step_id="a", attempt=1, status=StepStatus.COMPLETED,
        output={"t": (1, 2), 5: "five", "kind": EventKind.LOG}))
    assert journal.get_steps("run-0001")[0].output == {"t": [1, 2], "5": "five",
                                                          "kind": "log"}


def test_unknown_runs_read_as_empty(journal: Journal) -> None:
    assert journal.get_steps("nope") == []
    assert journal.get_events("nope") == []
    assert journal.list_runs(workflow="nope") == []


def test_closed_store_refuses_use(journal: Journal) -> None:
    journal.create_run(make_run())
    journal.close()
    journal.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        journal.get_run("run-0001")
    with pytest.raises(StoreError, match="closed"):
        journal.append_events([Log(run_id="run-0001", seq=1, ts=at(1))])
