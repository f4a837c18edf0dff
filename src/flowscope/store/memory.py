"""The in-memory journal: same contract and semantics as the SQL store, in dicts.

Used by tests and by ``open_store("memory")``. Values are copied on the way in (and the
mutable ones again on the way out), so neither the writer nor a reader can change what
is stored. Copies follow JSON rules (tuples become lists, non-JSON data is refused)
so a test on this store means the same as one on SQLite.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flowscope.engine.events import Event, EventKind
from flowscope.engine.leases import Fence
from flowscope.engine.records import ErrorInfo, RunRecord, StepAttemptRecord
from flowscope.engine.status import RunStatus
from flowscope.errors import RunNotFoundError, StoreError
from flowscope.store._codec import (
    MIN_PREFIX,
    NotPlainJSON,
    ambiguous_hint,
    check_limit,
    copy_json_fast,
    event_name,
    json_copy,
    parse_status,
    payload_fields,
    short_prefix_hint,
)
from flowscope.store.analytics_memory import MemoryAnalyticsSource
from flowscope.store.debug_memory import MemoryDebugStorage
from flowscope.store.failures_memory import MemoryFailureSource
from flowscope.store.memory_leases import MemoryLeases
from flowscope.store.schema import to_utc

#: Event fields that may hold mutable JSON data; every other payload field is a scalar
#: or a tuple, safe to share.
_JSON_FIELDS = frozenset({"inputs", "outputs", "input", "values", "old", "new", "vars"})
_COPIED_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def _copied_fields(cls: type[Event]) -> tuple[str, ...]:
    names = _COPIED_FIELDS.get(cls)
    if names is None:
        names = tuple(n for n in payload_fields(cls) if n in _JSON_FIELDS)
        _COPIED_FIELDS[cls] = names
    return names


#: A stored event: (seq, the caller's event, private copies of its JSON fields or None).
#: Reads rebuild the event from the copies, so the caller's mutable values are never
#: handed out again and the frozen event need not be rebuilt on the hot path.
_Ev = tuple[int, Event, dict[str, Any] | None]


def _private_event(event: Event) -> _Ev:
    """Validate the event and copy its JSON fields."""
    if event.ts.tzinfo is None:
        to_utc(event.ts)  # raises the store's error for naive datetimes
    names = _COPIED_FIELDS.get(type(event))
    if names is None:
        names = _copied_fields(type(event))
    if not names:
        return (event.seq, event, None)
    try:
        copies = {name: copy_json_fast(getattr(event, name)) for name in names}
    except NotPlainJSON:
        copies = {
            name: json_copy(getattr(event, name), partial(event_name, event, name))
            for name in names
        }
    return (event.seq, event, copies)


def _seq_taken(ev: Event) -> StoreError:
    return StoreError(
        f"cannot store event #{ev.seq} of run {ev.run_id}: that seq is taken",
        hint="each event seq must be new for its run",
    )


def _step_name(a: StepAttemptRecord) -> str:
    return f"step {a.step_id!r} (attempt {a.attempt}) of run {a.run_id}"


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


@dataclass(slots=True)
class _Run:
    record: RunRecord
    order: int
    steps: list[_Step] = field(default_factory=list)
    events: list[_Ev] = field(default_factory=list)
    seqs: set[int] = field(default_factory=set)


#: A stored attempt: (the caller's record, private copies of input, output and
#: vars_after, rewound). A tuple because building one is the cheapest thing Python does.
_Step = tuple[StepAttemptRecord, Any, Any, Any, bool]


class MemoryStore(MemoryLeases):
    """A :class:`~flowscope.engine.journal.Journal` kept in process memory."""

    dialect = "memory"
    url = "memory"

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._lock = threading.RLock()
        self._closed = False
        self._init_leases()
        self._debug = MemoryDebugStorage(lambda: self._closed)
        self._analytics = MemoryAnalyticsSource(self)

    def debug_storage(self) -> MemoryDebugStorage:
        """The debugger's storage, kept beside the runs (one object for the store's
        lifetime)."""
        return self._debug

    def failure_source(self) -> MemoryFailureSource:
        """Diagnosis's read-only view of past failures (computed from the attempts)."""
        return MemoryFailureSource(self)

    def analytics_source(self) -> MemoryAnalyticsSource:
        """What analytics reads and writes here (the ``AnalyticsSource`` contract; one
        object for the store's lifetime, since it also keeps reported samples)."""
        return self._analytics

    def _known(self, run_id: str) -> bool:
        self._check_open()
        return run_id in self._runs

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed", hint="open a new one with open_store()")

    def _run(self, run_id: str) -> _Run:
        self._check_open()
        found = self._runs.get(run_id)
        if found is None:
            raise RunNotFoundError(run_id)
        return found

    def _check_events(self, events: Sequence[Event], known: _Run | None = None) -> list[_Ev]:
        """Validate and copy events before anything is stored (atomicity)."""
        out: list[_Ev] = []
        for ev in events:
            run = known if known is not None and ev.run_id == known.record.id else None
            if run is None:
                run = self._run(ev.run_id)
            if ev.seq in run.seqs:
                raise _seq_taken(ev)
            out.append(_private_event(ev))
        if len(out) > 1 and len({(e[1].run_id, e[0]) for e in out}) < len(out):
            seen: set[tuple[str, int]] = set()
            for _, ev, _ in out:
                if (ev.run_id, ev.seq) in seen:
                    raise _seq_taken(ev)
                seen.add((ev.run_id, ev.seq))
        return out

    @staticmethod
    def _add_events(runs: Mapping[str, _Run], events: list[_Ev]) -> None:
        for stored in events:
            run = runs[stored[1].run_id]
            kept = run.events
            kept.append(stored)
            if len(kept) > 1 and stored[0] < kept[-2][0]:
                kept.sort(key=lambda e: e[0])  # a concurrent step's events came late
            run.seqs.add(stored[0])

    # -- journal: writes -------------------------------------------------------------

    def create_run(self, run: RunRecord, events: Sequence[Event] = (), *,
                   fence: Fence | None = None) -> None:
        """Insert a new run (and its first events) in one transaction."""
        what = f"run {run.id}"
        record = dataclasses.replace(
            run,
            status=RunStatus(run.status),
            definition=json_copy(run.definition, lambda: f"the definition of {what}"),
            inputs=json_copy(run.inputs, lambda: f"the inputs of {what}"),
            outputs=json_copy(run.outputs, lambda: f"the outputs of {what}"),
            vars=json_copy(run.vars, lambda: f"the vars of {what}"),
            tags=json_copy(run.tags, lambda: f"the tags of {what}"),
            created_at=to_utc(run.created_at or datetime.now(UTC)),
            started_at=_utc_or_none(run.started_at),
            ended_at=_utc_or_none(run.ended_at),
        )
        with self._lock:
            self._check_open()
            if fence is not None:
                self.check_fence(fence)
            if run.id in self._runs:
                raise StoreError(
                    f"cannot create {what}: a run with this id exists",
                    hint="run ids must be unique",
                )
            entry = _Run(record, len(self._runs))
            copied = self._check_events(events, entry)
            self._runs[run.id] = entry
            self._add_events(self._runs, copied)

    def record_step(
        self,
        attempt: StepAttemptRecord,
        events: Sequence[Event] = (),
        *,
        run_vars: Mapping[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> None:
        """Commit one step attempt, its events and (if given) the run's new variables."""
        a = attempt
        # Copy (and so validate) everything first: a failure must leave nothing behind.
        try:
            inp = None if a.input is None else copy_json_fast(a.input)
            out = a.output if a.output is None else copy_json_fast(a.output)
            after = None if a.vars_after is None else copy_json_fast(a.vars_after)
        except NotPlainJSON:
            inp, out, after = self._slow_step_copies(a)
        for stamp in (a.ready_at, a.started_at, a.ended_at):
            if stamp is not None and stamp.tzinfo is None:
                to_utc(stamp)  # raises the store's error for naive datetimes
        new_vars = None if run_vars is None else json_copy(
            run_vars, lambda: f"the run vars after {_step_name(a)}"
        )
        with self._lock:
            run = self._runs.get(a.run_id)
            if run is None or self._closed:
                run = self._run(a.run_id)
            if fence is not None:
                self.check_fence(fence)
            copied = self._check_events(events, run) if events else None
            run.steps.append((a, inp, out, after, a.rewound))
            if copied:
                self._add_events(self._runs, copied)
            if new_vars is not None:
                run.record = dataclasses.replace(run.record, vars=new_vars)

    @staticmethod
    def _slow_step_copies(a: StepAttemptRecord) -> tuple[Any, Any, Any]:
        what = _step_name(a)
        return (
            json_copy(a.input, lambda: f"the input of {what}"),
            json_copy(a.output, lambda: f"the output of {what}"),
            json_copy(a.vars_after, lambda: f"the vars after {what}"),
        )

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus,
        events: Sequence[Event] = (),
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        outputs: Mapping[str, Any] | None = None,
        error: ErrorInfo | None = None,
        failed_step: str | None = None,
        run_vars: Mapping[str, Any] | None = None,
        fence: Fence | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """Change a run's status (and the fields given) with its events, in one transaction.

        The store does not check the transition; the engine does (``check_transition``).
        """
        what = f"run {run_id}"
        changes: dict[str, Any] = {"status": parse_status(status)}
        if started_at is not None:
            changes["started_at"] = to_utc(started_at)
        if ended_at is not None:
            changes["ended_at"] = to_utc(ended_at)
        if outputs is not None:
            changes["outputs"] = json_copy(outputs, lambda: f"the outputs of {what}")
        if error is not None:
            changes["error"] = error
        if failed_step is not None:
            changes["failed_step"] = failed_step
        if run_vars is not None:
            changes["vars"] = json_copy(run_vars, lambda: f"the vars of {what}")
        with self._lock:
            run = self._run(run_id)
            if fence is not None:
                self.check_fence(fence)
            copied = self._check_events(events)
            run.record = dataclasses.replace(run.record, **changes)
            self._add_events(self._runs, copied)
            if duration_ms is not None and ended_at is not None:
                self._analytics.keep_reported_duration(run_id, duration_ms)

    def append_events(self, events: Sequence[Event], *, fence: Fence | None = None,
                      run_vars: tuple[str, Mapping[str, Any]] | None = None) -> None:
        """Store events that belong to no step result (pauses, logs, edits)."""
        new_vars: dict[str, Any] = {} if run_vars is None else json_copy(
            run_vars[1], lambda: f"the vars of run {run_vars[0]}")
        with self._lock:
            if fence is not None:
                self.check_fence(fence)
            copied = self._check_events(events)
            if run_vars is not None:
                run = self._run(run_vars[0])
                run.record = dataclasses.replace(run.record, vars=new_vars)
            self._add_events(self._runs, copied)

    def mark_rewound(self, run_id: str, step_ids: Sequence[str], *,
                     fence: Fence | None = None) -> None:
        """Flag the live attempts of these steps as rewound (kept, but no longer state)."""
        wanted = set(step_ids)
        with self._lock:
            self.check_fence(fence)
            steps = self._run(run_id).steps
            for i, step in enumerate(steps):
                if step[0].step_id in wanted and not step[4]:
                    steps[i] = (*step[:4], True)

    # -- journal: reads --------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        """Return the run with this id or unique id prefix (``RunNotFoundError`` otherwise)."""
        with self._lock:
            self._check_open()
            found = self._runs.get(run_id)
            if found is None:
                if len(run_id) < MIN_PREFIX:
                    raise RunNotFoundError(run_id, hint=short_prefix_hint())
                matches = sorted(
                    (r for key, r in self._runs.items() if key.startswith(run_id)),
                    key=_newest_first,
                )
                if len(matches) > 1:
                    raise RunNotFoundError(
                        run_id, hint=ambiguous_hint([m.record.id for m in matches])
                    )
                if not matches:
                    raise RunNotFoundError(run_id)
                found = matches[0]
            return _public_run(found.record)

    def get_steps(self, run_id: str, *, include_rewound: bool = False) -> list[StepAttemptRecord]:
        """Return the run's step attempts in the order they were recorded."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                self._check_open()
                return []
            steps = [s for s in run.steps if include_rewound or not s[4]]
            return [_public_step(s) for s in steps]

    def last_seq(self, run_id: str) -> int:
        """The highest event seq stored for the run (0 when it has none)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                self._check_open()
                return 0
            return run.events[-1][0] if run.events else 0

    def get_events(self, run_id: str, *, after_seq: int = 0,
                   kinds: Sequence[EventKind] | None = None) -> list[Event]:
        """Return the run's events with ``seq > after_seq`` (of these kinds), in order."""
        wanted = None if kinds is None else set(kinds)
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                self._check_open()
                return []
            return [_public_event(e) for e in run.events
                    if e[0] > after_seq and (wanted is None or e[1].kind in wanted)]

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | str | None = None,
        user: str | None = None,
        parent_run_id: str | None = None,
        roots_only: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 50,
    ) -> list[RunRecord]:
        """Return runs, newest first (by ``created_at``, then id), filtered as given.

        ``since`` is inclusive and ``until`` exclusive, both on ``created_at``.
        """
        check_limit(limit)
        wanted_status = None if status is None else parse_status(status)
        lo = None if since is None else to_utc(since)
        hi = None if until is None else to_utc(until)
        tests: list[Callable[[RunRecord], bool]] = []
        if workflow is not None:
            tests.append(lambda r: r.workflow == workflow)
        if wanted_status is not None:
            tests.append(lambda r: r.status == wanted_status)
        if user is not None:
            tests.append(lambda r: r.user == user)
        if parent_run_id is not None:
            tests.append(lambda r: r.parent_run_id == parent_run_id)
        if roots_only:
            tests.append(lambda r: r.parent_run_id is None)
        if lo is not None:
            tests.append(lambda r: r.created_at is not None and r.created_at >= lo)
        if hi is not None:
            tests.append(lambda r: r.created_at is not None and r.created_at < hi)
        with self._lock:
            self._check_open()
            chosen = sorted(
                (r for r in self._runs.values() if all(t(r.record) for t in tests)),
                key=_newest_first,
            )
            if limit is not None:
                chosen = chosen[:limit]
            return [_public_run(r.record) for r in chosen]

    def find_child_run(self, parent_run_id: str, parent_step_id: str) -> RunRecord | None:
        """Return the newest child run started by this step, if any (used by resume)."""
        with self._lock:
            children = sorted(
                (
                    r for r in self._runs.values()
                    if r.record.parent_run_id == parent_run_id
                    and r.record.parent_step_id == parent_step_id
                ),
                key=_newest_first,
            )
            return _public_run(children[0].record) if children else None

    def close(self) -> None:
        """Forget nothing, but refuse further use (like a closed SQL store)."""
        self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "MemoryStore()"


class _Desc:
    """Reverses the order of a sort key (for newest-first with an id tie-break)."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[datetime, str]) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return other.key < self.key


def _newest_first(run: _Run) -> _Desc:
    created = run.record.created_at
    assert created is not None  # create_run always fills it
    return _Desc((created, run.record.id))


def _copy(value: Any) -> Any:
    return json_copy(value, lambda: "a stored value")


def _public_run(record: RunRecord) -> RunRecord:
    return dataclasses.replace(
        record,
        definition=_copy(record.definition),
        inputs=_copy(record.inputs),
        outputs=_copy(record.outputs),
        vars=_copy(record.vars),
        tags=_copy(record.tags),
    )


def _public_step(step: _Step) -> StepAttemptRecord:
    r, inp, out, after, rewound = step
    return dataclasses.replace(
        r,
        input=_copy(inp),
        output=_copy(out),
        vars_after=_copy(after),
        rewound=rewound,
        ready_at=_utc_or_none(r.ready_at),
        started_at=_utc_or_none(r.started_at),
        ended_at=_utc_or_none(r.ended_at),
    )


def _public_event(stored: _Ev) -> Event:
    _, event, copies = stored
    changes = {} if copies is None else {name: _copy(value) for name, value in copies.items()}
    if event.ts.tzinfo is not UTC:
        changes["ts"] = to_utc(event.ts)
    return dataclasses.replace(event, **changes) if changes else event
