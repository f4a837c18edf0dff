"""Benchmark: a linear chain of no-op steps, Flowscope against its floors.

Usage: ``python bench/run.py [--quick] [--out PATH]``

Contenders (each timed in a fresh process by ``bench/contenders.py``; warm-up once,
then repeated):

- ``loop``: a plain Python loop calling the no-op function (the cost of doing nothing);
- ``sqlite3-normal`` / ``sqlite3-full``: plain ``sqlite3``, one committed insert per step,
  WAL, ``synchronous=NORMAL`` / ``FULL`` (the cost of durability);
- ``flowscope-memory``: Flowscope with the in-memory store;
- ``flowscope-sqlite-normal`` / ``flowscope-sqlite-full``: Flowscope with the SQLite store;
- ``...-sync`` rows: the same with a synchronous step function, which Flowscope runs in a
  worker thread (one thread hop per step; the main rows use an async no-op, which runs on
  the event loop).

Prints a table and writes ``bench/RESULTS.md`` (or ``--out``) with the machine, the
table of microseconds per step and the ratios against the targets. No peer engines are
compared yet, so no extra environment is needed; when they are, this script will create
``bench/.env`` for them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"

CONTENDERS = (
    "loop",
    "sqlite3-normal",
    "sqlite3-full",
    "flowscope-memory",
    "flowscope-sqlite-normal",
    "flowscope-sqlite-full",
    "flowscope-memory-sync",
    "flowscope-sqlite-normal-sync",
)

#: Targets the design holds Flowscope to.
TARGET_MEMORY_OVERHEAD_US = 20.0
TARGET_SQLITE_RATIO = 3.0


@dataclass(frozen=True)
class Timing:
    """The timings of one contender, in microseconds per step."""

    name: str
    steps: int
    per_step_us: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median over the repeats."""
        return statistics.median(self.per_step_us)

    @property
    def low(self) -> float:
        """Fastest repeat."""
        return min(self.per_step_us)

    @property
    def high(self) -> float:
        """Slowest repeat."""
        return max(self.per_step_us)


def time_contender(name: str, steps: int, repeats: int) -> tuple[Timing, dict[str, str]]:
    """Run one contender in a fresh process; return its timing and the versions it saw."""
    workdir = WORK_DIR / name
    shutil.rmtree(workdir, ignore_errors=True)
    env = dict(os.environ)
    # Works both installed and from a plain checkout.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    cmd = [
        sys.executable,
        str(BENCH_DIR / "contenders.py"),
        name,
        f"--steps={steps}",
        f"--repeats={repeats}",
        f"--workdir={workdir}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"contender {name!r} failed (exit {proc.returncode}):\n{proc.stderr.strip()}"
        )
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    shutil.rmtree(workdir, ignore_errors=True)
    per_step = tuple(s / steps * 1e6 for s in record["seconds"])
    return Timing(name, steps, per_step), record["versions"]


def cpu_model() -> str:
    """Return the CPU model name, as /proc/cpuinfo gives it when it is there."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """Return the load averages, or ``unknown`` where the platform has none."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def git_revision() -> str:
    """Return the short commit of the checkout (with ``+dirty`` for local changes)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def format_table(timings: list[Timing]) -> list[str]:
    """Return the results as Markdown table lines."""
    lines = [
        "| contender | µs/step (median) | min-max |",
        "|---|---:|---:|",
    ]
    for t in timings:
        lines.append(f"| {t.name} | {t.median:.2f} | {t.low:.2f}-{t.high:.2f} |")
    return lines


def format_ratios(by_name: dict[str, Timing]) -> list[str]:
    """Return the comparisons against the targets as Markdown lines."""
    overhead = by_name["flowscope-memory"].median - by_name["loop"].median
    verdict = "meets" if overhead <= TARGET_MEMORY_OVERHEAD_US else "misses"
    lines = [
        f"- Flowscope (memory store) overhead per step, minus the loop floor: "
        f"**{overhead:.2f} µs** (target ≤ {TARGET_MEMORY_OVERHEAD_US:.0f} µs: {verdict})",
    ]
    for mode in ("normal", "full"):
        ratio = by_name[f"flowscope-sqlite-{mode}"].median / by_name[f"sqlite3-{mode}"].median
        verdict = "meets" if ratio <= TARGET_SQLITE_RATIO else "misses"
        lines.append(
            f"- Flowscope (SQLite store) / sqlite3 floor, synchronous={mode.upper()}: "
            f"**{ratio:.2f}x** (target ≤ {TARGET_SQLITE_RATIO:.0f}x: {verdict})"
        )
    return lines


def write_results(
    out: Path,
    timings: list[Timing],
    versions: dict[str, str],
    steps: int,
    repeats: int,
    quick: bool,
) -> None:
    """Write the Markdown report."""
    by_name = {t.name: t for t in timings}
    command = "python bench/run.py" + (" --quick" if quick else "")
    lines = [
        "# Benchmark results",
        "",
        f"A linear chain of {steps} no-op steps, each step needing the previous one; every "
        f"contender in a fresh process, warmed up once, then timed {repeats} times. "
        f"Produced by `{command}` on "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "## Machine",
        "",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores)",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Flowscope commit: {git_revision()}",
        f"- Load average (1, 5, 15 min) when the report was written: {load_average()} "
        "(a busy machine makes every number noisier)",
        *(f"- {name}: {ver}" for name, ver in versions.items()),
        "",
        "## Time per step",
        "",
        *format_table(timings),
        "",
        "## Against the targets",
        "",
        *format_ratios(by_name),
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run every contender, print the table, write the report."""
    parser = argparse.ArgumentParser(description="Flowscope chain benchmark.")
    parser.add_argument(
        "--quick", action="store_true", help="50 steps, 2 repeats (a smoke test, not a result)"
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    args = parser.parse_args(argv)

    steps, repeats = (50, 2) if args.quick else (1000, 5)
    timings: list[Timing] = []
    versions: dict[str, str] = {}
    for name in CONTENDERS:
        print(f"timing {name} ({steps} steps x {repeats})...", flush=True)
        timing, seen = time_contender(name, steps, repeats)
        timings.append(timing)
        versions.update(seen)

    print()
    print("\n".join(format_table(timings)))
    print()
    print("\n".join(format_ratios({t.name: t for t in timings})))
    write_results(args.out, timings, versions, steps, repeats, args.quick)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
