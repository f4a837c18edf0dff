"""Flowscope: a durable workflow engine for Python that you can see into.

The public names are re-exported here and loaded on first use, so that importing
``flowscope`` (or starting the CLI) does not pay for the store or the debugger until
they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowscope.errors import FlowscopeError

if TYPE_CHECKING:
    from flowscope.analytics import AnalyticsTracker, WorkflowAnalyticsEngine, get_analytics_engine
    from flowscope.debugger import Debugger, WorkflowDebugger
    from flowscope.diagnosis import Diagnoser
    from flowscope.engine import (
        Engine,
        EngineHooks,
        ErrorInfo,
        PendingStep,
        RunHandle,
        RunRecord,
        RunResult,
        RunStatus,
        StepAttemptRecord,
        StepStatus,
    )
    from flowscope.model import (
        Workflow,
        WorkflowBuilder,
        load_workflow,
        workflow_from_dict,
        workflow_from_json,
        workflow_from_yaml,
    )
    from flowscope.store import MemoryStore, SQLStore, open_store

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "AnalyticsTracker": "flowscope.analytics",
    "Debugger": "flowscope.debugger",
    "Diagnoser": "flowscope.diagnosis",
    "WorkflowAnalyticsEngine": "flowscope.analytics",
    "WorkflowDebugger": "flowscope.debugger",
    "get_analytics_engine": "flowscope.analytics",
    "Engine": "flowscope.engine",
    "EngineHooks": "flowscope.engine",
    "ErrorInfo": "flowscope.engine",
    "MemoryStore": "flowscope.store",
    "PendingStep": "flowscope.engine",
    "RunHandle": "flowscope.engine",
    "RunRecord": "flowscope.engine",
    "RunResult": "flowscope.engine",
    "RunStatus": "flowscope.engine",
    "SQLStore": "flowscope.store",
    "StepAttemptRecord": "flowscope.engine",
    "StepStatus": "flowscope.engine",
    "Workflow": "flowscope.model",
    "WorkflowBuilder": "flowscope.model",
    "load_workflow": "flowscope.model",
    "open_store": "flowscope.store",
    "workflow_from_dict": "flowscope.model",
    "workflow_from_json": "flowscope.model",
    "workflow_from_yaml": "flowscope.model",
}

__all__ = [
    "AnalyticsTracker",
    "Debugger",
    "Diagnoser",
    "Engine",
    "EngineHooks",
    "ErrorInfo",
    "FlowscopeError",
    "MemoryStore",
    "PendingStep",
    "RunHandle",
    "RunRecord",
    "RunResult",
    "RunStatus",
    "SQLStore",
    "StepAttemptRecord",
    "StepStatus",
    "Workflow",
    "WorkflowAnalyticsEngine",
    "WorkflowBuilder",
    "WorkflowDebugger",
    "__version__",
    "get_analytics_engine",
    "load_workflow",
    "open_store",
    "workflow_from_dict",
    "workflow_from_json",
    "workflow_from_yaml",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
