"""Suggested fixes per error category, on real runs recorded in a SQLite store.

Each test runs a workflow whose step raises a shaped exception, then asks the diagnoser
what to do about it, and checks what a user reads: the title, the reason backed by the
recorded data, and the concrete change proposed.
"""

from __future__ import annotations

import errno
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from flowscope.analytics.percentiles import exact_percentiles
from flowscope.compat import Diagnoser
from flowscope.diagnosis import Suggestion
from flowscope.diagnosis.durations import StepDurations
from flowscope.diagnosis.suggest import FailureFacts, suggest
from flowscope.engine import Engine
from flowscope.engine.records import ErrorInfo
from flowscope.model import workflow_from_dict


class RateLimitError(Exception):
    """Named like the SDK errors the classifier knows as rate limits."""


class Unauthorized(Exception):
    """Carries an HTTP status the way HTTP client errors do."""

    status_code = 401


class Cancelled(Exception):
    """A cancellation raised by the step's own code."""


class DeadlockDetected(Exception):
    """Named like psycopg's deadlock error."""


def raising(exc: BaseException) -> Callable[..., Any]:
    def action(**_: Any) -> Any:
        raise exc

    return action


def run_step(store: Any, action: Callable[..., Any], *, name: str = "wf",
             inputs: dict[str, Any] | None = None, measure_memory: bool = False,
             args: dict[str, Any] | None = None, **step: Any) -> str:
    """Run a one-step workflow (step ``s``, ``with: args``) and return the run id."""
    if args is not None:
        step["with"] = args
    declared = {k: {"type": "any"} for k in inputs or {}}
    w = workflow_from_dict({"name": name, "inputs": declared,
                            "steps": [{"id": "s", "uses": "act", **step}]})
    engine = Engine(store, actions={"act": action}, measure_memory=measure_memory)
    return engine.run(w, inputs or {}).id


def tips_for(store: Any, run_id: str) -> list[Suggestion]:
    tips = Diagnoser(store).suggest_fix(run_id)
    assert tips, "every failure gets at least one suggestion"
    return tips


def titles(tips: list[Suggestion]) -> list[str]:
    return [t.title for t in tips]


# -- timeout ----------------------------------------------------------------------------


def test_tight_timeout_proposes_a_larger_one_from_the_p99(sqlite_store: Any) -> None:
    def slow() -> None:
        time.sleep(0.25)

    run_id = run_step(sqlite_store, slow, timeout=0.1)
    tips = tips_for(sqlite_store, run_id)
    first = tips[0]
    assert first.category == "timeout"
    assert first.title == "Raise the step's timeout"
    assert "over the last 7 days (1 attempts)" in first.why
    assert "against a timeout of 0.1s" in first.why
    # The attempt was cut at the timeout, so its p99 is its own recorded duration (about
    # the timeout; more on a loaded machine): 1.5 x that, rounded *up* to a tenth (it once
    # printed "timeout: 0"). Computed from the record, so load cannot change the answer.
    p99_s = sqlite_store.get_steps(run_id)[0].duration_ms / 1000.0
    want = max(0.1, p99_s) * 1.5
    shown = f"{math.ceil(want):d}" if want >= 1 else f"{math.ceil(round(want * 10, 6)) / 10:g}"
    assert first.action == f"timeout: {shown}"
    assert float(shown) >= 0.2
    # Not retried: the default policy (1 attempt) is named and a retry proposed.
    retry = tips[1]
    assert retry.title == "Retry timeouts"
    assert "the step is not retried (1 attempt)" in retry.why
    assert retry.action == "retry: {attempts: 3, on: [timeout]}"


def test_loose_timeout_points_at_the_slow_call_and_keeps_a_good_retry_policy(
    sqlite_store: Any,
) -> None:
    def call(fail: bool = False) -> str:
        if fail:
            raise TimeoutError("read timed out")
        return "ok"

    retry = {"attempts": 2, "backoff": 0.01, "on": ["timeout"]}
    # A 300 s timeout: "far below" must hold even when a quick call takes a second of a
    # loaded machine's time (0% rounds anything under 1.5 s).
    for _ in range(3):
        run_step(sqlite_store, call, name="api", timeout=300, retry=retry,
                 args={"fail": False})
    run_id = run_step(sqlite_store, call, name="api", timeout=300, retry=retry,
                      args={"fail": True})
    tips = tips_for(sqlite_store, run_id)
    # 3 successes + 2 failed attempts, all quick: far below the 30 s timeout.
    assert len(tips) == 1, titles(tips)  # the policy already retries timeouts
    assert tips[0].title == "Look for the slow call: most attempts finish well within the timeout"
    assert "(5 attempts)" in tips[0].why
    assert "against a timeout of 300s (0% of it)" in tips[0].why
    assert tips[0].action is None


def test_timeout_without_history_or_without_a_timeout(sqlite_store: Any) -> None:
    diagnoser = Diagnoser(sqlite_store)
    bare = diagnoser.suggest_fix(TimeoutError("socket timed out"))
    assert bare[0].title == "Give the slow call a longer timeout, or make it faster"
    assert bare[0].why == "the step raised TimeoutError: socket timed out"
    assert titles(bare)[1] == "Retry timeouts"

    d = diagnoser.diagnose_error(TimeoutError("socket timed out"), {
        "step_def": {"timeout": 5, "retry": {"attempts": 4, "on": ["timeout"]}}})
    assert titles(d.suggestions) == ["Raise the step's timeout or make the step faster"]
    assert d.suggestions[0].why == ("the attempt ran past the timeout of 5s; no duration "
                                    "history to compare with")


# -- rate limit -------------------------------------------------------------------------


def test_rate_limit_counts_the_day_and_doubles_the_backoff(sqlite_store: Any) -> None:
    retry = {"attempts": 2, "backoff": 0.01, "jitter": False, "on": ["rate_limit"]}
    run_step(sqlite_store, raising(RateLimitError("slow down")), retry=retry)
    run_id = run_step(sqlite_store, raising(RateLimitError("slow down")), retry=retry)
    tips = tips_for(sqlite_store, run_id)
    assert len(tips) == 1, titles(tips)  # rate limits are retried already
    tip = tips[0]
    assert tip.category == "rate_limit"
    assert tip.title == "Back off longer between retries and lower the call rate"
    # Two runs of two attempts each, all in the last day.
    assert tip.why.startswith("4 rate-limit failures of this step in the last day; ")
    assert "retry policy: 2 attempts, backoff 0.01s doubling up to 60s, on rate_limit" in tip.why
    assert tip.action == "retry: {attempts: 5, backoff: 2, jitter: true, on: [rate_limit]}"


def test_rate_limit_not_retried_proposes_retrying_it(sqlite_store: Any) -> None:
    retry = {"attempts": 2, "backoff": 3, "on": ["timeout"]}
    # attempts=2 but rate limits are not in `on`, so the step fails at once.
    run_id = run_step(sqlite_store, raising(RateLimitError("429 too many requests")),
                      retry=retry)
    tips = tips_for(sqlite_store, run_id)
    assert tips[0].why.startswith("1 rate-limit failures of this step in the last day")
    assert tips[0].action == "retry: {attempts: 5, backoff: 6, jitter: true, on: [rate_limit]}"
    assert tips[1].title == "Retry rate-limited calls"
    assert tips[1].action == "retry: {attempts: 5, on: [rate_limit]}"

    bare = Diagnoser(sqlite_store).suggest_fix(RateLimitError("slow down"))
    assert "the service refused the call as too many" in bare[0].why


# -- external service -------------------------------------------------------------------


def flaky(fail: bool = False) -> str:
    if fail:
        raise ConnectionRefusedError("connection refused by 10.0.0.7:5432")
    return "ok"


def test_external_service_with_a_low_daily_failure_rate_is_transient(
    sqlite_store: Any,
) -> None:
    retry = {"attempts": 2, "backoff": 0.01}  # the default `on` has external_service
    for _ in range(9):
        run_step(sqlite_store, flaky, name="sync", retry=retry, args={"fail": False})
    run_id = run_step(sqlite_store, flaky, name="sync", retry=retry, args={"fail": True})
    tips = tips_for(sqlite_store, run_id)
    assert titles(tips) == ["A transient outage: retrying is likely enough"]
    assert tips[0].why == "the step failed 2 of 11 attempts in the last day (18%)"


def test_external_service_with_a_high_daily_failure_rate_is_degraded(
    sqlite_store: Any,
) -> None:
    run_step(sqlite_store, flaky, name="sync", args={"fail": False})
    run_id = run_step(sqlite_store, flaky, name="sync", args={"fail": True})
    tips = tips_for(sqlite_store, run_id)
    assert tips[0].title.startswith("The service looks degraded")
    assert tips[0].why == "the step failed 1 of 2 attempts in the last day (50%)"
    assert tips[1].title == "Retry external-service errors with backoff"
    assert tips[1].why == "retry policy: the step is not retried (1 attempt)"
    assert tips[1].action == "retry: {attempts: 3, backoff: 2, on: [external_service]}"


def test_external_service_without_history_and_a_retry_policy(sqlite_store: Any) -> None:
    d = Diagnoser(sqlite_store).diagnose_error(
        ConnectionResetError("connection reset by peer"),
        {"step_def": {"retry": {"attempts": 3, "on": ["external_service"]}}})
    assert titles(d.suggestions) == ["Check the service's health and the network path to it"]
    assert d.suggestions[0].why == "ConnectionResetError: connection reset by peer"


# -- authentication ---------------------------------------------------------------------


def test_authentication_expired_token_and_missing_permission(sqlite_store: Any) -> None:
    expired = tips_for(sqlite_store, run_step(sqlite_store, raising(Unauthorized("token expired"))))
    assert titles(expired) == ["Check the credentials: missing, expired or rotated key or token"]
    # The type is qualified by its module (it is not a builtin).
    assert expired[0].why.endswith(
        ".Unauthorized: token expired (HTTP 401); retrying will not help")

    denied = tips_for(sqlite_store, run_step(sqlite_store, raising(
        PermissionError("cannot write to bucket reports"))))
    assert titles(denied) == ["Grant the credentials the permission this call needs"]
    assert denied[0].why == ("PermissionError: cannot write to bucket reports; "
                             "retrying will not help")


# -- resource ---------------------------------------------------------------------------


def test_out_of_memory_suggests_chunks(sqlite_store: Any) -> None:
    def hungry() -> None:
        block = bytearray(4 * 2**20)
        raise MemoryError(f"out of memory after {len(block)} bytes")

    run_id = run_step(sqlite_store, hungry, measure_memory=True)
    tips = tips_for(sqlite_store, run_id)
    assert titles(tips) == ["Process the data in chunks or give the worker more memory"]
    assert tips[0].why.startswith("MemoryError: out of memory after 4194304 bytes")


def test_out_of_memory_names_the_peak_memory_when_it_was_measured() -> None:
    # The engine records peak memory for completed attempts only (see the report), so
    # the facts are built by hand here, as the diagnoser does from a stored attempt.
    error = ErrorInfo(type="MemoryError", message="cannot allocate", category="resource")
    tips = suggest(FailureFacts(error=error, peak_memory_bytes=3 * 2**20 + 2**19))
    assert tips[0].why == ("MemoryError: cannot allocate; peak traced memory of the "
                           "attempt: 3.5 MiB")


def test_resource_kinds_get_their_own_fix(sqlite_store: Any) -> None:
    cases = [
        (OSError(errno.ENOSPC, "No space left on device"),
         "Free disk space or write somewhere with room"),
        (sqlite3.IntegrityError("UNIQUE constraint failed: users.email"),
         "Make the write idempotent (upsert), or fix the data that breaks the constraint"),
        (DeadlockDetected("deadlock detected"), "Retry the transaction and keep it short"),
        (OSError(errno.EMFILE, "Too many open files"),
         "Raise the resource limit or use less of it"),
    ]
    for exc, title in cases:
        tips = tips_for(sqlite_store, run_step(sqlite_store, raising(exc)))
        assert tips[0].category == "resource", exc
        assert titles(tips) == [title]
        assert str(exc) in tips[0].why


# -- data and validation: the offending input -------------------------------------------


def test_key_error_names_the_mappings_missing_the_key(sqlite_store: Any) -> None:
    def lookup(order: dict[str, Any]) -> Any:
        return order["customer"]["customer_id"]

    run_id = run_step(sqlite_store, lookup, inputs={"order": {"customer": {"name": "Ada"}}},
                      args={"order": "${{ inputs.order }}"})
    tip = tips_for(sqlite_store, run_id)[0]
    assert tip.category == "data"
    assert tip.title == "Fix the offending input (or make the step accept it)"
    assert tip.why.startswith("KeyError: 'customer_id' — suspicious values: ")
    # The mapping that lacks the key is named with the keys it does have.
    assert 'input.order.customer = ["name"]' in tip.why


def test_type_error_puts_the_none_value_first(sqlite_store: Any) -> None:
    def add(a: int, b: int | None) -> int:
        return a + b  # type: ignore[operator]

    run_id = run_step(sqlite_store, add, args={"a": 1, "b": None})
    tip = tips_for(sqlite_store, run_id)[0]
    listed = tip.why.split(" — suspicious values: ", 1)[1]
    assert listed.startswith("input.b = null")


def test_index_error_names_the_short_list(sqlite_store: Any) -> None:
    def first(rows: list[int], more: list[int]) -> int:
        return rows[0] + more[0]

    run_id = run_step(sqlite_store, first, args={"rows": [], "more": [1, 2, 3]})
    tip = tips_for(sqlite_store, run_id)[0]
    assert tip.why.endswith("suspicious values: input.rows = []")


def test_json_and_quoted_values_are_traced_to_the_input(sqlite_store: Any) -> None:
    def decode(payload: str, **_: Any) -> Any:
        return json.loads(payload)

    run_id = run_step(sqlite_store, decode, args={"payload": "{not json", "ok": "{}"})
    tip = tips_for(sqlite_store, run_id)[0]
    assert tip.category == "data"
    assert tip.why.endswith('suspicious values: input.payload = "{not json"')

    run_id = run_step(sqlite_store, raising(ValueError("unknown currency 'EURO'")),
                      name="pay", inputs={"currency": "EURO"},
                      args={"currency": "${{ inputs.currency }}"})
    tip = tips_for(sqlite_store, run_id)[0]
    assert tip.category == "validation"
    assert 'input.currency = "EURO"' in tip.why and 'inputs.currency = "EURO"' in tip.why


def test_bad_input_without_a_match_or_without_data(sqlite_store: Any) -> None:
    run_id = run_step(sqlite_store, raising(ValueError("amount must be positive")),
                      args={"amount": 5})
    tips = tips_for(sqlite_store, run_id)
    assert titles(tips) == ["Check the step's input against what it expects"]
    assert tips[0].why == "ValueError: amount must be positive"

    bare = Diagnoser(sqlite_store).suggest_fix(KeyError("sku"))
    assert bare[0].why == "KeyError: 'sku' (no recorded input to compare with)"


# -- cancelled and internal -------------------------------------------------------------


def test_cancelled_needs_no_fix(sqlite_store: Any) -> None:
    tips = tips_for(sqlite_store, run_step(sqlite_store, raising(Cancelled("job withdrawn"))))
    assert [(t.category, t.title) for t in tips] == [
        ("cancelled", "Nothing to fix unless the cancellation was unexpected")]


def explode() -> None:
    raise RuntimeError("state machine reached an impossible state")


def test_internal_error_in_user_code_points_at_the_innermost_user_frame(
    sqlite_store: Any,
) -> None:
    tips = tips_for(sqlite_store, run_step(sqlite_store, explode))
    assert tips[0].category == "internal"
    assert tips[0].title.startswith("Look at explode() in ")
    assert "test_diagnosis_suggest.py:" in tips[0].title
    assert tips[0].why.startswith("RuntimeError raised there; user frames (innermost first): ")
    assert "explode" in tips[0].why


def test_internal_error_in_library_code_says_so(sqlite_store: Any) -> None:
    release = threading.Lock().release  # releasing an unheld lock: RuntimeError in C code
    tips = tips_for(sqlite_store, run_step(sqlite_store, release))
    assert titles(tips) == ["Read the stack trace: the error came from library code"]
    assert tips[0].why == "RuntimeError: release unlocked lock"


def test_proposed_timeouts_are_rounded_up_never_down() -> None:
    error = ErrorInfo(type="StepTimeoutError", message="timed out", category="timeout")

    def proposed(timeout: float, durations_ms: tuple[float, ...]) -> str | None:
        p95, p99 = exact_percentiles(durations_ms, (0.95, 0.99))
        week = StepDurations(executions=len(durations_ms), p95_ms=p95, p99_ms=p99)
        facts = FailureFacts(error=error, step_def={"timeout": timeout}, week=week)
        return suggest(facts)[0].action

    assert proposed(1.7, (1700.0,)) == "timeout: 3"  # 2.55 s up, not to the even 2
    assert proposed(0.3, (300.0,)) == "timeout: 0.5"  # 0.45 s up to a tenth
    assert proposed(10, (9000.0, 9900.0)) == "timeout: 15"  # 1.5 x the timeout wins
    assert proposed(10, (20000.0,)) == "timeout: 30"  # 1.5 x the p99 wins
