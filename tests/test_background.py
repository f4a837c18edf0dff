"""``flowscope.background``: a coroutine on its own loop in a daemon thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from flowscope.background import start_in_thread


def test_the_result_comes_back_from_another_thread_and_loop() -> None:
    caller = threading.get_ident()

    async def main() -> tuple[int, bool]:
        await asyncio.sleep(0)
        return threading.get_ident(), asyncio.get_running_loop().is_running()

    job = start_in_thread(main, name="flowscope-test")
    ident, running = job.result(timeout=10)
    assert ident != caller and running
    assert job.done() and job.thread.daemon and job.thread.name == "flowscope-test"


def test_an_exception_is_raised_to_the_waiter() -> None:
    async def main() -> None:
        raise KeyError("boom")

    job = start_in_thread(main, name="flowscope-test")
    with pytest.raises(KeyError, match="boom"):
        job.result(timeout=10)


def test_not_started_until_asked_and_a_wait_can_time_out() -> None:
    gate = threading.Event()

    async def main() -> str:
        while not gate.is_set():
            await asyncio.sleep(0.01)
        return "done"

    job = start_in_thread(main, name="flowscope-test", start=False)
    assert not job.thread.is_alive() and not job.done()
    job.start()
    with pytest.raises(concurrent.futures.TimeoutError):
        job.result(timeout=0)
    gate.set()
    assert job.result(timeout=10) == "done"
