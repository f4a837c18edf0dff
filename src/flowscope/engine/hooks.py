"""Hooks around each step, and event observers.

The engine calls every hook it was given. Hooks are the only way code outside the
engine takes part in a run: the debugger waits in ``before_step`` (that is how a run
stops), the analytics tracker observes events. Arguments are keyword-only so new ones
can be added without breaking existing hooks. An observer that raises is logged and
isolated: it never breaks a run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flowscope.engine.events import Event
from flowscope.engine.records import ErrorInfo, StepAttemptRecord

if TYPE_CHECKING:
    from flowscope.engine.state import RunState
    from flowscope.engine.status import RunStatus, StepStatus
    from flowscope.model.workflow import Step, Workflow


@dataclass(frozen=True, slots=True)
class Frame:
    """One level of the run tree: a run and the step it is at."""

    run_id: str
    workflow: str
    step_id: str | None


@dataclass(slots=True)
class PendingStep:
    """A step about to run. Hooks may edit ``input`` before it runs."""

    run_id: str
    step: Step
    workflow: Workflow
    attempt: int
    input: dict[str, Any]
    """The resolved input; edits made here are what the step receives."""
    state: RunState
    """The run's live state (inputs, step outputs, vars)."""
    parent_frames: tuple[Frame, ...]
    """The frames above this run (empty for a root run)."""
    via: str | None = None
    """The need whose completion made this step ready (``None`` for a root step)."""
    is_first: bool = False
    """Whether this is the first step the run starts (used for entry stops)."""

    @property
    def step_id(self) -> str:
        """The step's id."""
        return self.step.id

    @property
    def frames(self) -> tuple[Frame, ...]:
        """From the root run down to this step (the last frame is this step)."""
        return (*self.parent_frames, Frame(self.run_id, self.workflow.name, self.step.id))

    @property
    def depth(self) -> int:
        """1 for a step of the root run, 2 inside a sub-workflow, and so on."""
        return len(self.parent_frames) + 1


@runtime_checkable
class RunControl(Protocol):
    """How code outside the engine drives one live run (the debugger, the front ends).

    Every method must be called on the run's event loop thread (``call_soon`` gets
    there from any thread). Nothing outside the engine touches a run any other way.
    """

    @property
    def run_id(self) -> str:
        """The run's id."""
        ...

    @property
    def root_run_id(self) -> str:
        """The id of the root run of this run's tree (itself for a root run)."""
        ...

    @property
    def workflow(self) -> Workflow:
        """The workflow the run executes."""
        ...

    @property
    def status(self) -> RunStatus:
        """The run's current status."""
        ...

    @property
    def state(self) -> RunState:
        """The run's live state; read it, edit it only through ``rewind``/hooks."""
        ...

    @property
    def statuses(self) -> Mapping[str, StepStatus]:
        """Step id -> the final status of each step that has finished."""
        ...

    @property
    def executing(self) -> frozenset[str]:
        """Ids of the steps whose code is running right now."""
        ...

    @property
    def waiting(self) -> frozenset[str]:
        """Ids of the steps held in a ``before_step`` hook (stopped before they start)."""
        ...

    def pause(self, reason: str) -> None:
        """Record that the run stopped (its steps wait in a ``before_step`` hook)."""
        ...

    def resume(self) -> None:
        """Record that a stopped run goes on."""
        ...

    def cancel(self) -> None:
        """Cancel the run: no new step starts; running async steps are cancelled."""
        ...

    def rewind(self, forget: Collection[str], vars: Mapping[str, Any], *,
               keep: Collection[str] = ()) -> list[str]:
        """Set aside ``forget`` and the steps after them (except ``keep``); run them again."""
        ...

    def emit(self, cls: type[Event], step_id: str | None = None, **fields: Any) -> Event:
        """Commit an event that belongs to no step result (logs, edits)."""
        ...

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the run's loop thread (safe from any thread)."""
        ...


class FailureAction(StrEnum):
    """What a hook wants done with a failed step."""

    FAIL = "fail"
    """Carry on as usual (retry if the policy says so, else fail)."""
    RETRY = "retry"
    """Run the step again now (with ``PendingStep.input`` as it stands)."""


@dataclass(slots=True)
class FailedStep:
    """A step attempt that failed and will not be retried by its policy."""

    pending: PendingStep
    error: ErrorInfo
    exception: BaseException | None = None


class EngineHooks:
    """Base class for hooks; every method does nothing. Override what you need."""

    async def before_step(self, *, pending: PendingStep) -> None:
        """Run before each step attempt; may wait (the run is stopped while it waits)."""

    async def after_step(self, *, pending: PendingStep, record: StepAttemptRecord) -> None:
        """Run after each step attempt's result is committed."""

    async def on_step_failure(self, *, failed: FailedStep) -> FailureAction:
        """Run when a step fails for good; may wait, and may ask for the step to run again."""
        return FailureAction.FAIL

    def on_event(self, event: Event) -> None:
        """Observe an event (called synchronously; must not block)."""

    def on_run_finished(self, *, run_id: str, status: str, outputs: Mapping[str, Any] | None,
                        error: ErrorInfo | None) -> None:
        """Observe the end of a run (after its final state is committed)."""


@dataclass(slots=True)
class HookSet:
    """The hooks of one engine, split by what each overrides (so idle hooks cost nothing)."""

    all: list[EngineHooks] = field(default_factory=list)
    before: list[EngineHooks] = field(default_factory=list)
    after: list[EngineHooks] = field(default_factory=list)
    failure: list[EngineHooks] = field(default_factory=list)
    observers: list[EngineHooks] = field(default_factory=list)
    finished: list[EngineHooks] = field(default_factory=list)

    def add(self, hook: EngineHooks) -> None:
        """Register a hook under each method it overrides."""
        self.all.append(hook)
        cls = type(hook)
        if cls.before_step is not EngineHooks.before_step:
            self.before.append(hook)
        if cls.after_step is not EngineHooks.after_step:
            self.after.append(hook)
        if cls.on_step_failure is not EngineHooks.on_step_failure:
            self.failure.append(hook)
        if cls.on_event is not EngineHooks.on_event:
            self.observers.append(hook)
        if cls.on_run_finished is not EngineHooks.on_run_finished:
            self.finished.append(hook)

    def remove(self, hook: EngineHooks) -> None:
        """Unregister a hook."""
        for bucket in (self.all, self.before, self.after, self.failure, self.observers,
                       self.finished):
            if hook in bucket:
                bucket.remove(hook)
