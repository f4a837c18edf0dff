"""What step code can learn about the attempt it runs in: ``flowscope.current_step()``.

A sync step in a worker thread cannot be killed when it times out; it can cooperate by
reading ``current_step().cancelled`` (or calling ``check()``) between pieces of work.
``idempotency_key`` is the same on every execution of one attempt (also after a crash
and resume), which is what payment and messaging APIs expect for safe retries.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from dataclasses import dataclass, field

from flowscope.errors import FlowscopeError, StepCancelledError

_NAMESPACE = uuid.UUID("6f1c2b0e-3d4a-5b6c-8d7e-9f0a1b2c3d4e")

CURRENT_STEP: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "flowscope_current_step", default=None)
"""The attempt the running code belongs to (set by the engine and its executors)."""


def idempotency_key(run_id: str, step_id: str, attempt: int) -> str:
    """The stable key of one attempt: the same on every execution of that attempt."""
    return str(uuid.uuid5(_NAMESPACE, f"{run_id}/{step_id}/{attempt}"))


@dataclass(slots=True, eq=False)
class StepContext:
    """The attempt a step's code is running in."""

    run_id: str
    """The run's id."""
    step_id: str
    """The step's id."""
    attempt: int
    """The attempt number (1 for the first)."""
    timeout: float | None = None
    """The attempt's timeout in seconds (``None``: none)."""
    started: float = field(default_factory=time.monotonic)
    """When the attempt began (``time.monotonic()``)."""
    # A plain flag: set once by the engine, read by the step's thread (a bool store is
    # atomic under the GIL; a threading.Event would cost a lock per attempt).
    _cancelled: bool = field(default=False, repr=False)

    @property
    def idempotency_key(self) -> str:
        """A key that is the same on every execution of this attempt."""
        return idempotency_key(self.run_id, self.step_id, self.attempt)

    @property
    def deadline(self) -> float | None:
        """When the attempt times out, on the ``time.monotonic()`` clock (``None``: never)."""
        return None if self.timeout is None else self.started + self.timeout

    def remaining(self) -> float | None:
        """Seconds left before the timeout (``None``: no timeout; never below 0)."""
        deadline = self.deadline
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    @property
    def cancelled(self) -> bool:
        """Whether the attempt was given up (timed out, or the run was cancelled)."""
        return self._cancelled

    def check(self) -> None:
        """Raise ``StepCancelledError`` if the attempt was given up."""
        if self._cancelled:
            raise StepCancelledError(self.step_id)

    def cancel(self) -> None:
        """Mark the attempt as given up (the engine calls this)."""
        self._cancelled = True

    def enter(self) -> contextvars.Token[StepContext | None]:
        """Make this the current step of the calling thread or task."""
        return CURRENT_STEP.set(self)

    def leave(self, token: contextvars.Token[StepContext | None]) -> None:
        """Undo ``enter``."""
        CURRENT_STEP.reset(token)


def current_step() -> StepContext:
    """The attempt the calling step code runs in.

    Raises:
        FlowscopeError: called outside a step.
    """
    ctx = CURRENT_STEP.get()
    if ctx is None:
        raise FlowscopeError("current_step() was called outside a step",
                             hint="call it from a step function while the engine runs it")
    return ctx
