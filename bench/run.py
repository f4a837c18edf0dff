"""Flowscope against its floors and its peers, side by side in one run.

Usage: ``python bench/run.py [--quick] [--no-peers] [--only NAME ...] [--out PATH]``

Without ``--no-peers`` it first creates ``bench/.env`` (a venv, ignored by git) and
installs there what the comparisons need: Prefect 3, DBOS Transact, DuckDB and Flowscope
itself (editable). Peers are never runtime dependencies of Flowscope. A peer that cannot
be installed or run is reported in the table with the reason; the rest still runs.

Benchmarks (``--only`` takes these names, or a contender's name):

1. ``chain`` / ``fanout``: orchestration overhead per step on a 1,000-step linear chain
   and on 100 independent steps joined by one; floors (plain loop; sqlite3 with one
   committed insert per step, NORMAL and FULL), Flowscope (memory, SQLite NORMAL and
   FULL), Prefect 3 and DBOS Transact (on SQLite).
2. ``debugger``: the chain with a debug session and 50 unhit breakpoints attached.
3. ``analytics``: four queries over 100,000 runs (~1M attempts), Flowscope on its SQLite
   store against DuckDB on the same rows; both answers are checked to agree.
4. ``memory``: peak RSS per run in flight, 1,000 concurrent 10-step runs of sleeps.

Every contender runs in a fresh process, warms up once and is timed 5 times; the report
gives medians with min-max, and ratios taken in the same run (the machine is shared, so
absolute figures drift). ``--quick`` is a smoke test on tiny sizes, not a measurement.
Where a target is missed, the Flowscope contender is profiled (cProfile) and the top of
the profile goes into the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import envsetup
import report

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
UNAVAILABLE = 3

BENCHMARKS = ("chain", "fanout", "debugger", "analytics", "memory")
ORCHESTRATION = (
    "loop", "sqlite3-normal", "sqlite3-full", "flowscope-memory", "flowscope-sqlite-normal",
    "flowscope-sqlite-full", "flowscope-memory-sync", "flowscope-sqlite-normal-sync",
    "prefect", "dbos",
)
#: --quick keeps the rows the smoke test needs.
QUICK_ORCHESTRATION = ("loop", "sqlite3-normal", "flowscope-memory", "flowscope-sqlite-normal")
PEERS = {"prefect": "prefect", "dbos": "dbos"}


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is."""

    chain: int
    fanout: int
    prefect_chain: int
    repeats: int
    analytics_runs: int
    memory_runs: int
    memory_steps: int
    memory_sleep: float
    memory_repeats: int


FULL = Sizes(1000, 100, 100, 5, 100_000, 1000, 10, 0.05, 5)
QUICK = Sizes(50, 20, 20, 2, 1000, 50, 10, 0.01, 1)


@dataclass
class Row:
    """One contender's outcome: per-step (or per-query) figures, or why there are none."""

    bench: str
    name: str
    values: tuple[float, ...] = ()
    steps: int = 0
    note: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def worker(python: str, script: str, args: list[str], timeout: float) -> tuple[dict[str, Any] |
                                                                           None, str | None]:
    """Run a worker script in a fresh process; return its JSON record, or why it failed."""
    env = dict(os.environ)
    # Works both from the venv (flowscope installed editable) and from a plain checkout.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH_DIR), str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    cmd = [python, str(BENCH_DIR / script), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if proc.returncode == UNAVAILABLE:
        return None, "not available: " + _tail(proc.stderr)
    if proc.returncode != 0:
        return None, f"failed (exit {proc.returncode}): " + _tail(proc.stderr)
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        return None, "printed no result: " + _tail(proc.stderr)
    return json.loads(lines[-1]), None


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-2:])[-300:] or "no message"


class Bench:
    """Runs the selected benchmarks and collects rows, versions and profiles."""

    def __init__(self, env: envsetup.Environment, sizes: Sizes, *, only: set[str],
                 profile: bool, quick: bool) -> None:
        self.env = env
        self.sizes = sizes
        self.only = only
        self.profile = profile
        self.quick = quick
        self.rows: list[Row] = []
        self.versions: dict[str, str] = {}
        self.profiles: dict[str, str] = {}
        self.analytics: dict[str, Any] = {}
        self.memory: list[Row] = []

    def wants(self, bench: str, name: str | None = None) -> bool:
        """Whether ``--only`` selects this benchmark (or this contender of it)."""
        return not self.only or bench in self.only or (name is not None and name in self.only)

    def orchestration(self, shape: str) -> None:
        """Time every contender of one shape."""
        names = QUICK_ORCHESTRATION if self.quick else ORCHESTRATION
        for name in names:
            if self.wants(shape, name):
                self.rows.append(self.contender(shape, name))

    def contender(self, shape: str, name: str, *, profile: bool = False) -> Row:
        """Time one contender of one shape in a fresh process."""
        if name in PEERS and not self.env.has(PEERS[name]):
            return Row(shape, name, error=self.env.why_missing(PEERS[name]))
        steps = self.sizes.chain if shape == "chain" else self.sizes.fanout
        if name == "prefect" and shape == "chain":
            steps = self.sizes.prefect_chain
        repeats = 1 if profile else self.sizes.repeats
        label = f"{shape}/{name}" + (" (profile)" if profile else "")
        print(f"timing {label} ({steps} steps x {repeats}) ...", flush=True)
        workdir = WORK_DIR / f"{shape}-{name}"
        shutil.rmtree(workdir, ignore_errors=True)
        args = [name, f"--shape={shape}", f"--steps={steps}", f"--repeats={repeats}",
                f"--workdir={workdir}"] + (["--profile"] if profile else [])
        record, error = worker(self.env.python, "contenders.py", args, timeout=1800)
        shutil.rmtree(workdir, ignore_errors=True)
        if record is None:
            print(f"  {name}: {error}", flush=True)
            return Row(shape, name, error=error)
        if profile:
            self.profiles[label] = record.get("profile", "")
            return Row(shape, name)
        self.versions.update(record["versions"])
        total = int(record["steps"])
        per_step = tuple(s / total * 1e6 for s in record["seconds"])
        return Row(shape, name, per_step, total, record.get("note", ""))

    def debugger(self) -> None:
        """Time the chain with a debug session attached (and without, in the same run)."""
        have = {r.name for r in self.rows if r.bench == "chain" and r.error is None}
        if "flowscope-memory" not in have:
            self.rows.append(self.contender("chain", "flowscope-memory"))
        row = self.contender("chain", "flowscope-memory-debugger")
        row.bench = "debugger"
        self.rows.append(row)

    def run_analytics(self) -> None:
        """Generate (cached), export (cached), then time both sides and check agreement."""
        n, seed = self.sizes.analytics_runs, 7
        key = f"analytics-s{seed}-r{n}-g{_generator_version()}"
        db, duck = WORK_DIR / f"{key}.db", WORK_DIR / f"{key}.duckdb"
        out: dict[str, Any] = {"runs": n, "seed": seed, "db": str(db.relative_to(REPO_ROOT))}
        self.analytics = out
        counts_file = WORK_DIR / f"{key}.json"
        if not (db.exists() and counts_file.exists()):
            print(f"generating {n} runs into {db} (cached for later runs) ...", flush=True)
            record, error = worker(self.env.python, "analytics_bench.py",
                                   ["generate", f"--runs={n}", f"--seed={seed}", f"--db={db}"],
                                   timeout=3600)
            if record is None:
                out["error"] = f"generation {error}"
                return
            counts_file.write_text(json.dumps(record), encoding="utf-8")
        out["counts"] = json.loads(counts_file.read_text(encoding="utf-8"))
        repeats = str(self.sizes.repeats)
        if self.env.has("duckdb"):
            if not duck.exists():
                print("exporting the rows to DuckDB ...", flush=True)
                _, error = worker(self.env.python, "analytics_bench.py",
                                  ["export", f"--db={db}", f"--duck={duck}"], timeout=3600)
                if error:
                    out["duckdb_error"] = f"export {error}"
            if "duckdb_error" not in out:
                print("timing the queries on DuckDB ...", flush=True)
                record, error = worker(self.env.python, "analytics_bench.py",
                                       ["duckdb", f"--duck={duck}", f"--repeats={repeats}"],
                                       timeout=3600)
                if record is None:
                    out["duckdb_error"] = error
                else:
                    out["duckdb"] = record
                    self.versions["duckdb"] = record.get("version", "?")
        else:
            out["duckdb_error"] = self.env.why_missing("duckdb")
        print("timing the queries on Flowscope (SQLite store) ...", flush=True)
        record, error = worker(self.env.python, "analytics_bench.py",
                               ["flowscope", f"--db={db}", f"--repeats={repeats}"],
                               timeout=3600)
        if record is None:
            out["flowscope_error"] = error
        else:
            out["flowscope"] = record
        if "flowscope" in out and "duckdb" in out:
            import analytics_bench

            out["differences"] = analytics_bench.compare(out["flowscope"]["results"],
                                                         out["duckdb"]["results"])

    def run_memory(self) -> None:
        """Peak RSS per run in flight, each repeat in a fresh process."""
        s = self.sizes
        for store in ("memory", "sqlite"):
            values: list[float] = []
            error = None
            how = ""
            for i in range(s.memory_repeats):
                print(f"memory/{store} ({s.memory_runs} runs in flight, process {i + 1}/"
                      f"{s.memory_repeats}) ...", flush=True)
                workdir = WORK_DIR / f"memory-{store}"
                shutil.rmtree(workdir, ignore_errors=True)
                record, error = worker(self.env.python, "memory_bench.py", [
                    store, f"--runs={s.memory_runs}", f"--steps={s.memory_steps}",
                    f"--sleep={s.memory_sleep}", f"--workdir={workdir}"], timeout=600)
                shutil.rmtree(workdir, ignore_errors=True)
                if record is None:
                    break
                values.append(record["per_run_bytes"])
                how = record["how"]
            self.memory.append(Row("memory", f"flowscope-{store}", tuple(values),
                                   note=how, error=error))

    def profile_misses(self, verdicts: list[report.Verdict]) -> None:
        """Profile the Flowscope contender behind each missed target."""
        for verdict in verdicts:
            if verdict.met is False and verdict.profile is not None:
                shape, name = verdict.profile
                if f"{shape}/{name} (profile)" in self.profiles:
                    continue
                if shape == "analytics":
                    self.profile_query(name)
                else:
                    self.contender(shape, name, profile=True)

    def profile_query(self, query: str) -> None:
        """cProfile one run of a Flowscope analytics query in a fresh process."""
        db = self.analytics.get("db")
        if not db:
            return
        print(f"profiling analytics/{query} ...", flush=True)
        record, error = worker(self.env.python, "analytics_bench.py",
                               ["flowscope", f"--db={REPO_ROOT / db}", f"--profile={query}"],
                               timeout=3600)
        self.profiles[f"analytics/{query} (profile)"] = (
            record.get("profile", "") if record else f"profile failed: {error}")


def _generator_version() -> int:
    import analytics_bench

    return analytics_bench.GENERATOR_VERSION


def main(argv: list[str] | None = None) -> int:
    """Set up, run the selected benchmarks, print and write the report."""
    parser = argparse.ArgumentParser(description="Flowscope against floors and peers.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, 2 repeats: a smoke test, not a measurement")
    parser.add_argument("--no-peers", action="store_true",
                        help="no bench/.env, no installs: run with this interpreter; peers "
                        "and DuckDB are reported as not installed unless importable")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only this benchmark ({', '.join(BENCHMARKS)}) or "
                        "contender; may be repeated")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not profile Flowscope where a target is missed")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    args = parser.parse_args(argv)

    known = set(BENCHMARKS) | set(ORCHESTRATION) | {"flowscope-memory-debugger"}
    unknown = sorted(set(args.only) - known)
    if unknown:
        parser.error(f"unknown --only {', '.join(unknown)}; use one of {', '.join(sorted(known))}")
    started = time.time()
    load_before = report.load_average()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    if args.no_peers:
        env = envsetup.current()
    else:
        env = envsetup.ensure(tuple(envsetup.GROUPS), WORK_DIR / "install.log")
    bench = Bench(env, QUICK if args.quick else FULL, only=set(args.only),
                  profile=not (args.no_profile or args.quick), quick=args.quick)
    for shape in ("chain", "fanout"):
        bench.orchestration(shape)
    if bench.wants("debugger", "flowscope-memory-debugger"):
        bench.debugger()
    if bench.wants("analytics"):
        bench.run_analytics()
    if bench.wants("memory"):
        bench.run_memory()
    verdicts = report.verdicts(bench.rows, bench.analytics, bench.memory)
    if bench.profile:
        bench.profile_misses(verdicts)
    text = report.render(
        rows=bench.rows, analytics=bench.analytics, memory=bench.memory, verdicts=verdicts,
        versions=bench.versions, profiles=bench.profiles, sizes=bench.sizes,
        command="python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        env=env, load_before=load_before, seconds=time.time() - started, repo=REPO_ROOT,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print()
    print(report.summary_table(bench.rows, verdicts))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
