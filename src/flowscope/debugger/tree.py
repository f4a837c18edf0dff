"""The live control state of one debugged run tree (a root run and its sub-runs).

Everything here runs on the tree's event loop; other threads reach it through
:meth:`RunTree.call`. While ``stop`` is set, every ``before_step`` of the tree waits on
the same gate (all-stop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from flowscope.debugger.snapshots import Snapshot
from flowscope.debugger.stops import StepMode, Stop, StopReason
from flowscope.engine.hooks import FailedStep, Frame, PendingStep
from flowscope.errors import DebuggerError

if TYPE_CHECKING:
    from flowscope.engine.hooks import RunControl

T = TypeVar("T")

#: Seconds a command from another thread waits for the run's loop to carry it out.
COMMAND_TIMEOUT = 30.0


@dataclass(eq=False)
class RunTree:
    """Control state of one root run and its sub-workflow runs."""

    root_id: str
    loop: asyncio.AbstractEventLoop | None = None
    stop: Stop | None = None
    pending: PendingStep | None = None
    failed: FailedStep | None = None
    mode: StepMode = StepMode.CONTINUE
    pause_reason: StopReason = StopReason.PAUSE
    """The reason a PAUSE-mode stop reports (``step`` after a restore)."""
    ref_frames: tuple[Frame, ...] = ()
    entered: bool = False
    paused: list[RunControl] = field(default_factory=list)
    gate: asyncio.Event | None = None
    history: list[Snapshot] = field(default_factory=list)
    """Snapshots not yet written to the store."""
    last_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Run id -> a copy of its vars at the last snapshot (shared by snapshots)."""
    stored_steps: dict[str, int] = field(default_factory=dict)
    """Run id -> how many step results the stored history already holds."""
    stored_vars: dict[str, Any] = field(default_factory=dict)
    """Run id -> the vars object of the last stored row (a new one means they changed)."""

    def bind_loop(self) -> None:
        """Remember the running loop (called from the engine's hooks)."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        if self.gate is None:
            self.gate = asyncio.Event()
            self.gate.set()

    async def wait_gate(self) -> None:
        """Wait while the tree is stopped."""
        while self.stop is not None:
            assert self.gate is not None
            await self.gate.wait()

    def close_gate(self, stop: Stop) -> None:
        """Stop the tree: no new step starts until :meth:`open_gate`."""
        assert self.gate is not None
        self.stop = stop
        self.gate.clear()

    def open_gate(self) -> None:
        """Let the tree go on; mark the runs marked paused as running again."""
        for execution in self.paused:
            execution.resume()
        self.paused = []
        self.stop = None
        self.pending = None
        self.failed = None
        if self.gate is not None:
            self.gate.set()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the tree's loop (directly when already on it) and return its result.

        Raises:
            DebuggerError: The run's loop is gone (the run ended).
        """
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            raise DebuggerError(f"run {self.root_id} is not executing",
                                hint="start the run (or wait for it to reach a step) first")
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        try:
            return future.result(COMMAND_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DebuggerError(f"run {self.root_id} did not answer within "
                                f"{COMMAND_TIMEOUT:g}s",
                                hint="is its event loop blocked?") from None
