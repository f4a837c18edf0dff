"""The debugger's storage contract (``DebugStorage``), run on every store.

Each store (memory, a SQLite file, PostgreSQL when configured) hands out its
implementation from ``debug_storage()``; the same assertions hold on all of them, so
the memory store means the same in a test as the SQL tables do in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from flowscope.debugger.persistence import (
    DebugStorage,
    DebugStore,
    NoDebugStorageError,
    storage_of,
)
from flowscope.errors import FlowscopeError, StoreError
from flowscope.store.debug_memory import MemoryDebugStorage
from flowscope.store.debug_sql import SQLDebugStorage

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def session(sid: str = "s-1", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": sid, "user": "ann", "run_id": "run-1", "workflow": None,
                           "options": {"stop_on_entry": True, "max_snapshots": 5},
                           "created_at": T0, "closed_at": None}
    row.update(changes)
    return row


def breakpoint_row(bp_id: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": bp_id, "kind": "step", "enabled": True, "hit_count": 0,
                           "spec": {"step_id": f"s{bp_id}", "condition": "vars.x > 1"},
                           "created_at": at(bp_id)}
    row.update(changes)
    return row


def snapshot(snap_id: int, run_id: str = "run-1", sid: str = "s-1",
             **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"session_id": sid, "id": snap_id, "run_id": run_id,
                           "seq": snap_id, "step_id": f"s{snap_id}", "label": None,
                           "state": {"steps": {f"s{snap_id}": {"out": [snap_id]}}},
                           "taken_at": at(snap_id)}
    row.update(changes)
    return row


def _both_implement_the_contract(
    sql: SQLDebugStorage, memory: MemoryDebugStorage
) -> tuple[DebugStorage, DebugStorage]:
    # Checked statically: ``mypy --strict tests/test_store_debug_storage.py`` fails when
    # either implementation drifts from the protocol the debugger declares.
    return sql, memory


@pytest.fixture
def storage(store: Any) -> DebugStorage:
    found: DebugStorage = store.debug_storage()
    return found


def test_each_store_has_one_storage_with_the_whole_contract(store: Any) -> None:
    storage = store.debug_storage()
    assert store.debug_storage() is storage  # one object for the store's lifetime
    assert isinstance(storage, DebugStorage)
    assert storage_of(store) is storage


def test_session_create_get_close(storage: DebugStorage) -> None:
    assert storage.get_session("s-1") is None
    created = at(0).astimezone(timezone(timedelta(hours=2)))  # any zone, stored as UTC
    storage.create_session(session(created_at=created))
    got = storage.get_session("s-1")
    assert got == session()
    assert got is not None and got["created_at"].tzinfo == UTC
    storage.close_session("s-1", at(60))
    got = storage.get_session("s-1")
    assert got is not None and got["closed_at"] == at(60) and got["closed_at"].tzinfo == UTC
    storage.close_session("no-such-session", at(61))  # nothing to close: no error
    assert storage.get_session("no-such-session") is None


def test_a_session_id_is_stored_once(storage: DebugStorage) -> None:
    storage.create_session(session())
    with pytest.raises(StoreError):
        storage.create_session(session(user="bob"))
    got = storage.get_session("s-1")
    assert got is not None and got["user"] == "ann"


def test_breakpoints_round_trip_in_id_order(storage: DebugStorage) -> None:
    storage.create_session(session())
    storage.create_session(session("s-2"))
    for bp_id in (3, 1, 2):
        storage.put_breakpoint("s-1", breakpoint_row(bp_id))
    storage.put_breakpoint("s-2", breakpoint_row(1, kind="edge"))
    rows = storage.breakpoints("s-1")
    assert rows == [{"session_id": "s-1", **breakpoint_row(i)} for i in (1, 2, 3)]
    assert [r["kind"] for r in storage.breakpoints("s-2")] == ["edge"]
    assert storage.breakpoints("s-unknown") == []


def test_put_replaces_a_breakpoint_and_delete_removes_it(storage: DebugStorage) -> None:
    storage.create_session(session())
    storage.put_breakpoint("s-1", breakpoint_row(1))
    storage.put_breakpoint("s-1", breakpoint_row(1, spec={"step_id": "other"}, hit_count=4))
    assert storage.breakpoints("s-1") == [
        {"session_id": "s-1", **breakpoint_row(1, spec={"step_id": "other"}, hit_count=4)}]
    storage.delete_breakpoint("s-1", 1)
    storage.delete_breakpoint("s-1", 99)  # unknown: no error
    assert storage.breakpoints("s-1") == []


def test_hit_state_updates_only_that_breakpoint(storage: DebugStorage) -> None:
    storage.create_session(session())
    storage.put_breakpoint("s-1", breakpoint_row(1))
    storage.put_breakpoint("s-1", breakpoint_row(2))
    storage.update_breakpoint_state("s-1", 2, hit_count=3, enabled=False)
    storage.update_breakpoint_state("s-1", 99, hit_count=1, enabled=True)  # unknown: no-op
    by_id = {r["id"]: r for r in storage.breakpoints("s-1")}
    assert (by_id[1]["hit_count"], by_id[1]["enabled"]) == (0, True)
    assert (by_id[2]["hit_count"], by_id[2]["enabled"]) == (3, False)
    assert by_id[2]["spec"] == breakpoint_row(2)["spec"]


def test_breakpoints_and_snapshots_need_a_stored_session(storage: DebugStorage) -> None:
    with pytest.raises(StoreError):
        storage.put_breakpoint("s-unknown", breakpoint_row(1))
    with pytest.raises(StoreError):
        storage.add_snapshots([snapshot(1, sid="s-unknown")])
    assert storage.snapshot_rows("s-unknown", "run-1") == []


def test_snapshot_rows_are_appended_and_read_back_in_order(storage: DebugStorage) -> None:
    storage.create_session(session())
    storage.create_session(session("s-2"))
    storage.add_snapshots([snapshot(1), snapshot(2, run_id="run-2"), snapshot(3)])
    storage.add_snapshots([])
    storage.add_snapshots([snapshot(4, label="before retry"), snapshot(5, run_id="run-2")])
    storage.add_snapshots([snapshot(1, sid="s-2")])
    assert storage.snapshot_rows("s-1", "run-1") == [
        snapshot(1), snapshot(3), snapshot(4, label="before retry")]
    assert [r["id"] for r in storage.snapshot_rows("s-1", "run-2")] == [2, 5]
    assert storage.snapshot_rows("s-2", "run-1") == [snapshot(1, sid="s-2")]
    assert all(r["taken_at"].tzinfo == UTC for r in storage.snapshot_rows("s-1", "run-1"))


def test_a_batch_of_snapshots_is_stored_all_or_none(storage: DebugStorage) -> None:
    storage.create_session(session())
    storage.add_snapshots([snapshot(1)])
    with pytest.raises(StoreError):
        storage.add_snapshots([snapshot(2), snapshot(1)])  # 1 is taken
    assert [r["id"] for r in storage.snapshot_rows("s-1", "run-1")] == [1]


def test_stored_values_are_copies_on_the_way_in(storage: DebugStorage) -> None:
    sess, bp, snap = session(), breakpoint_row(1), snapshot(1)
    storage.create_session(sess)
    storage.put_breakpoint("s-1", bp)
    storage.add_snapshots([snap])
    sess["options"]["stop_on_entry"] = False
    bp["spec"]["condition"] = "changed"
    snap["state"]["steps"]["s1"]["out"].append("changed")
    got = storage.get_session("s-1")
    assert got is not None and got["options"] == session()["options"]
    assert storage.breakpoints("s-1")[0]["spec"] == breakpoint_row(1)["spec"]
    assert storage.snapshot_rows("s-1", "run-1")[0]["state"] == snapshot(1)["state"]


def test_values_read_back_are_copies_too(storage: DebugStorage) -> None:
    storage.create_session(session())
    storage.put_breakpoint("s-1", breakpoint_row(1))
    storage.add_snapshots([snapshot(1)])
    got = storage.get_session("s-1")
    assert got is not None
    got["options"]["stop_on_entry"] = False
    storage.breakpoints("s-1")[0]["spec"]["condition"] = "changed"
    storage.snapshot_rows("s-1", "run-1")[0]["state"]["steps"].clear()
    again = storage.get_session("s-1")
    assert again is not None and again["options"] == session()["options"]
    assert storage.breakpoints("s-1")[0]["spec"] == breakpoint_row(1)["spec"]
    assert storage.snapshot_rows("s-1", "run-1")[0]["state"] == snapshot(1)["state"]


def test_values_follow_json_rules(storage: DebugStorage) -> None:
    storage.create_session(session(options={"pair": (1, 2)}))
    got = storage.get_session("s-1")
    assert got is not None and got["options"] == {"pair": [1, 2]}  # as a JSON round trip
    with pytest.raises(StoreError):
        storage.create_session(session("s-2", options={"bad": {1, 2}}))
    with pytest.raises(StoreError):
        storage.put_breakpoint("s-1", breakpoint_row(1, spec={"bad": object()}))
    with pytest.raises(StoreError):
        storage.add_snapshots([snapshot(1, state={"vars": {"bad": {1}}})])
    assert storage.get_session("s-2") is None
    assert storage.breakpoints("s-1") == []
    assert storage.snapshot_rows("s-1", "run-1") == []


def test_naive_datetimes_are_refused(storage: DebugStorage) -> None:
    naive = datetime(2025, 3, 1, 12, 0)
    with pytest.raises(StoreError, match="naive"):
        storage.create_session(session(created_at=naive))
    storage.create_session(session())
    with pytest.raises(StoreError, match="naive"):
        storage.close_session("s-1", naive)
    with pytest.raises(StoreError, match="naive"):
        storage.put_breakpoint("s-1", breakpoint_row(1, created_at=naive))
    with pytest.raises(StoreError, match="naive"):
        storage.add_snapshots([snapshot(1, taken_at=naive)])


def test_a_closed_store_refuses_debugger_data(store: Any) -> None:
    storage = store.debug_storage()
    storage.create_session(session())
    store.close()
    with pytest.raises(StoreError, match="closed"):
        storage.get_session("s-1")
    with pytest.raises(StoreError, match="closed"):
        storage.add_snapshots([snapshot(1)])


def test_the_debugger_needs_a_store_with_debug_storage() -> None:
    class JournalOnly:
        def __repr__(self) -> str:
            return "JournalOnly()"

    with pytest.raises(NoDebugStorageError, match=r"JournalOnly\(\).*debug_storage") as info:
        DebugStore(JournalOnly())
    assert isinstance(info.value, FlowscopeError)
    assert info.value.hint and "open_store" in info.value.hint
