"""Suggested fixes per error category, backed by the run data where there is some.

Every suggestion says *why* it was made (the numbers or values that led to it). Without
a store (a bare exception) the suggestions are the category's general advice.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from flowscope.diagnosis.durations import StepDurations
from flowscope.diagnosis.failures import StepSample
from flowscope.diagnosis.fingerprint import top_user_frames
from flowscope.engine.records import ErrorInfo
from flowscope.model.workflow import DEFAULT_RETRY_ON

#: A p99 above this share of the timeout means the timeout is too tight.
TIGHT_TIMEOUT = 0.8
#: A daily failure rate above this means the service itself is degraded.
DEGRADED_RATE = 0.2
#: How many offending input paths a suggestion names at most.
MAX_PATHS = 5


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One suggested next step."""

    title: str
    """What to do, in a line."""
    why: str
    """The data (or reasoning) that led to it."""
    category: str
    """The error category it addresses."""
    action: str | None = None
    """A concrete change, e.g. a definition snippet, when there is one."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FailureFacts:
    """What suggestions look at: the error and whatever the store knows around it."""

    error: ErrorInfo
    step_id: str | None = None
    step_def: Mapping[str, Any] | None = None
    """The step as written in the run's stored definition (timeout, retry...)."""
    step_input: Mapping[str, Any] | None = None
    inputs: Mapping[str, Any] | None = None
    peak_memory_bytes: int | None = None
    day: StepSample | None = None
    """The step's attempts over the last day."""
    week: StepDurations | None = None
    """The step's duration percentiles over the last week (as ``flowscope stats``)."""
    category_last_day: int | None = None
    """Failures of this step in this category over the last day."""


def _retry(step_def: Mapping[str, Any] | None) -> dict[str, Any]:
    raw = dict((step_def or {}).get("retry") or {})
    return {
        "attempts": int(raw.get("attempts", 1)), "backoff": float(raw.get("backoff", 1.0)),
        "max_backoff": float(raw.get("max_backoff", 60.0)),
        "on": list(raw.get("on", DEFAULT_RETRY_ON)), "jitter": bool(raw.get("jitter", True)),
    }


def _retry_text(r: Mapping[str, Any]) -> str:
    if r["attempts"] <= 1:
        return "the step is not retried (1 attempt)"
    return (f"{r['attempts']} attempts, backoff {r['backoff']:g}s doubling up to "
            f"{r['max_backoff']:g}s{' with jitter' if r['jitter'] else ''}, "
            f"on {', '.join(r['on'])}")


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, value)`` for every value nested in dicts and lists (containers too)."""
    yield path or "$", value
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")


def _type_name(value: Any) -> str:
    return "NoneType" if value is None else type(value).__name__


def offending_inputs(error: ErrorInfo, data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Return input paths (and values) the error's message points at, best guesses first."""
    message = error.message
    short_type = error.type.rsplit(".", 1)[-1]
    names = set(error.bases) | {short_type}
    quoted = re.findall(r"'([^'\n]*)'|\"([^\"\n]*)\"", message)
    quoted_values = [a or b for a, b in quoted]
    found: list[tuple[str, Any]] = []
    all_leaves = [(p, v) for p, v in leaves(dict(data)) if p != "$"]
    if "KeyError" in names and quoted_values:
        key = quoted_values[0]
        found = [(p, sorted(map(str, v))) for p, v in all_leaves
                 if isinstance(v, Mapping) and key not in v]
    elif "IndexError" in names:
        found = [(p, v) for p, v in all_leaves if isinstance(v, list | tuple) and len(v) <= 1]
    elif "TypeError" in names or "AttributeError" in names:
        types = set(quoted_values) | set(re.findall(r"\b(NoneType|str|int|float|list|dict)\b",
                                                    message))
        found = [(p, v) for p, v in all_leaves if _type_name(v) in types]
        found.sort(key=lambda pv: pv[1] is not None)  # a None is the usual culprit
    elif "JSONDecodeError" in names or "json" in message.lower():
        for p, v in all_leaves:
            if isinstance(v, str):
                try:
                    json.loads(v)
                except ValueError:
                    found.append((p, v))
    if not found and quoted_values:
        wanted = set(quoted_values)
        found = [(p, v) for p, v in all_leaves
                 if not isinstance(v, Mapping | list | tuple) and str(v) in wanted]
    return found[:MAX_PATHS]


def _seconds_up(value: float) -> str:
    """Round a proposed number of seconds *up* to a readable figure (never down to 0)."""
    if value >= 1:
        return f"{math.ceil(value):d}"
    return f"{math.ceil(round(value * 10, 6)) / 10:g}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1000:.2f}s"


def _timeout(f: FailureFacts, cat: str) -> list[Suggestion]:
    out: list[Suggestion] = []
    timeout = (f.step_def or {}).get("timeout")
    sample = f.week
    p95 = sample.p95_ms if sample else None
    p99 = sample.p99_ms if sample else None
    if timeout is not None and p99 is not None:
        ratio = p99 / (float(timeout) * 1000)
        why = (f"over the last 7 days ({sample.executions if sample else 0} attempts) the step's "
               f"p95 is {_ms(p95)} and p99 {_ms(p99)} against a timeout of {float(timeout):g}s "
               f"({ratio:.0%} of it)")
        if ratio >= TIGHT_TIMEOUT:
            out.append(Suggestion(
                "Raise the step's timeout", why, cat,
                # Rounded up: ``:.0f`` turned a sub-second timeout into "timeout: 0".
                action=f"timeout: {_seconds_up(max(float(timeout) * 1.5, p99 * 1.5 / 1000))}",
            ))
        else:
            out.append(Suggestion(
                "Look for the slow call: most attempts finish well within the timeout", why, cat,
            ))
    elif timeout is not None:
        out.append(Suggestion("Raise the step's timeout or make the step faster",
                              f"the attempt ran past the timeout of {float(timeout):g}s; no "
                              "duration history to compare with", cat))
    else:
        out.append(Suggestion("Give the slow call a longer timeout, or make it faster",
                              f"the step raised {f.error.type}: {f.error.message}", cat))
    r = _retry(f.step_def)
    if "timeout" not in r["on"] or r["attempts"] <= 1:
        out.append(Suggestion("Retry timeouts", f"retry policy: {_retry_text(r)}", cat,
                              action="retry: {attempts: 3, on: [timeout]}"))
    return out


def _rate_limit(f: FailureFacts, cat: str) -> list[Suggestion]:
    r = _retry(f.step_def)
    seen = (f"{f.category_last_day} rate-limit failures of this step in the last day"
            if f.category_last_day is not None else "the service refused the call as too many")
    out = [Suggestion(
        "Back off longer between retries and lower the call rate",
        f"{seen}; retry policy: {_retry_text(r)}", cat,
        action=f"retry: {{attempts: {max(r['attempts'], 5)}, backoff: "
               f"{max(r['backoff'] * 2, 2):g}, jitter: true, on: [rate_limit]}}",
    )]
    if "rate_limit" not in r["on"] or r["attempts"] <= 1:
        out.append(Suggestion("Retry rate-limited calls", f"retry policy: {_retry_text(r)}",
                              cat, action="retry: {attempts: 5, on: [rate_limit]}"))
    return out


def _bad_input(f: FailureFacts, cat: str) -> list[Suggestion]:
    data: dict[str, Any] = {}
    if f.step_input:
        data["input"] = dict(f.step_input)
    if f.inputs:
        data["inputs"] = dict(f.inputs)
    found = offending_inputs(f.error, data) if data else []
    if found:
        listed = "; ".join(f"{p} = {json.dumps(v, default=str)[:80]}" for p, v in found)
        return [Suggestion(
            "Fix the offending input (or make the step accept it)",
            f"{f.error.type}: {f.error.message} — suspicious values: {listed}", cat,
        )]
    what = "check the step's input against what it expects"
    return [Suggestion(what[0].upper() + what[1:],
                       f"{f.error.type}: {f.error.message}"
                       + ("" if data else " (no recorded input to compare with)"), cat)]


def _external(f: FailureFacts, cat: str) -> list[Suggestion]:
    out: list[Suggestion] = []
    day = f.day
    rate = day.failure_rate if day else None
    if day is not None and rate is not None:
        why = (f"the step failed {day.failures} of {day.attempts} attempts in the last day "
               f"({rate:.0%})")
        if rate >= DEGRADED_RATE:
            out.append(Suggestion("The service looks degraded: check its status, add a "
                                  "circuit breaker or a fallback", why, cat))
        else:
            out.append(Suggestion("A transient outage: retrying is likely enough", why, cat))
    r = _retry(f.step_def)
    if "external_service" not in r["on"] or r["attempts"] <= 1:
        out.append(Suggestion("Retry external-service errors with backoff",
                              f"retry policy: {_retry_text(r)}", cat,
                              action="retry: {attempts: 3, backoff: 2, on: [external_service]}"))
    if not out:
        out.append(Suggestion("Check the service's health and the network path to it",
                              f"{f.error.type}: {f.error.message}", cat))
    return out


def _auth(f: FailureFacts, cat: str) -> list[Suggestion]:
    status = f.error.status_code
    if status == 403 or "Permission" in f.error.type:
        title = "Grant the credentials the permission this call needs"
    else:
        title = "Check the credentials: missing, expired or rotated key or token"
    why = f"{f.error.type}: {f.error.message}" + (f" (HTTP {status})" if status else "")
    return [Suggestion(title, why + "; retrying will not help", cat)]


def _resource(f: FailureFacts, cat: str) -> list[Suggestion]:
    text = f"{f.error.type} {f.error.message}".lower()
    why = f"{f.error.type}: {f.error.message}"
    if "memory" in text or "oom" in text:
        peak = (f"; peak traced memory of the attempt: {f.peak_memory_bytes / 2**20:.1f} MiB"
                if f.peak_memory_bytes else "")
        return [Suggestion("Process the data in chunks or give the worker more memory",
                           why + peak, cat)]
    if "space" in text or "disk" in text or "quota" in text:
        return [Suggestion("Free disk space or write somewhere with room", why, cat)]
    if any(w in text for w in ("constraint", "integrity", "duplicate", "violation")):
        return [Suggestion("Make the write idempotent (upsert), or fix the data that breaks "
                           "the constraint", why, cat)]
    if "deadlock" in text or "lock" in text:
        return [Suggestion("Retry the transaction and keep it short", why, cat)]
    return [Suggestion("Raise the resource limit or use less of it", why, cat)]


def _internal(f: FailureFacts, cat: str) -> list[Suggestion]:
    user = [fr for fr in f.error.frames if fr.is_user_code]
    if user:
        inner = user[-1]
        return [Suggestion(f"Look at {inner.function}() in {inner.file}:{inner.line}",
                           f"{f.error.type} raised there; user frames (innermost first): "
                           + ", ".join(top_user_frames(f.error.frames)), cat)]
    return [Suggestion("Read the stack trace: the error came from library code",
                       f"{f.error.type}: {f.error.message}", cat)]


def _cancelled(f: FailureFacts, cat: str) -> list[Suggestion]:
    return [Suggestion("Nothing to fix unless the cancellation was unexpected",
                       "the run or step was cancelled", cat)]


_BY_CATEGORY = {
    "timeout": _timeout, "rate_limit": _rate_limit, "validation": _bad_input,
    "data": _bad_input, "external_service": _external, "authentication": _auth,
    "resource": _resource, "internal": _internal, "cancelled": _cancelled,
}


def suggest(facts: FailureFacts) -> list[Suggestion]:
    """Return the suggestions for a failure, most useful first."""
    category = facts.error.category
    return _BY_CATEGORY.get(category, _internal)(facts, category)
