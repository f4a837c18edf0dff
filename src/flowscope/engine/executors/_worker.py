"""The child side of ``executor: process``: run one step function and report.

Reads ``{"uses", "kwargs", "source"}`` as JSON on stdin, calls the function, and writes
one JSON line to the original stdout: the output (or the error, with its type's whole
chain of base classes so the parent can classify it by name), the CPU time of the call
and how much the process's peak RSS grew during it. Anything the step prints goes to
stderr, so it cannot corrupt the report.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import resource
import sys
from typing import Any


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    # Linux resets the high-water mark (VmHWM) when "5" is written to clear_refs, so the
    # peak measured afterwards is the call's, not the interpreter start-up's.
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_bytes(reset: bool) -> int:
    if reset:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _describe(exc: BaseException) -> dict[str, Any]:
    from flowscope.engine.failure import error_info

    # The parent classifies (with its own rules); the category here is not used.
    info = error_info(exc, lambda _: "internal").to_dict()
    return {
        "mro": [[c.__module__, c.__qualname__] for c in type(exc).__mro__ if c is not object],
        **{key: info[key] for key in ("message", "traceback", "frames", "status_code")},
    }


def main() -> None:
    """Run the step described on stdin."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    request = json.loads(sys.stdin.read())
    report: dict[str, Any]
    try:
        from flowscope.engine.actions import resolve_action

        fn = resolve_action(request["uses"], {}, source=request.get("source"))
        reset = _reset_peak()
        rss0, cpu0 = _rss_bytes(), _cpu_seconds()
        result = fn(**request["kwargs"])
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        cpu = _cpu_seconds() - cpu0
        peak = _peak_bytes(reset)
        report = {"ok": True, "output": result, "cpu_ms": cpu * 1000.0,
                  "peak_bytes": max(0, peak - rss0)}
        text = json.dumps(report)
    except BaseException as exc:  # reported to the parent, which decides what it means
        text = json.dumps({"ok": False, "error": _describe(exc)})
    out.write(text + "\n")
    out.flush()


async def _await(awaitable: Any) -> Any:
    return await awaitable


if __name__ == "__main__":
    main()
