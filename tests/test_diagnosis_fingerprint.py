"""Fingerprints: the same bug gives one fingerprint, different bugs give different ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from flowscope.diagnosis.fingerprint import (
    compute_fingerprint,
    fingerprint_error,
    normalize_message,
    top_user_frames,
)
from flowscope.engine.records import ErrorInfo, FrameInfo

ids = st.from_regex(r"[a-z]{2,4}_[0-9]{1,8}", fullmatch=True)
numbers = st.one_of(st.integers(-10**9, 10**9), st.floats(-1e6, 1e6, allow_nan=False,
                                                          allow_infinity=False))
uuids = st.uuids().map(str)
stamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                      timezones=st.just(UTC)).map(lambda d: d.isoformat())
hexes = st.integers(0, 2**64).map(hex)
emails = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|org)", fullmatch=True)
quoted = st.text(st.characters(whitelist_categories=("L", "N")), max_size=12).map(repr)
lines = st.integers(1, 5000)


def message(order: str, n: float, u: str, ts: str, h: str, who: str, q: str) -> str:
    return (f"order {order} failed after {n} retries (request {u} at {ts}, object {h}, "
            f"user {who}, field {q}) see /var/log/app/{order}.log and "
            f"https://api.example.com/v1/orders/{order}?token={u}&page={n}")


def error(text: str, line: int, typ: str = "acme.OrderError") -> ErrorInfo:
    frames = (
        FrameInfo("/usr/lib/python3.12/asyncio/tasks.py", line + 7, "run", False),
        FrameInfo("/home/me/app/orders.py", line, "process", True),
        FrameInfo("/home/me/app/db.py", line * 2, "save", True),
    )
    return ErrorInfo(type=typ, message=text, frames=frames)


@given(st.tuples(ids, numbers, uuids, stamps, hexes, emails, quoted, lines),
       st.tuples(ids, numbers, uuids, stamps, hexes, emails, quoted, lines))
def test_same_failure_with_other_ids_numbers_times_and_lines_is_one_fingerprint(
    a: tuple[str, float, str, str, str, str, str, int],
    b: tuple[str, float, str, str, str, str, str, int],
) -> None:
    first = error(message(*a[:7]), a[7])
    second = error(message(*b[:7]), b[7])
    assert normalize_message(first.message) == normalize_message(second.message)
    assert fingerprint_error(first, "orders", "charge") == fingerprint_error(
        second, "orders", "charge")


@given(st.tuples(ids, numbers, uuids, stamps, hexes, emails, quoted, lines),
       st.sampled_from(["KeyError", "acme.PaymentError", "TypeError"]))
def test_different_types_steps_or_messages_differ(
    a: tuple[str, float, str, str, str, str, str, int], other_type: str
) -> None:
    base = error(message(*a[:7]), a[7])
    fp = fingerprint_error(base, "orders", "charge")
    assert fingerprint_error(error(base.message, a[7], other_type), "orders", "charge") != fp
    assert fingerprint_error(base, "orders", "refund") != fp
    assert fingerprint_error(base, "billing", "charge") != fp
    reworded = error(base.message.replace("failed after", "was refused before"), a[7])
    assert fingerprint_error(reworded, "orders", "charge") != fp


@given(st.text(max_size=200))
def test_normalisation_is_idempotent_and_never_fails(text: str) -> None:
    once = normalize_message(text)
    assert normalize_message(once) == once


def test_user_frames_are_basename_and_function_innermost_first() -> None:
    err = error("x", 10)
    assert top_user_frames(err.frames) == ["db.py:save", "orders.py:process"]
    other_dir = ErrorInfo(type=err.type, message="x", frames=tuple(
        FrameInfo(f.file.replace("/home/me/app", "/srv/deploy/v2"), f.line + 40, f.function,
                  f.is_user_code) for f in err.frames))
    assert fingerprint_error(other_dir, "w", "s") == fingerprint_error(err, "w", "s")
    moved = ErrorInfo(type=err.type, message="x", frames=(
        FrameInfo("/home/me/app/orders.py", 3, "validate", True),))
    assert fingerprint_error(moved, "w", "s") != fingerprint_error(err, "w", "s")


def test_examples_of_normalisation() -> None:
    when = (datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=5)).isoformat()
    assert normalize_message(f"order A-17 at {when} took 3 tries") == (
        "order <id> at <ts> took <n> tries")
    assert normalize_message(f"id {uuid.UUID(int=5)}") == "id <uuid>"
    assert normalize_message("GET https://x.io/v1/u/42?key=abc failed") == (
        "GET https://x.io/<id>/u/<n>?key=<v> failed")
    assert normalize_message("mail bob@x.org at 0xdeadBEEF") == "mail <email> at <hex>"
    assert normalize_message("missing 'email' in /tmp/a/b.json") == "missing <q> in <path>"
    assert len(compute_fingerprint("E", "w", "s", "m")) == 16
