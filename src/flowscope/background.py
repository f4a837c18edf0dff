"""Run a coroutine on its own event loop in a daemon thread: "an engine in the background".

The debugger facade (``WorkflowDebugger.start``), the console debugger (``flowscope
debug``) and tests all drive a run from the calling thread while the run executes on a
loop of its own. This is the one way to do that. It imports nothing of Flowscope, so
every room above the core may use it.

The thread is a daemon: a process whose run is stopped in the debugger can still exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = ["InThread", "start_in_thread"]


class InThread(Generic[T]):
    """A coroutine running (or about to run) in a background thread.

    Args:
        main: Builds the coroutine to run (called in the new thread).
        name: The thread's name (shows in tracebacks and debuggers).
    """

    def __init__(self, main: Callable[[], Coroutine[Any, Any, T]], *, name: str) -> None:
        self.future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._main, args=(main,), name=name, daemon=True)

    def _main(self, main: Callable[[], Coroutine[Any, Any, T]]) -> None:
        try:
            self.future.set_result(asyncio.run(main()))
        except BaseException as exc:  # handed to whoever waits on the future
            self.future.set_exception(exc)

    def start(self) -> InThread[T]:
        """Start the thread; return ``self``."""
        self.thread.start()
        return self

    def done(self) -> bool:
        """Whether the coroutine has finished (returned or raised)."""
        return self.future.done()

    def result(self, timeout: float | None = None) -> T:
        """Wait for the coroutine's result (its exception is raised here).

        Raises:
            TimeoutError: It did not finish within ``timeout`` seconds
                (``concurrent.futures.TimeoutError``).
        """
        return self.future.result(timeout)


def start_in_thread(
    main: Callable[[], Coroutine[Any, Any, T]], *, name: str, start: bool = True
) -> InThread[T]:
    """Run ``main()`` with ``asyncio.run`` in a new daemon thread.

    Args:
        main: Builds the coroutine, e.g. ``execution.execute``.
        name: The thread's name.
        start: Start it now (``False``: call :meth:`InThread.start` later).
    """
    job = InThread(main, name=name)
    return job.start() if start else job
