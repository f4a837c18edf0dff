"""Errors of the debugger (all under :class:`flowscope.errors.DebuggerError`)."""

from __future__ import annotations

from flowscope.errors import AccessDeniedError, DebuggerError

__all__ = [
    "AccessDeniedError", "BreakpointError", "DebuggerError", "DebuggerValueError",
    "HitConditionError", "NotStoppedError", "RunWaitTimeoutError", "SessionNotFoundError",
    "SnapshotNotFoundError", "StopTimeoutError",
]


class BreakpointError(DebuggerError):
    """A breakpoint's specification is invalid (refused when it is set)."""


class HitConditionError(BreakpointError):
    """A ``hit_condition`` is not one of the accepted forms."""

    def __init__(self, hit_condition: object) -> None:
        self.hit_condition = hit_condition
        super().__init__(
            f"invalid hit condition {hit_condition!r}",
            hint="write '>= 3', '> 3', '== 2', '< 4', '<= 4', '% 5' or a bare number "
            "(meaning '>= n')",
        )


class SessionNotFoundError(DebuggerError):
    """No debug session has the given id."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"no debug session with id {session_id!r}",
                         hint="open one with Debugger.open_session(...)")


class NotStoppedError(DebuggerError):
    """A command that needs a stopped run was given while no run of the session is stopped."""

    def __init__(self, command: str) -> None:
        self.command = command
        super().__init__(f"cannot {command}: no run of this session is stopped",
                         hint="wait for a stop (wait_for_stop) or pause the run first")


class SnapshotNotFoundError(DebuggerError):
    """No snapshot has the given id (it may have been dropped from the ring)."""

    def __init__(self, snapshot_id: object) -> None:
        self.snapshot_id = snapshot_id
        super().__init__(f"no snapshot with id {snapshot_id!r}",
                         hint="list the snapshots and use one of their ids; the in-memory "
                         "ring keeps only the newest max_snapshots")


class DebuggerValueError(DebuggerError, ValueError):
    """A facade argument is out of range (also a ``ValueError``, as the seed API promises)."""


class RunWaitTimeoutError(DebuggerError, TimeoutError):
    """A background run did not end within the time given."""


class StopTimeoutError(DebuggerError, TimeoutError):
    """No stop came, and no debugged run ended, within the time given to ``wait_for_stop``."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"no stop within {timeout:g}s (the run is still going)",
                         hint="wait again, pause the run, or check its breakpoints")
