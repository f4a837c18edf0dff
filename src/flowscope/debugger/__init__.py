"""The step debugger: sessions, breakpoints, stepping, watches, snapshots, traces.

The core (:class:`Debugger`) is an engine hook that decides whether a run stops; it
never prints or reads input. Front ends talk to a :class:`Session`; the seed-compatible
:class:`WorkflowDebugger` facade wraps both.

The modules, one concept each: ``core`` (the engine hook, session lookup and ownership),
``session`` (commands and the stop itself), ``stepping`` (the pure ``stop_here``
predicate), ``breaking`` (the breakpoint decision) over ``breakpoints`` (what they
match), ``watches``, ``inspection`` (inspect and edit at a stop), ``snapshots`` (the
ring), ``history`` (snapshots at step boundaries and their stored delta form),
``restore`` (rewinding to a snapshot), ``tree`` (one debugged run tree's live state),
``persistence`` (sessions, breakpoints and history rows in the store), ``traces``.
"""

from __future__ import annotations

from flowscope.debugger.breakpoints import Breakpoint, BreakpointKind, HitCondition
from flowscope.debugger.core import Debugger
from flowscope.debugger.errors import (
    BreakpointError,
    DebuggerValueError,
    HitConditionError,
    NotStoppedError,
    SessionNotFoundError,
    SnapshotNotFoundError,
    StopTimeoutError,
)
from flowscope.debugger.facade import BackgroundRun, WorkflowDebugger
from flowscope.debugger.restore import Rewound
from flowscope.debugger.session import Session
from flowscope.debugger.snapshots import Snapshot
from flowscope.debugger.stops import Stop, StopReason, WatchValue
from flowscope.debugger.traces import TraceEntry, build_trace, export_json
from flowscope.debugger.values import Preview, Variable, compare_states

__all__ = [
    "BackgroundRun", "Breakpoint", "BreakpointError", "BreakpointKind", "Debugger",
    "DebuggerValueError", "HitCondition", "HitConditionError", "NotStoppedError", "Preview",
    "Rewound", "Session", "SessionNotFoundError", "Snapshot", "SnapshotNotFoundError", "Stop",
    "StopReason", "StopTimeoutError", "TraceEntry", "Variable", "WatchValue",
    "WorkflowDebugger", "build_trace", "compare_states", "export_json",
]
