"""The execution core: events, hooks, the journal contract, run state and the runner."""

from flowscope.engine.classify import Classifier, Rule
from flowscope.engine.events import Event, EventKind
from flowscope.engine.hooks import EngineHooks, FailedStep, FailureAction, Frame, PendingStep
from flowscope.engine.journal import Journal
from flowscope.engine.records import ErrorInfo, FrameInfo, RunRecord, StepAttemptRecord
from flowscope.engine.runner import Engine, RunHandle, RunResult
from flowscope.engine.state import RunState
from flowscope.engine.status import RunStatus, StepStatus

__all__ = [
    "Classifier",
    "Engine",
    "EngineHooks",
    "ErrorInfo",
    "Event",
    "EventKind",
    "FailedStep",
    "FailureAction",
    "Frame",
    "FrameInfo",
    "Journal",
    "PendingStep",
    "Rule",
    "RunHandle",
    "RunRecord",
    "RunResult",
    "RunState",
    "RunStatus",
    "StepAttemptRecord",
    "StepStatus",
]
