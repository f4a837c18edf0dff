"""The debugger core: the engine hook that asks sessions whether a run stops.

Like CPython's ``bdb``, the core only decides *whether* to stop and holds the run while it
is stopped; it never prints or reads input. Sessions (one per user and target) hold the
breakpoints and the stepping state; front ends talk to sessions.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flowscope.debugger.errors import AccessDeniedError, DebuggerError, SessionNotFoundError
from flowscope.debugger.persistence import DebugStore, SessionRecord
from flowscope.debugger.session import Session
from flowscope.debugger.tree import RunTree
from flowscope.engine.hooks import EngineHooks, FailedStep, FailureAction, PendingStep
from flowscope.engine.records import ErrorInfo

if TYPE_CHECKING:
    from flowscope.engine.runner import Engine


class Debugger(EngineHooks):
    """The engine hook behind every debug session of one engine.

    Args:
        engine: The engine whose runs are debugged (the hook is added to it).
        max_snapshots: Size of each session's in-memory snapshot ring.
        record_history: Also write every step-boundary snapshot to the store.
    """

    def __init__(self, engine: Engine, *, max_snapshots: int = 100,
                 record_history: bool = True) -> None:
        self.engine = engine
        self.store = DebugStore(engine.store)
        self.max_snapshots = max_snapshots
        self.record_history = record_history
        self._sessions: dict[str, Session] = {}
        #: root run id -> (session, its tree); looked up once per step.
        self._trees: dict[str, tuple[Session, RunTree]] = {}
        #: workflow name -> sessions waiting for runs of it.
        self._by_workflow: dict[str, list[Session]] = {}
        self._lock = threading.Lock()
        engine.add_hook(self)

    def close(self) -> None:
        """Detach from the engine (live stopped runs are let go)."""
        for session in list(self._sessions.values()):
            self._release_all(session)
        self.engine.remove_hook(self)

    # -- sessions ---------------------------------------------------------------------------

    def open_session(self, *, user: str, run_id: str | None = None,
                     workflow: str | None = None, stop_on_entry: bool = False,
                     stop_on_error: bool = False) -> Session:
        """Open a session owned by ``user`` on a run (live or prepared) or on a workflow.

        With neither ``run_id`` nor ``workflow``, runs are attached later with
        :meth:`attach`.

        Raises:
            DebuggerError: Both a run and a workflow were given, or ``user`` is empty.
            RunNotFoundError: The run does not exist.
        """
        if not isinstance(user, str) or not user:
            raise DebuggerError("a debug session needs a user",
                                hint="pass user='name' (the session's owner)")
        if run_id is not None and workflow is not None:
            raise DebuggerError("attach a session to a run or to a workflow, not both",
                                hint="pass run_id=... or workflow=...")
        root: str | None = None
        if run_id is not None:
            root = self._root_of(run_id)
            run_id = self.engine.store.get_run(run_id).id
        record = SessionRecord(
            id=str(uuid.uuid4()), user=user, run_id=run_id, workflow=workflow,
            options={"stop_on_entry": stop_on_entry, "stop_on_error": stop_on_error,
                     "max_snapshots": self.max_snapshots},
            created_at=datetime.now(UTC))
        self.store.create_session(record)
        session = Session(record, self.engine, self.store, stop_on_entry=stop_on_entry,
                          stop_on_error=stop_on_error, max_snapshots=self.max_snapshots,
                          record_history=self.record_history)
        with self._lock:
            self._sessions[session.id] = session
            if workflow is not None:
                self._by_workflow.setdefault(workflow, []).append(session)
        if root is not None:
            self._bind(session, root)
        return session

    def attach(self, session_id: str, run_id: str, *, user: str) -> None:
        """Debug one more run (its whole tree) in a session."""
        session = self.get_session(session_id, user=user)
        self._bind(session, self._root_of(run_id))

    def get_session(self, session_id: str, *, user: str) -> Session:
        """Return a live session, only to its owner (the one ownership check).

        Raises:
            SessionNotFoundError: No such session in this debugger.
            AccessDeniedError: The session belongs to another user.
        """
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        _check_owner(session.user, user, session_id)
        return session

    def session_record(self, session_id: str, *, user: str) -> SessionRecord:
        """Return a session as stored (also closed ones), only to its owner."""
        record = self.store.get_session(session_id)
        if record is None:
            raise SessionNotFoundError(session_id)
        _check_owner(record.user, user, session_id)
        return record

    def sessions(self, *, user: str) -> list[Session]:
        """The live sessions of ``user``."""
        return [s for s in list(self._sessions.values()) if s.user == user]

    def close_session(self, session_id: str, *, user: str) -> None:
        """Close a session: its stopped runs go on and it debugs nothing more."""
        session = self.get_session(session_id, user=user)
        self._release_all(session)
        with self._lock:
            self._sessions.pop(session_id, None)
            for root, (owner, _) in list(self._trees.items()):
                if owner is session:
                    del self._trees[root]
            for name, found in list(self._by_workflow.items()):
                if session in found:
                    found.remove(session)
                    if not found:
                        del self._by_workflow[name]
        session.closed = True
        self.store.close_session(session_id, datetime.now(UTC))

    def _release_all(self, session: Session) -> None:
        session.table.clear()
        for tree in list(session.trees.values()):
            tree.mode = tree.mode.CONTINUE
            if tree.stop is not None:
                # DebuggerError: its loop is gone, so nothing is waiting any more.
                with contextlib.suppress(DebuggerError):
                    tree.call(tree.open_gate)

    def _root_of(self, run_id: str) -> str:
        live = self.engine.control(run_id)
        if live is not None:
            return live.root_run_id
        record = self.engine.store.get_run(run_id)
        return record.root_run_id or record.id

    def _bind(self, session: Session, root: str) -> RunTree:
        with self._lock:
            found = self._trees.get(root)
            if found is not None and found[0] is not session:
                raise DebuggerError(f"run {root} is already debugged by session {found[0].id}",
                                    hint="close that session first")
            tree = session.bind(root)
            self._trees[root] = (session, tree)
            return tree

    # -- hooks ------------------------------------------------------------------------------

    def _lookup(self, pending: PendingStep) -> tuple[Session, RunTree] | None:
        root = pending.frames[0]
        found = self._trees.get(root.run_id)
        if found is None and self._by_workflow:
            sessions = self._by_workflow.get(root.workflow)
            if sessions:
                session = sessions[0]
                return session, self._bind(session, root.run_id)
        return found

    async def before_step(self, *, pending: PendingStep) -> None:
        """Stop before the step when a session says so (and wait while stopped)."""
        found = self._trees.get(pending.frames[0].run_id)
        if found is None:
            if not self._by_workflow:
                return
            found = self._lookup(pending)
            if found is None:
                return
        await found[0].dispatch_step(found[1], pending)

    async def on_step_failure(self, *, failed: FailedStep) -> FailureAction:
        """Stop at a failed step (stop_on_error, failure breakpoints); maybe retry it."""
        found = self._lookup(failed.pending)
        if found is None:
            return FailureAction.FAIL
        return await found[0].dispatch_failure(found[1], failed)

    def on_run_finished(self, *, run_id: str, status: str, outputs: Mapping[str, Any] | None,
                        error: ErrorInfo | None) -> None:
        """Write the history of a debugged run and tell its session's front ends."""
        found = self._trees.get(run_id)
        if found is None:
            return
        with self._lock:
            self._trees.pop(run_id, None)
        found[0].run_finished(run_id)


def _check_owner(owner: str, user: str, session_id: str) -> None:
    if user != owner:
        raise AccessDeniedError(
            f"user {user!r} may not use debug session {session_id} (it belongs to another "
            "user)", hint="open your own session")
