"""Root cause vs cascade, similar errors and resolution on real runs (memory, SQLite, PG)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from flowscope.compat import Diagnoser
from flowscope.diagnosis import DiagnosisError
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict
from flowscope.store.sql import SQLStore


def ok() -> str:
    return "ok"


_BAD_KEY_FAILED = threading.Event()


def bad_key() -> None:
    _BAD_KEY_FAILED.set()  # just before it raises: its failure is recorded first
    raise KeyError("customer_id")


def slow_refused() -> None:
    # Ends after bad_key (the later of two independent failures): ordered by an event,
    # not by how long a sleep happens to take on a loaded machine.
    assert _BAD_KEY_FAILED.wait(10)
    time.sleep(0.01)  # bad_key's record commits on the loop while this thread waits
    _BAD_KEY_FAILED.clear()
    raise ConnectionRefusedError("connection refused by 10.0.0.7:5432")


ACTIONS = {"ok": ok, "bad_key": bad_key, "slow_refused": slow_refused}


def test_fan_out_fan_in_root_cause_other_roots_and_cascade(store: Any) -> None:
    _BAD_KEY_FAILED.clear()  # other tests run bad_key too
    w = workflow_from_dict({"name": "fan", "steps": [
        {"id": "start", "uses": "ok"},
        {"id": "b1", "uses": "bad_key", "needs": ["start"]},
        {"id": "b2", "uses": "ok", "needs": ["start"]},
        {"id": "b3", "uses": "slow_refused", "needs": ["start"]},
        {"id": "join", "uses": "ok", "needs": ["b1", "b2", "b3"]},
        {"id": "final", "uses": "ok", "needs": ["join"]},
        {"id": "only_b2", "uses": "ok", "needs": ["b2"]},
    ]})
    result = Engine(store, actions=ACTIONS).run(w)
    d = Diagnoser(store).diagnose_error(result.id)
    assert d.root_cause == {"run_id": result.id, "step_id": "b1", "workflow": "fan"}
    assert d.category == "data" and d.error_type == "KeyError"
    assert [r["step_id"] for r in d.other_roots] == ["b3"]
    cascade = {c["step_id"]: c for c in d.cascade}
    assert set(cascade) == {"join", "final"}
    assert cascade["join"]["status"] == "skipped"
    assert cascade["join"]["cause_step_id"] in {"b1", "b3"}
    assert cascade["final"]["cause_step_id"] == "join"
    assert cascade["final"]["origin"]["step_id"] in {"b1", "b3"}


def test_nested_sub_workflows_two_levels(store: Any) -> None:
    grandchild = {"name": "gc", "steps": [
        {"id": "deep", "uses": "bad_key"}, {"id": "gc_tail", "uses": "ok", "needs": ["deep"]}]}
    child = {"name": "child", "steps": [
        {"id": "subsub", "workflow": "gc", "workflow_definition": grandchild},
        {"id": "tail", "uses": "ok", "needs": ["subsub"]},
        {"id": "free", "uses": "ok"}]}
    w = workflow_from_dict({"name": "top", "steps": [
        {"id": "sub", "workflow": "child", "workflow_definition": child},
        {"id": "after", "uses": "ok", "needs": ["sub"]}]})
    result = Engine(store, actions=ACTIONS).run(w)
    diagnoser = Diagnoser(store)
    d = diagnoser.diagnose_error(result.id)
    assert d.root_cause is not None and d.root_cause["step_id"] == "deep"
    gc_run = d.root_cause["run_id"]
    assert store.get_run(gc_run).workflow == "gc"
    child_run = store.get_run(gc_run).parent_run_id
    assert d.other_roots == []
    got = {(c["run_id"], c["step_id"]): c for c in d.cascade}
    assert set(got) == {(gc_run, "gc_tail"), (child_run, "subsub"), (child_run, "tail"),
                        (result.id, "sub"), (result.id, "after")}
    assert got[(child_run, "subsub")]["status"] == "failed"
    assert got[(child_run, "subsub")]["cause_run_id"] == gc_run
    assert got[(result.id, "sub")]["cause_step_id"] == "deep"
    assert got[(result.id, "after")]["cause_step_id"] == "sub"
    assert all(c["origin"]["step_id"] == "deep" for c in d.cascade)
    ctx = diagnoser.get_error_context(result.id)
    assert ctx["failed_run_id"] == gc_run and ctx["step_id"] == "deep"
    assert ctx["attempt"] == 1 and ctx["error"]["type"] == "KeyError"
    frames = diagnoser.get_stack_trace(result.id)
    assert frames[-1]["function"] == "bad_key" and frames[-1]["is_user_code"]
    # The parent's own sub-workflow failure repeats the child's: counted once by default.
    assert diagnoser.error_categories() == {"data": 1}
    assert diagnoser.error_categories(include_cascade=True) == {"data": 3}


def charge(order: str) -> str:
    if not order.startswith("ok"):
        raise KeyError(f"order_{order}")
    return "charged"


def refund(order: str) -> str:
    raise KeyError(f"order_{order}")


def orders(version: str) -> Any:
    return workflow_from_dict({
        "name": "orders", "version": version,
        "inputs": {"order": {"type": "string"}},
        "steps": [{"id": "charge", "uses": "charge", "with": {"order": "${{ inputs.order }}"}}],
    })


def test_similar_errors_and_resolution_across_many_runs(store: Any) -> None:
    engine = Engine(store, actions={"charge": charge, "refund": refund})
    failed = [engine.run(orders("1"), {"order": f"{1000 + i}"}).id for i in range(12)]
    refunds = workflow_from_dict({"name": "orders", "version": "1",
                                  "inputs": {"order": {"type": "string"}},
                                  "steps": [{"id": "refund", "uses": "refund",
                                             "with": {"order": "${{ inputs.order }}"}}]})
    engine.run(refunds, {"order": "77"})
    diagnoser = Diagnoser(store)
    before_fix = diagnoser.diagnose_error(failed[-1])
    exact = before_fix.similar[0]
    assert exact["match"] == "exact" and exact["count"] == 11
    assert exact["run_count"] == 11 and failed[-1] not in exact["runs"]
    assert exact["versions"] == ["1"] and exact["resolved"] is False
    near = [s for s in before_fix.similar if s["match"] == "near"]
    assert [(s["step_id"], s["count"]) for s in near] == [("refund", 1)]

    fixed = engine.run(orders("2"), {"order": "ok-1"})
    assert fixed.ok
    after = diagnoser.similar_errors(before_fix.fingerprint)
    assert after[0]["count"] == 12 and after[0]["resolved"] is True
    assert after[0]["resolved_by"]["run_id"] == fixed.id
    assert after[0]["version_changed"] is True and after[0]["definition_changed"] is True
    assert diagnoser.similar_errors(before_fix.fingerprint, limit=1) == after[:1]
    assert diagnoser.error_categories(workflow="orders") == {"data": 13}
    assert diagnoser.error_categories(workflow="nope") == {}
    buckets = diagnoser.error_frequency(before_fix.fingerprint, bucket="1d")
    assert sum(b["count"] for b in buckets) == 12
    assert buckets[0]["by_fingerprint"] == {before_fix.fingerprint: 12}
    assert sum(b["count"] for b in diagnoser.error_frequency(bucket="5m", since="1h")) == 13
    with pytest.raises(DiagnosisError, match="bucket"):
        diagnoser.error_frequency(bucket="hourly")
    with pytest.raises(DiagnosisError, match="unknown filter"):
        diagnoser.error_categories(colour="red")
    with pytest.raises(DiagnosisError, match="no failure"):
        diagnoser.diagnose_error(fixed.id)
    if isinstance(store, SQLStore):  # every failure is indexed; no read has to add any
        assert _unindexed_failures(store) == 0


def _unindexed_failures(store: SQLStore) -> int:
    import sqlalchemy as sa

    from flowscope.store.schema import error_fingerprints, step_attempts

    s, t = step_attempts.c, error_fingerprints.c
    with store.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).where(
            s.status == "failed", ~sa.exists().where(t.attempt_id == s.id))) or 0)


def test_bare_exception_without_a_store() -> None:
    diagnoser = Diagnoser()
    try:
        raise TimeoutError("upstream took too long")
    except TimeoutError as exc:
        d = diagnoser.diagnose_error(exc, {"workflow": "w", "step_id": "s",
                                           "step_def": {"timeout": 5}})
        frames = diagnoser.get_stack_trace(exc)
    assert d.category == "timeout" and d.root_cause is None and d.similar == []
    assert any("timeout" in s.title.lower() for s in d.suggestions)
    assert frames and frames[-1]["function"] == "test_bare_exception_without_a_store"
    assert diagnoser.suggest_fix(d) == d.suggestions
    with pytest.raises(DiagnosisError, match="needs a store"):
        diagnoser.similar_errors("abc")
    with pytest.raises(DiagnosisError):
        diagnoser.diagnose_error(42)  # type: ignore[arg-type]
