"""The executor seam: where a step attempt's code runs.

The engine decides everything about an attempt (whether to stop in the debugger, its
input, its retry) and then hands one :class:`StepCall` to an :class:`Executor`, which
runs the code and returns an :class:`Outcome` with the figures it measured. An executor
never raises for a failure of the step's own code: the failure is in the outcome, so
the figures of failed attempts are kept. Only cancellation propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from flowscope.engine.context import StepContext
from flowscope.engine.records import FrameInfo
from flowscope.errors import StepTimeoutError


@dataclass(frozen=True, slots=True)
class StepCall:
    """One attempt of one step, as an executor receives it."""

    run_id: str
    """The run the attempt belongs to."""
    step_id: str
    """The step's id."""
    attempt: int
    """The attempt number (1 for the first)."""
    fn: Callable[..., Any]
    """The step function, called as ``fn(**kwargs)``."""
    kwargs: Mapping[str, Any]
    """The resolved input."""
    is_async: bool
    """Whether ``fn`` is a coroutine function."""
    timeout: float | None
    """Seconds the attempt may take (``None``: no limit)."""
    context: StepContext
    """What the step's code can read through ``flowscope.current_step()``."""
    uses: str | None = None
    """The step's ``uses`` (an executor running code elsewhere imports it by this)."""
    source: str | None = None
    """The workflow file, so relative action modules can be found."""
    measure_memory: bool = False
    """Whether to measure the attempt's peak memory."""


@dataclass(slots=True)
class Outcome:
    """What one attempt gave: its output or its error, and its figures.

    Not frozen: one is made per attempt on the hot path, and a frozen dataclass pays a
    guarded ``setattr`` per field; nothing changes an outcome after it is returned.
    """

    output: Any = None
    """The step function's return value (when it succeeded)."""
    error: BaseException | None = None
    """The exception the step raised (a timeout is a ``StepTimeoutError``)."""
    cpu_ms: float | None = None
    """CPU time of the call, in milliseconds, where the executor can measure it."""
    peak_bytes: int | None = None
    """Peak memory of the call, in bytes, where measured."""
    frames: tuple[FrameInfo, ...] = ()
    """Traceback frames from where the code ran, when that was another process."""
    traceback: str = ""
    """The formatted traceback from where the code ran, when that was another process."""
    warnings: tuple[str, ...] = field(default=())
    """Things the engine should record as warnings (e.g. an overlapping abandoned call)."""

    @property
    def ok(self) -> bool:
        """Whether the attempt succeeded."""
        return self.error is None


@runtime_checkable
class Executor(Protocol):
    """Runs step attempts (``executor: NAME`` on a step picks one by name)."""

    async def run(self, call: StepCall) -> Outcome:
        """Run one attempt and return its outcome; raise only ``CancelledError``."""
        ...

    def close(self) -> None:
        """Release what the executor holds (threads, connections)."""
        ...


async def run_coroutine(call: StepCall) -> Outcome:
    """Await an async step function on the loop, with its timeout."""
    token = call.context.enter()
    try:
        coro = call.fn(**call.kwargs)
        if call.timeout is None:
            output = await coro
        else:
            try:
                async with asyncio.timeout(call.timeout) as scope:
                    output = await coro
            except TimeoutError:
                if not scope.expired():
                    raise
                call.context.cancel()
                return Outcome(error=StepTimeoutError(call.step_id, call.timeout))
    except Exception as exc:
        return Outcome(error=exc)
    finally:
        call.context.leave(token)
    # No CPU figure: the loop thread's CPU time would include every other task's work.
    return Outcome(output=output)
