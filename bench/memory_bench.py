"""Memory per run in flight, measured in a fresh process (run by ``bench/run.py``).

Usage: ``python bench/memory_bench.py STORE --runs N --steps S --sleep SECONDS
--workdir DIR``

``STORE`` is ``memory`` or ``sqlite``. The process imports Flowscope, warms up with a
few runs, then starts ``N`` runs of an ``S``-step chain at once; every step awaits
``asyncio.sleep(SECONDS)``, so all the runs are in flight together. Peak RSS is the
kernel's high-water mark (``VmHWM`` in ``/proc/self/status``, reset just before the
runs through ``/proc/self/clear_refs`` where allowed) and, as a cross-check, the
highest ``VmRSS`` a sampler saw every 5 ms. The last line of stdout is JSON:
``{"store", "runs", "rss_before", "rss_peak", "per_run_bytes", "seconds", "how"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def rss_bytes() -> int:
    """Return the resident set size now (``ru_maxrss`` where ``/proc`` is missing)."""
    kb = _status_kb("VmRSS")
    return kb * 1024 if kb is not None else _maxrss_bytes()


def _maxrss_bytes() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


def reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark; return whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")
    except OSError:
        return False
    return True


def peak_bytes() -> int | None:
    """Return the kernel's RSS high-water mark (``VmHWM``), if there is one."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb * 1024


async def sleeper(**_: Any) -> Any:
    """A step that waits on I/O."""
    await asyncio.sleep(SLEEP)
    return None


SLEEP = 0.05


def _workflow(steps: int) -> Any:
    from flowscope.model import WorkflowBuilder

    builder = WorkflowBuilder("bench-memory")
    for i in range(steps):
        builder.step(f"s{i}", uses="sleeper", needs=[f"s{i - 1}"] if i else [])
    return builder.build()


async def _run_all(engine: Any, workflow: Any, runs: int) -> None:
    handles = [await engine.start(workflow) for _ in range(runs)]
    for handle in handles:
        result = await handle.result()
        if not result.ok:
            raise SystemExit(f"run failed: {result.status} {result.error}")


async def _measure(engine: Any, workflow: Any, runs: int) -> tuple[int, float]:
    highest = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal highest
        while not done.is_set():
            highest = max(highest, rss_bytes())
            await asyncio.sleep(0.005)

    sampler = asyncio.get_running_loop().create_task(sample())
    start = time.perf_counter()
    await _run_all(engine, workflow, runs)
    elapsed = time.perf_counter() - start
    done.set()
    await sampler
    return highest, elapsed


def main(argv: list[str] | None = None) -> int:
    """Measure and print the JSON record."""
    global SLEEP
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("store", choices=("memory", "sqlite"))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    SLEEP = args.sleep

    from flowscope.engine import Engine
    from flowscope.store import open_store

    args.workdir.mkdir(parents=True, exist_ok=True)
    url = "memory" if args.store == "memory" else str(args.workdir / "memory-bench.db")
    store = open_store(url)
    # No limit across runs: the engine's limit is per run, and every run is one chain.
    engine = Engine(store, actions={"sleeper": sleeper})
    workflow = _workflow(args.steps)

    async def body() -> dict[str, Any]:
        await _run_all(engine, workflow, 10)  # warm-up: imports, caches, first writes
        gc.collect()
        before = rss_bytes()
        reset = reset_peak()
        sampled, elapsed = await _measure(engine, workflow, args.runs)
        kernel = peak_bytes() if reset else None
        peak = max(sampled, kernel or 0)
        how = "VmHWM after clear_refs, and VmRSS sampled every 5 ms" if reset else \
            "VmRSS sampled every 5 ms (VmHWM could not be reset)"
        return {
            "store": args.store, "runs": args.runs, "steps": args.steps,
            "rss_before": before, "rss_peak": peak,
            "per_run_bytes": (peak - before) / args.runs, "seconds": elapsed, "how": how,
        }

    record = asyncio.run(body())
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
