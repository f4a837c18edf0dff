"""One benchmark contender, timed in its own process (run by ``bench/run.py``).

Usage: ``python bench/contenders.py NAME --steps N --repeats R --workdir DIR``

Each contender runs a linear chain of ``N`` no-op steps: once to warm up, then ``R``
timed times. The last line of stdout is JSON: ``{"name", "steps", "seconds": [...],
"versions": {...}}``. Setup (opening a connection or a store, building the workflow) is
outside the timing; each timed run is one whole chain.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Runner = Callable[[], None]


def noop(**_: Any) -> Any:
    """The step body: does nothing, so what is timed is the orchestration."""
    return None


async def async_noop(**_: Any) -> Any:
    """The same no-op as a coroutine: runs on the event loop, no worker-thread hop."""
    return None


def loop_floor(steps: int, workdir: Path) -> Runner:
    """Plain Python: call the function ``steps`` times (the cost of doing nothing)."""

    def run() -> None:
        for _ in range(steps):
            noop()

    return run


def _sqlite_floor(synchronous: str) -> Callable[[int, Path], Runner]:
    def setup(steps: int, workdir: Path) -> Runner:
        conn = sqlite3.connect(workdir / f"floor-{synchronous.lower()}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS steps (run INTEGER, step INTEGER, output TEXT, "
            "PRIMARY KEY (run, step))"
        )
        counter = iter(range(1_000_000))

        def run() -> None:
            run_no = next(counter)
            for i in range(steps):
                output = json.dumps(noop())
                # One committed transaction per step: the durability floor for a journal.
                conn.execute("BEGIN")
                conn.execute("INSERT INTO steps VALUES (?, ?, ?)", (run_no, i, output))
                conn.execute("COMMIT")

        return run

    return setup


def _chain_workflow(steps: int) -> Any:
    from flowscope.model import WorkflowBuilder

    builder = WorkflowBuilder("bench-chain")
    previous: str | None = None
    for i in range(steps):
        step_id = f"s{i}"
        builder.step(step_id, uses="noop", needs=[previous] if previous else [])
        previous = step_id
    return builder.build()


def _flowscope(
    store_factory: Callable[[Path], Any], *, sync: bool = False
) -> Callable[[int, Path], Runner]:
    # The main figures use an async no-op: a sync step function always pays a hop to a
    # worker thread (so a slow step cannot block other runs); the "-sync" rows show that.
    action = noop if sync else async_noop

    def setup(steps: int, workdir: Path) -> Runner:
        from flowscope.engine import Engine

        engine = Engine(store_factory(workdir), actions={"noop": action})
        workflow = _chain_workflow(steps)

        def run() -> None:
            result = engine.run(workflow)
            if not result.ok:
                raise SystemExit(f"benchmark run failed: {result.status} {result.error}")

        return run

    return setup


def _memory_store(workdir: Path) -> Any:
    from flowscope.store import open_store

    return open_store("memory")


def _sqlite_store(synchronous: str) -> Callable[[Path], Any]:
    def factory(workdir: Path) -> Any:
        from flowscope.store import open_store

        path = workdir / f"flowscope-{synchronous.lower()}.db"
        return open_store(str(path), synchronous=synchronous)

    return factory


CONTENDERS: dict[str, Callable[[int, Path], Runner]] = {
    "loop": loop_floor,
    "sqlite3-normal": _sqlite_floor("NORMAL"),
    "sqlite3-full": _sqlite_floor("FULL"),
    "flowscope-memory": _flowscope(_memory_store),
    "flowscope-sqlite-normal": _flowscope(_sqlite_store("NORMAL")),
    "flowscope-sqlite-full": _flowscope(_sqlite_store("FULL")),
    "flowscope-memory-sync": _flowscope(_memory_store, sync=True),
    "flowscope-sqlite-normal-sync": _flowscope(_sqlite_store("NORMAL"), sync=True),
}


def versions() -> dict[str, str]:
    """Return the versions of what is being measured."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for package in ("flowscope", "SQLAlchemy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    if found["flowscope"] == "not installed":
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        found["flowscope"] = f"{project['version']} (source checkout)"
    return found


def main(argv: list[str] | None = None) -> int:
    """Time one contender and print its timings as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    run = CONTENDERS[args.name](args.steps, args.workdir)
    run()  # warm-up: imports, caches, first-touch of the database file
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    record = {"name": args.name, "steps": args.steps, "seconds": seconds, "versions": versions()}
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
