"""Flowscope: a durable workflow engine for Python that you can see into.

The public names are re-exported here and loaded on first use, so that importing
``flowscope`` (or starting the CLI) does not pay for the store or the debugger until
they are needed. ``_EXPORTS`` below is the one list of them: ``__all__`` is derived from
it, and a test checks that the imports for type checkers name the same things.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowscope.errors import FlowscopeError as FlowscopeError

if TYPE_CHECKING:
    from flowscope.analytics import AnalyticsTracker as AnalyticsTracker
    from flowscope.compat import Diagnoser as Diagnoser
    from flowscope.compat import WorkflowAnalyticsEngine as WorkflowAnalyticsEngine
    from flowscope.compat import WorkflowDebugger as WorkflowDebugger
    from flowscope.compat import get_analytics_engine as get_analytics_engine
    from flowscope.debugger import Debugger as Debugger
    from flowscope.debugger import Session as Session
    from flowscope.debugger import Stop as Stop
    from flowscope.debugger.errors import BreakpointError as BreakpointError
    from flowscope.debugger.errors import DebuggerValueError as DebuggerValueError
    from flowscope.debugger.errors import HitConditionError as HitConditionError
    from flowscope.debugger.errors import NotStoppedError as NotStoppedError
    from flowscope.debugger.errors import RunWaitTimeoutError as RunWaitTimeoutError
    from flowscope.debugger.errors import SessionNotFoundError as SessionNotFoundError
    from flowscope.debugger.errors import SnapshotNotFoundError as SnapshotNotFoundError
    from flowscope.engine import Engine as Engine
    from flowscope.engine import EngineHooks as EngineHooks
    from flowscope.engine import ErrorInfo as ErrorInfo
    from flowscope.engine import Event as Event
    from flowscope.engine import EventKind as EventKind
    from flowscope.engine import Journal as Journal
    from flowscope.engine import PendingStep as PendingStep
    from flowscope.engine import RunHandle as RunHandle
    from flowscope.engine import RunRecord as RunRecord
    from flowscope.engine import RunResult as RunResult
    from flowscope.engine import RunStatus as RunStatus
    from flowscope.engine import StepAttemptRecord as StepAttemptRecord
    from flowscope.engine import StepStatus as StepStatus
    from flowscope.engine.context import StepContext as StepContext
    from flowscope.engine.context import current_step as current_step
    from flowscope.engine.executors import Executor as Executor
    from flowscope.engine.executors import Outcome as Outcome
    from flowscope.engine.executors import StepCall as StepCall
    from flowscope.engine.failure import ChildRunFailedError as ChildRunFailedError
    from flowscope.engine.hooks import RunControl as RunControl
    from flowscope.errors import AccessDeniedError as AccessDeniedError
    from flowscope.errors import ActionNotFoundError as ActionNotFoundError
    from flowscope.errors import AnalyticsError as AnalyticsError
    from flowscope.errors import CycleError as CycleError
    from flowscope.errors import DebuggerError as DebuggerError
    from flowscope.errors import DefinitionError as DefinitionError
    from flowscope.errors import DiagnosisError as DiagnosisError
    from flowscope.errors import ExpressionError as ExpressionError
    from flowscope.errors import ExpressionEvalError as ExpressionEvalError
    from flowscope.errors import ExpressionSyntaxError as ExpressionSyntaxError
    from flowscope.errors import FilterError as FilterError
    from flowscope.errors import InputError as InputError
    from flowscope.errors import InvalidTransitionError as InvalidTransitionError
    from flowscope.errors import InvalidValueError as InvalidValueError
    from flowscope.errors import LeaseLostError as LeaseLostError
    from flowscope.errors import OutputNotSerializableError as OutputNotSerializableError
    from flowscope.errors import RecursionLimitError as RecursionLimitError
    from flowscope.errors import RunNotFoundError as RunNotFoundError
    from flowscope.errors import RunOwnedError as RunOwnedError
    from flowscope.errors import RunStateError as RunStateError
    from flowscope.errors import StepCancelledError as StepCancelledError
    from flowscope.errors import StepTimeoutError as StepTimeoutError
    from flowscope.errors import StoreError as StoreError
    from flowscope.filters import Filters as Filters
    from flowscope.model import Workflow as Workflow
    from flowscope.model import WorkflowBuilder as WorkflowBuilder
    from flowscope.model import load_workflow as load_workflow
    from flowscope.model import workflow_from_dict as workflow_from_dict
    from flowscope.model import workflow_from_json as workflow_from_json
    from flowscope.model import workflow_from_yaml as workflow_from_yaml
    from flowscope.store import MemoryStore as MemoryStore
    from flowscope.store import SQLStore as SQLStore
    from flowscope.store import open_store as open_store

__version__ = "0.1.0"

_ROOMS: dict[str, tuple[str, ...]] = {
    "flowscope.analytics": ("AnalyticsTracker",),
    "flowscope.compat": ("Diagnoser", "WorkflowAnalyticsEngine", "WorkflowDebugger",
                         "get_analytics_engine"),
    "flowscope.debugger": ("Debugger", "Session", "Stop"),
    "flowscope.debugger.errors": (
        "BreakpointError", "DebuggerValueError", "HitConditionError", "NotStoppedError",
        "RunWaitTimeoutError", "SessionNotFoundError", "SnapshotNotFoundError"),
    "flowscope.engine": (
        "Engine", "EngineHooks", "ErrorInfo", "Event", "EventKind", "Journal", "PendingStep",
        "RunHandle", "RunRecord", "RunResult", "RunStatus", "StepAttemptRecord",
        "StepStatus"),
    "flowscope.engine.context": ("StepContext", "current_step"),
    "flowscope.engine.executors": ("Executor", "Outcome", "StepCall"),
    "flowscope.engine.failure": ("ChildRunFailedError",),
    "flowscope.engine.hooks": ("RunControl",),
    "flowscope.errors": (
        "AccessDeniedError", "ActionNotFoundError", "AnalyticsError", "CycleError",
        "DebuggerError", "DefinitionError", "DiagnosisError", "ExpressionError",
        "ExpressionEvalError", "ExpressionSyntaxError", "FilterError", "FlowscopeError",
        "InputError",
        "InvalidTransitionError", "InvalidValueError", "LeaseLostError",
        "OutputNotSerializableError", "RecursionLimitError", "RunNotFoundError",
        "RunOwnedError", "RunStateError", "StepCancelledError", "StepTimeoutError",
        "StoreError"),
    "flowscope.filters": ("Filters",),
    "flowscope.model": ("Workflow", "WorkflowBuilder", "load_workflow", "workflow_from_dict",
                        "workflow_from_json", "workflow_from_yaml"),
    "flowscope.store": ("MemoryStore", "SQLStore", "open_store"),
}

#: Public name -> the module that defines it (the one list of public names).
_EXPORTS: dict[str, str] = {name: module for module, names in _ROOMS.items() for name in names}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
