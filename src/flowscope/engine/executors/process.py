"""``executor: process``: run a step function in a fresh Python process.

Each attempt gets its own process, so the figures are the step's own: CPU time (user +
system, from ``getrusage`` around the call) and peak memory (how far the process's peak
RSS rose above its RSS when the call began). A timeout or a cancellation kills the
process, which a worker thread cannot offer. The price is a process start per attempt
(tens of milliseconds): use it for heavy or untrusted steps, not for quick ones.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from flowscope.engine.executors.base import Outcome, StepCall
from flowscope.engine.records import FrameInfo
from flowscope.errors import ActionNotFoundError, FlowscopeError, StepTimeoutError


class RemoteStepError(Exception):
    """Base of the exceptions rebuilt from a failure in a step's own process."""

    remote_traceback: str = ""
    remote_frames: tuple[FrameInfo, ...] = ()
    status_code: int | None = None


def importable_path(uses: str, fn: Callable[..., Any]) -> str:
    """Return ``module:qualname`` a child process can import ``fn`` by, or raise."""
    if ":" in uses:
        return uses
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        raise ActionNotFoundError(
            f"action {uses!r} cannot run with `executor: process`: a child process cannot "
            "import it",
            hint="register a module-level function, or write `uses: package.module:function`",
        )
    return f"{module}:{qualname}"


def rebuild_exception(info: Mapping[str, Any]) -> BaseException:
    """Rebuild a child's exception as a class chain with the same names and bases."""
    mro: list[list[str]] = info.get("mro") or [["builtins", "Exception"]]
    message = str(info.get("message", ""))
    base: type[BaseException] = RemoteStepError
    chain: list[tuple[str, str]] = [(m, q) for m, q in mro]
    # The nearest builtin ancestor keeps isinstance checks (e.g. ConnectionError) true.
    for i, (module, qualname) in enumerate(chain):
        if module == "builtins" and isinstance(getattr(builtins, qualname, None), type):
            builtin = getattr(builtins, qualname)
            if i == 0:
                try:
                    exc: BaseException = builtin(message)
                except Exception:
                    break
                return _decorate(exc, info)
            base = type(f"Remote{qualname}", (RemoteStepError, builtin), {})
            chain = chain[:i]
            break
    cls = base
    for module, qualname in reversed(chain):
        cls = type(qualname.rsplit(".", 1)[-1], (cls,), {"__module__": module,
                                                          "__qualname__": qualname})
    return _decorate(cls(message), info)


def _decorate(exc: BaseException, info: Mapping[str, Any]) -> BaseException:
    exc.remote_traceback = str(info.get("traceback", ""))  # type: ignore[attr-defined]
    exc.remote_frames = tuple(  # type: ignore[attr-defined]
        FrameInfo(**f) for f in info.get("frames", ())
    )
    if info.get("status_code") is not None:
        exc.status_code = info["status_code"]  # type: ignore[attr-defined]
    return exc


async def run_in_process(
    uses: str, kwargs: Mapping[str, Any], *, source: str | None
) -> tuple[Any, float, int]:
    """Run ``uses(**kwargs)`` in a new process; return (output, cpu ms, peak bytes)."""
    try:
        payload = json.dumps({"uses": uses, "kwargs": dict(kwargs), "source": source})
    except (TypeError, ValueError) as exc:
        raise FlowscopeError(f"the step's input cannot be sent to a process: {exc}",
                             hint="pass JSON-like input to `executor: process` steps") from exc
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowscope.engine.executors._worker",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(payload.encode())
    except BaseException:  # timeout or cancellation: the step's process must not linger
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise FlowscopeError(
            f"the step's process ended with code {proc.returncode} before reporting"
            + (": " + " | ".join(tail) if tail else ""),
            hint="the step may have been killed (out of memory?) or called os._exit",
        )
    report = json.loads(lines[-1])
    if not report.get("ok"):
        raise rebuild_exception(report.get("error") or {})
    return report.get("output"), float(report.get("cpu_ms", 0.0)), int(report.get("peak_bytes", 0))


class ProcessExecutor:
    """Runs each attempt in a fresh Python process (``executor: process``)."""

    async def run(self, call: StepCall) -> Outcome:
        """Run the call in a child process; a timeout kills the process."""
        path = importable_path(call.uses or "", call.fn)
        coro = run_in_process(path, call.kwargs, source=call.source)
        try:
            if call.timeout is None:
                output, cpu_ms, peak = await coro
            else:
                try:
                    async with asyncio.timeout(call.timeout) as scope:
                        output, cpu_ms, peak = await coro
                except TimeoutError:
                    if not scope.expired():
                        raise
                    return Outcome(error=StepTimeoutError(call.step_id, call.timeout))
        except Exception as exc:
            return Outcome(error=exc, frames=getattr(exc, "remote_frames", ()),
                           traceback=getattr(exc, "remote_traceback", ""))
        return Outcome(output=output, cpu_ms=cpu_ms, peak_bytes=peak)

    def close(self) -> None:
        """Nothing to release: each attempt's process ends with it."""
