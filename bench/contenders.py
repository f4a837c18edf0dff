"""One orchestration contender, timed in its own process (run by ``bench/run.py``).

Usage: ``python bench/contenders.py NAME --shape chain|fanout --steps N --repeats R
--workdir DIR [--profile]``

Shapes:

- ``chain``: ``N`` no-op steps, each needing the previous one;
- ``fanout``: ``N`` independent no-op steps joined by one final step (``N + 1`` steps).

Each contender builds its workflow once (outside the timing), runs it once to warm up,
then ``R`` timed times. The last line of stdout is JSON: ``{"name", "shape", "steps",
"seconds": [...], "versions": {...}, "note": str}`` (plus ``"profile"``, the top of a
cProfile of one more run, with ``--profile``). ``steps`` is the number of steps one run
executes, so ``seconds / steps`` is the time per step.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Runner = Callable[[], None]
#: (shape, steps, workdir) -> (runner, steps one run executes, note)
Setup = Callable[[str, int, Path], tuple[Runner, int, str]]

#: Breakpoints the debugger contender sets (on steps, conditions never true).
DEBUG_BREAKPOINTS = 50
#: Exit status of a contender that cannot run here (a missing package); not a failure.
UNAVAILABLE = 3


def noop(*_: Any, **__: Any) -> Any:
    """The step body: does nothing, so what is timed is the orchestration."""
    return None


async def async_noop(*_: Any, **__: Any) -> Any:
    """The same no-op as a coroutine: runs on the event loop, no worker-thread hop."""
    return None


def executed(shape: str, steps: int) -> int:
    """Return how many steps one run of ``shape`` executes."""
    return steps + 1 if shape == "fanout" else steps


# -- floors ---------------------------------------------------------------------------


def loop_floor(shape: str, steps: int, workdir: Path) -> tuple[Runner, int, str]:
    """Plain Python: call the function once per step (the cost of doing nothing)."""
    total = executed(shape, steps)

    def run() -> None:
        for _ in range(total):
            noop()

    return run, total, ""


def _sqlite_floor(synchronous: str) -> Setup:
    def setup(shape: str, steps: int, workdir: Path) -> tuple[Runner, int, str]:
        conn = sqlite3.connect(workdir / f"floor-{synchronous.lower()}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS steps (run INTEGER, step INTEGER, output TEXT, "
            "PRIMARY KEY (run, step))"
        )
        counter = iter(range(1_000_000))
        total = executed(shape, steps)

        def run() -> None:
            run_no = next(counter)
            for i in range(total):
                output = json.dumps(noop())
                # One committed transaction per step: the durability floor for a journal.
                conn.execute("BEGIN")
                conn.execute("INSERT INTO steps VALUES (?, ?, ?)", (run_no, i, output))
                conn.execute("COMMIT")

        return run, total, ""

    return setup


# -- Flowscope ------------------------------------------------------------------------


def _workflow(shape: str, steps: int) -> Any:
    from flowscope.model import WorkflowBuilder

    builder = WorkflowBuilder(f"bench-{shape}")
    if shape == "chain":
        previous: str | None = None
        for i in range(steps):
            builder.step(f"s{i}", uses="noop", needs=[previous] if previous else [])
            previous = f"s{i}"
    else:
        for i in range(steps):
            builder.step(f"s{i}", uses="noop")
        builder.step("join", uses="noop", needs=[f"s{i}" for i in range(steps)])
    return builder.build()


def _memory_store(workdir: Path) -> Any:
    from flowscope.store import open_store

    return open_store("memory")


def _sqlite_store(synchronous: str) -> Callable[[Path], Any]:
    def factory(workdir: Path) -> Any:
        from flowscope.store import open_store

        return open_store(str(workdir / f"flowscope-{synchronous.lower()}.db"),
                          synchronous=synchronous)

    return factory


def _flowscope(store_factory: Callable[[Path], Any], *, sync: bool = False) -> Setup:
    # The main rows use an async no-op: a sync step function always pays a hop to a
    # worker thread (so that a slow step cannot block other runs); "-sync" rows show it.
    action = noop if sync else async_noop

    def setup(shape: str, steps: int, workdir: Path) -> tuple[Runner, int, str]:
        from flowscope.engine import Engine

        engine = Engine(store_factory(workdir), actions={"noop": action})
        workflow = _workflow(shape, steps)
        # The fan-out lets all its branches be in flight at once, as the peers do.
        limit = steps + 1 if shape == "fanout" else None

        def run() -> None:
            result = engine.run(workflow, max_concurrency=limit)
            if not result.ok:
                raise SystemExit(f"benchmark run failed: {result.status} {result.error}")

        note = f"max_concurrency={limit}" if limit else ""
        return run, executed(shape, steps), note

    return setup


#: A condition over the run state that is never true in these runs (s0 always completes).
DEBUG_CONDITION = "steps.s0.status == 'failed'"


def _debugger_attached(shape: str, steps: int, workdir: Path) -> tuple[Runner, int, str]:
    """Flowscope (memory store) with a debug session and unhit breakpoints attached."""
    from flowscope.engine import Engine

    try:
        from flowscope.debugger import Debugger
    except ImportError as exc:
        print(f"debugger not available: {exc}", file=sys.stderr)
        raise SystemExit(UNAVAILABLE) from None

    engine = Engine(_memory_store(workdir), actions={"noop": async_noop})
    workflow = _workflow(shape, steps)
    # A session on the workflow debugs every run started of it (as a person would).
    session = Debugger(engine).open_session(user="bench", workflow=workflow.name)
    every = max(1, (steps - 1) // DEBUG_BREAKPOINTS)
    targets = [f"s{i}" for i in range(1, steps, every)][:DEBUG_BREAKPOINTS]
    for step_id in targets:
        session.set_breakpoint(step_id, condition=DEBUG_CONDITION)

    def run() -> None:
        result = engine.run(workflow)
        if not result.ok:
            raise SystemExit(f"benchmark run failed: {result.status} {result.error}")

    note = (f"session on the workflow, {len(targets)} step breakpoints with condition "
            f"`{DEBUG_CONDITION}` (never true)")
    return run, executed(shape, steps), note


# -- peers ----------------------------------------------------------------------------


def _prefect(shape: str, steps: int, workdir: Path) -> tuple[Runner, int, str]:
    # Prefect keeps its state under PREFECT_HOME; a fresh one per run of the benchmark.
    os.environ.setdefault("PREFECT_HOME", str(workdir / "prefect-home"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect import flow, task

    @task
    def step(previous: Any = None) -> Any:
        return None

    @flow
    def chain(n: int) -> None:
        previous = None
        for _ in range(n):
            previous = step(previous)

    @flow
    def fanout(n: int) -> None:
        futures = [step.submit(i) for i in range(n)]
        step([f.result() for f in futures])

    body = chain if shape == "chain" else fanout

    def run() -> None:
        body(steps)

    note = "@flow calling @task (fan-out: task.submit); local ephemeral server"
    return run, executed(shape, steps), note


def _dbos(shape: str, steps: int, workdir: Path) -> tuple[Runner, int, str]:
    from dbos import DBOS

    DBOS(config={
        "name": "flowscope-bench",
        "system_database_url": f"sqlite:///{workdir / 'dbos.sqlite'}",
        "run_admin_server": False,
        "log_level": "WARNING",
    })

    @DBOS.step()
    def step(i: int) -> Any:
        return None

    @DBOS.step()
    async def astep(i: int) -> Any:
        return None

    @DBOS.workflow()
    def chain(n: int) -> None:
        for i in range(n):
            step(i)

    @DBOS.workflow()
    async def fanout(n: int) -> None:
        await asyncio.gather(*(astep(i) for i in range(n)))
        await astep(n)

    DBOS.launch()
    loop = asyncio.new_event_loop()

    def run() -> None:
        if shape == "chain":
            chain(steps)
        else:
            loop.run_until_complete(fanout(steps))

    note = ("@DBOS.workflow calling @DBOS.step, SQLite system database"
            + ("; fan-out: async steps under asyncio.gather" if shape == "fanout" else ""))
    return run, executed(shape, steps), note


CONTENDERS: dict[str, Setup] = {
    "loop": loop_floor,
    "sqlite3-normal": _sqlite_floor("NORMAL"),
    "sqlite3-full": _sqlite_floor("FULL"),
    "flowscope-memory": _flowscope(_memory_store),
    "flowscope-sqlite-normal": _flowscope(_sqlite_store("NORMAL")),
    "flowscope-sqlite-full": _flowscope(_sqlite_store("FULL")),
    "flowscope-memory-sync": _flowscope(_memory_store, sync=True),
    "flowscope-sqlite-normal-sync": _flowscope(_sqlite_store("NORMAL"), sync=True),
    "flowscope-memory-debugger": _debugger_attached,
    "prefect": _prefect,
    "dbos": _dbos,
}


def versions() -> dict[str, str]:
    """Return the versions of what is being measured (packages this process can see)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for package in ("flowscope", "SQLAlchemy", "prefect", "dbos", "fastapi", "duckdb"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def profile_top(run: Runner, entries: int = 25) -> str:
    """Run once under cProfile; return the top entries by own time, as text."""
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(entries)
    text = out.getvalue()
    # Drop pstats' preamble (timestamps, file names) up to the column header.
    start = text.find("   ncalls")
    return text[start:] if start >= 0 else text


def main(argv: list[str] | None = None) -> int:
    """Time one contender and print its timings as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--shape", choices=("chain", "fanout"), default="chain")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    run, total, note = CONTENDERS[args.name](args.shape, args.steps, args.workdir)
    run()  # warm-up: imports, caches, first touch of the database file
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    record: dict[str, Any] = {
        "name": args.name, "shape": args.shape, "steps": total, "seconds": seconds,
        "versions": versions(), "note": note,
    }
    if args.profile:
        record["profile"] = profile_top(run)
    sys.stdout.flush()
    print("\n" + json.dumps(record), flush=True)
    if args.name == "dbos":
        # DBOS keeps background threads; leave without waiting for them.
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
