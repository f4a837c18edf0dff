"""``executor: thread`` (the default for sync functions) and ``executor: inline``.

A sync step runs in a worker thread so the event loop stays free. Python cannot kill a
thread: when an attempt times out it is recorded as timed out, its context is marked
cancelled (cooperative code can stop), and the call is *abandoned*: its thread keeps
running beside the engine. A later attempt of the same step waits for the abandoned call
to return (bounded by ``overlap_wait``) before it starts, so two copies of one step never
run at once unless that bound runs out, which the outcome reports as a warning.

The worker threads are daemon threads: a process whose runs ended exits even while an
abandoned call is still running (a ``ThreadPoolExecutor`` would be joined at exit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from flowscope.engine import memory
from flowscope.engine.executors.base import Outcome, StepCall, run_coroutine
from flowscope.errors import StepTimeoutError

OVERLAP_WAIT = 60.0
"""Default longest wait for an abandoned call before a retry of its step starts anyway."""

_Job = tuple[concurrent.futures.Future[Any], Callable[[], Any]]


class DaemonThreadPool:
    """A small pool of daemon worker threads, grown on demand up to ``max_workers``.

    Threads held by abandoned calls do not count against the limit, so abandoned calls
    never starve the steps that come after them.
    """

    def __init__(self, max_workers: int, *, name: str = "flowscope-step") -> None:
        self.max_workers = max(1, max_workers)
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._abandoned = 0
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn()`` in a worker thread; return its future."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the step thread pool is closed")
            self._jobs.put((fut, fn))
            if self._idle == 0 and self._threads < self.max_workers + self._abandoned:
                self._threads += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._threads}",
                                 daemon=True).start()
            else:
                self._idle -= 1  # an idle worker takes it
        return fut

    def abandon(self, fut: concurrent.futures.Future[Any]) -> None:
        """Count the thread running ``fut`` as abandoned until the call returns."""
        with self._lock:
            self._abandoned += 1
        fut.add_done_callback(self._unabandon)

    def _unabandon(self, _fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._abandoned -= 1

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fut, fn = job
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # delivered to the awaiting attempt
                    fut.set_exception(exc)
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        """Stop idle workers; busy (abandoned) ones end when their call returns."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(None)


def _call_sync(call: StepCall) -> tuple[Any, BaseException | None, float, int | None]:
    """Run a sync step function in the current thread with its context and figures."""
    token = call.context.enter()
    base = memory.begin() if call.measure_memory else -1
    t0 = time.thread_time()
    try:
        try:
            output: Any = call.fn(**call.kwargs)
            error: BaseException | None = None
        except Exception as exc:
            output, error = None, exc
        return output, error, (time.thread_time() - t0) * 1000.0, memory.peak_since(base)
    finally:
        call.context.leave(token)


def _outcome(result: tuple[Any, BaseException | None, float, int | None],
             warnings: tuple[str, ...] = ()) -> Outcome:
    output, error, cpu_ms, peak = result
    return Outcome(output=output, error=error, cpu_ms=cpu_ms, peak_bytes=peak,
                   warnings=warnings)


class InlineExecutor:
    """Runs sync step functions on the event loop thread itself (no hop, no timeout)."""

    async def run(self, call: StepCall) -> Outcome:
        """Call the function directly; await async ones on the loop."""
        if call.is_async:
            return await run_coroutine(call)
        return _outcome(_call_sync(call))

    def close(self) -> None:
        """Nothing to release."""


class ThreadExecutor:
    """Runs sync step functions in daemon worker threads (see the module docstring).

    Args:
        max_workers: Threads for steps that run at once.
        overlap_wait: Longest wait, in seconds, for an abandoned call of a step before
            the next attempt of that step starts anyway (default 60).
    """

    def __init__(self, max_workers: int = 8, *, overlap_wait: float = OVERLAP_WAIT) -> None:
        self.pool = DaemonThreadPool(max_workers)
        self.overlap_wait = overlap_wait
        self._abandoned: dict[tuple[str, str], concurrent.futures.Future[Any]] = {}

    def abandoned(self, run_id: str, step_id: str) -> bool:
        """Whether an abandoned call of this step is still running."""
        fut = self._abandoned.get((run_id, step_id))
        return fut is not None and not fut.done()

    async def run(self, call: StepCall) -> Outcome:
        """Run the call in a worker thread (async functions are awaited on the loop)."""
        if call.is_async:
            return await run_coroutine(call)
        warnings = await self._settle(call)
        fut = self.pool.submit(lambda: _call_sync(call))
        wrapped = asyncio.wrap_future(fut)
        if call.timeout is None:
            return _outcome(await wrapped, warnings)
        try:
            done, _ = await asyncio.wait({wrapped}, timeout=call.timeout)
        except asyncio.CancelledError:
            self._abandon(call, fut)
            raise
        if done:
            return _outcome(wrapped.result(), warnings)
        self._abandon(call, fut)
        # The thread may still finish; its result is dropped (this attempt timed out).
        wrapped.add_done_callback(_consume)
        return Outcome(error=StepTimeoutError(call.step_id, call.timeout), warnings=warnings)

    def _abandon(self, call: StepCall, fut: concurrent.futures.Future[Any]) -> None:
        call.context.cancel()
        if fut.done():
            return
        key = (call.run_id, call.step_id)
        self._abandoned[key] = fut
        self.pool.abandon(fut)
        fut.add_done_callback(lambda f: self._forget(key, f))

    def _forget(self, key: tuple[str, str], fut: concurrent.futures.Future[Any]) -> None:
        if self._abandoned.get(key) is fut:
            del self._abandoned[key]

    async def _settle(self, call: StepCall) -> tuple[str, ...]:
        fut = self._abandoned.get((call.run_id, call.step_id))
        if fut is None or fut.done():
            return ()
        bound = self.overlap_wait
        done, _ = await asyncio.wait({asyncio.wrap_future(fut)}, timeout=bound)
        if done:
            return ()
        return (f"attempt {call.attempt} of step {call.step_id!r} started while an abandoned "
                f"earlier attempt was still running (waited {bound:g}s for it)",)

    def close(self) -> None:
        """Let the worker threads go (abandoned calls finish on their own)."""
        self.pool.close()


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
