"""How a live run is driven from outside: cancel, interrupt, takeover, rewind.

``RunControls`` is the half of :class:`~flowscope.engine.execution.RunExecution` that the
:class:`~flowscope.engine.hooks.RunControl` protocol's commands land in (mixed in; the
run's own state lives in ``RunExecution``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

from flowscope.engine import events as ev
from flowscope.engine.attempts import Draft
from flowscope.engine.journal import Journal
from flowscope.engine.leases import Fence
from flowscope.engine.records import ErrorInfo
from flowscope.engine.state import RunState
from flowscope.engine.status import RunStatus
from flowscope.errors import LeaseLostError, RunStateError
from flowscope.model.workflow import Workflow

log = logging.getLogger("flowscope.engine")


class RunControls:
    """Commands from outside a run (mixed into ``RunExecution``, which owns the state)."""

    run_id: str
    root: Any
    status: RunStatus
    state: RunState
    workflow: Workflow
    journal: Journal
    children: dict[str, Any]
    loop: asyncio.AbstractEventLoop | None
    _cancelled: bool
    _interrupted: str | None
    _lost: LeaseLostError | None
    _rewinding: bool
    _running: int
    _ready: deque[tuple[str, str | None]]
    _remaining: dict[str, int]
    _tasks: set[asyncio.Task[None]]
    _task_step: dict[asyncio.Task[None], str]
    _uncancellable: set[str]
    _executing: set[str]
    _waiting: dict[str, asyncio.Task[None]]
    _failures: list[tuple[str, ErrorInfo]]
    _pending_restart: list[str]

    @property
    def fence(self) -> Fence | None:
        raise NotImplementedError

    def _resolve_done(self) -> None:
        raise NotImplementedError

    def _start_ready(self) -> None:
        raise NotImplementedError

    def _count_remaining(self, done: set[str]) -> list[str]:
        raise NotImplementedError

    def draft(self, cls: type[ev.Event], step_id: str | None = None, **fields: Any) -> Draft:
        raise NotImplementedError

    def commit(self, drafts: list[Draft], write: Callable[[list[ev.Event]], None]) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the run: no new step starts; running async steps are cancelled."""
        if self._cancelled or self.status.is_finished:
            return
        self._cancelled = True
        self._ready.clear()
        for child in list(self.children.values()):
            child.cancel()
        self._cancel_tasks()
        if self._running == 0:
            self._resolve_done()

    def interrupt(self, reason: str = "interrupt") -> None:
        """Stop executing, resumably: start no new step, let running sync steps finish.

        Async steps, steps stopped in the debugger and steps waiting to retry are
        cancelled without a record, so resume runs them again with the same attempt.
        The run ends ``interrupted`` and its lease is released.
        """
        if self._interrupted is not None or self._cancelled or self.status.is_finished:
            return
        self._interrupted = reason
        self._ready.clear()
        for child in list(self.children.values()):
            child.interrupt(reason)
        for task in list(self._tasks):
            sid = self._task_step.get(task)
            if sid is not None and sid in self._uncancellable:
                continue  # a sync step in a thread: let it finish and commit
            if sid is not None and sid in self.children:
                continue  # the child run ends itself, then this step returns
            task.cancel()
        if self._running == 0:
            self._resolve_done()

    def lose(self, exc: LeaseLostError) -> None:
        """Stop at once, writing nothing: another owner took the run over."""
        root = self.root
        if root._lost is not None:
            return
        root._lost = exc
        log.warning("%s", exc)
        root._abort_tree()

    def _abort_tree(self) -> None:
        self._ready.clear()
        for child in list(self.children.values()):
            child._abort_tree()
        self._cancel_tasks()
        if self._running == 0:
            self._resolve_done()

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def rewind(self, forget: Collection[str], vars: Mapping[str, Any], *,
               keep: Collection[str] = ()) -> list[str]:
        """Set aside the results of ``forget`` and the steps after them; run them again.

        Steps in ``keep`` keep their recorded results even when they come after a step
        that is set aside (external effects that must not repeat). Only a stopped run can
        be rewound: no step of it may be executing.
        """
        if self._executing:
            raise RunStateError(
                f"run {self.run_id} has steps still executing: "
                + ", ".join(sorted(self._executing)),
                hint="wait until the running steps finish (the run is stopped), then restore",
            )
        discard: set[str] = set()
        for sid in forget:
            if sid in self.state.statuses:
                discard.add(sid)
                discard.update(d for d in self.workflow.descendants(sid)
                               if d in self.state.statuses)
        discard.difference_update(keep)
        self._rewinding = True
        for task in list(self._waiting.values()):
            task.cancel()
        self.loop_call(self._end_rewind)
        ordered = [s.id for s in self.workflow.steps if s.id in discard]
        for sid in ordered:
            self.state.forget(sid)
        self.state.replace_vars(vars)
        fence = self.fence
        self.journal.mark_rewound(self.run_id, ordered, fence=fence)
        self.commit(
            [self.draft(ev.RunRewound, to_step=ordered[0] if ordered else None,
                        discarded=tuple(ordered), vars=dict(vars))],
            lambda events: self.journal.append_events(
                events, fence=fence, run_vars=(self.run_id, dict(vars))))
        self._failures = [(s, e) for s, e in self._failures if s not in discard]
        # Recount what every step still waits for; what is ready runs once the
        # cancelled tasks have ended (``_end_rewind``).
        self._ready.clear()
        self._pending_restart = self._count_remaining(set(self.state.statuses))
        return ordered

    def loop_call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the run's loop once the current callbacks are done."""
        assert self.loop is not None
        self.loop.call_soon(fn)

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the run's loop thread (safe from any thread)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn)

    def _end_rewind(self) -> None:
        self._rewinding = False
        for sid in self._pending_restart:
            if sid in self._remaining and all(sid != r for r, _ in self._ready):
                self._ready.append((sid, None))
        self._pending_restart = []
        self._start_ready()
