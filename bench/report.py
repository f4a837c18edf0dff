"""The benchmark report: targets, tables and ratios as Markdown (used by ``run.py``)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The targets of issue 6.
TARGET_MEMORY_US = 20.0
TARGET_SQLITE_RATIO = 3.0
TARGET_DBOS_RATIO = 30.0
TARGET_PREFECT_RATIO = 300.0
TARGET_DEBUGGER = 0.05
TARGET_QUERY_S = 1.0
TARGET_DUCKDB_RATIO = 10.0
TARGET_RUN_KB = 50.0


@dataclass(frozen=True)
class Verdict:
    """Where we stand against one target."""

    target: str
    standing: str
    met: bool | None
    """None: could not be measured in this run."""
    profile: tuple[str, str] | None = None
    """(shape, contender) to profile when the target is missed."""


def med(values: tuple[float, ...]) -> float:
    """Median."""
    return statistics.median(values)


def _find(rows: list[Any], bench: str, name: str) -> Any | None:
    for row in rows:
        if row.bench == bench and row.name == name and row.error is None and row.values:
            return row
    return None


def _mark(met: bool | None) -> str:
    return {True: "meets", False: "**misses**", None: "not measured"}[met]


def verdicts(rows: list[Any], analytics: dict[str, Any], memory: list[Any]) -> list[Verdict]:
    """Judge every target from this run's figures."""
    out: list[Verdict] = []
    loop = _find(rows, "chain", "loop")
    mem = _find(rows, "chain", "flowscope-memory")
    if loop and mem:
        overhead = med(mem.values) - med(loop.values)
        out.append(Verdict(f"in-memory store: ≤ {TARGET_MEMORY_US:.0f} µs overhead per step "
                           "(chain)", f"{overhead:.1f} µs", overhead <= TARGET_MEMORY_US,
                           ("chain", "flowscope-memory")))
    else:
        out.append(Verdict("in-memory store overhead per step", "not measured", None))
    for mode, judged in (("normal", True), ("full", False)):
        floor = _find(rows, "chain", f"sqlite3-{mode}")
        ours = _find(rows, "chain", f"flowscope-sqlite-{mode}")
        label = (f"SQLite store within {TARGET_SQLITE_RATIO:.0f}x of the sqlite3 floor "
                 f"(synchronous={mode.upper()})" + ("" if judged else ", reported"))
        if floor and ours:
            ratio = med(ours.values) / med(floor.values)
            out.append(Verdict(label, f"{ratio:.2f}x", ratio <= TARGET_SQLITE_RATIO,
                               ("chain", f"flowscope-sqlite-{mode}") if judged else None))
        else:
            out.append(Verdict(label, "not measured", None))
    ours = _find(rows, "chain", "flowscope-sqlite-normal")
    for peer, target in (("dbos", TARGET_DBOS_RATIO), ("prefect", TARGET_PREFECT_RATIO)):
        theirs = _find(rows, "chain", peer)
        label = f"≥ {target:.0f}x less overhead per step than {peer} (chain, SQLite store)"
        if theirs and ours and loop:
            base = med(loop.values)
            ratio = (med(theirs.values) - base) / (med(ours.values) - base)
            out.append(Verdict(label, f"{ratio:.0f}x", ratio >= target,
                               ("chain", "flowscope-sqlite-normal")))
        else:
            why = next((r.error for r in rows if r.name == peer and r.error), "not run")
            out.append(Verdict(label, f"not measured ({why})", None))
    dbg = _find(rows, "debugger", "flowscope-memory-debugger")
    if dbg and mem:
        added = med(dbg.values) / med(mem.values) - 1.0
        out.append(Verdict(f"debugger with 50 unhit breakpoints: ≤ {TARGET_DEBUGGER:.0%} added",
                           f"{added:+.1%}", added <= TARGET_DEBUGGER,
                           ("chain", "flowscope-memory-debugger")))
    else:
        why = next((r.error for r in rows if r.bench == "debugger" and r.error), "not run")
        out.append(Verdict("debugger overhead", f"not measured ({why})", None))
    fs, dk = analytics.get("flowscope"), analytics.get("duckdb")
    if fs:
        worst = max(med(tuple(v)) for v in fs["seconds"].values())
        slowest_q = max(fs["seconds"], key=lambda q: med(tuple(fs["seconds"][q])))
        out.append(Verdict(f"analytics: each query < {TARGET_QUERY_S:.0f} s",
                           f"slowest median {worst:.3f} s ({slowest_q})",
                           worst < TARGET_QUERY_S, ("analytics", slowest_q)))
        if dk:
            ratios = {q: med(tuple(fs["seconds"][q])) / med(tuple(dk["seconds"][q]))
                      for q in fs["seconds"]}
            worst_q = max(ratios, key=lambda q: ratios[q])
            out.append(Verdict(f"analytics: within {TARGET_DUCKDB_RATIO:.0f}x of DuckDB",
                               f"worst {ratios[worst_q]:.1f}x ({worst_q})",
                               ratios[worst_q] <= TARGET_DUCKDB_RATIO,
                               ("analytics", worst_q)))
    else:
        out.append(Verdict("analytics", "not measured (" + str(
            analytics.get("flowscope_error") or analytics.get("error") or "not run") + ")",
            None))
    for row in memory:
        if row.values:
            kb = med(row.values) / 1024
            out.append(Verdict(f"≤ {TARGET_RUN_KB:.0f} KB per run in flight ({row.name})",
                               f"{kb:.1f} KB", kb <= TARGET_RUN_KB))
    return out


def load_average() -> str:
    """Return the load averages, or ``unknown``."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def _proc(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine(load_before: str) -> list[str]:
    """Return the machine lines of the report."""
    cpu = _proc("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem = _proc("/proc/meminfo", "MemTotal")
    mem_text = f"{int(mem.split()[0]) / 1024 / 1024:.1f} GiB" if mem else "unknown"
    return [
        f"- CPU: {cpu} ({os.cpu_count()} logical cores)",
        f"- Memory: {mem_text}",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Load average (1, 5, 15 min): {load_before} at the start, {load_average()} at "
        "the end (the machine is shared: every figure below is read as a ratio to another "
        "taken in the same run)",
    ]


def git_revision(repo: Path) -> str:
    """Return the short commit (``+dirty`` with local changes to tracked files)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=repo, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def _range(values: tuple[float, ...], fmt: str) -> str:
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def orchestration_table(rows: list[Any], shape: str) -> list[str]:
    """Return the per-step table of one shape, with its ratios."""
    mine = [r for r in rows if r.bench == shape]
    if not mine:
        return ["(not run)"]
    loop = _find(rows, shape, "loop")
    base = med(loop.values) if loop else 0.0
    fs_sql = _find(rows, shape, "flowscope-sqlite-normal")
    fs_mem = _find(rows, shape, "flowscope-memory")
    lines = ["| contender | steps/run | µs/step (median) | min-max | overhead µs/step "
             "(- loop) | ratio | note |", "|---|---:|---:|---:|---:|---|---|"]
    for r in mine:
        if r.error:
            lines.append(f"| {r.name} | | | | | | {r.error.replace('|', '/')} |")
            continue
        m = med(r.values)
        ratio = ""
        if r.name.startswith("flowscope-sqlite"):
            mode = "full" if "full" in r.name else "normal"
            floor = _find(rows, shape, f"sqlite3-{mode}")
            if floor:
                ratio = f"{m / med(floor.values):.2f}x sqlite3-{mode}"
        elif r.name.startswith("flowscope-memory") and loop:
            ratio = f"{m - base:.1f} µs over loop"
        elif r.name in ("prefect", "dbos"):
            parts = []
            for ours in (fs_sql, fs_mem):
                if ours:
                    parts.append(f"{(m - base) / (med(ours.values) - base):.0f}x "
                                 f"{ours.name}")
            ratio = " · ".join(parts)
        lines.append(f"| {r.name} | {r.steps} | {m:.2f} | {_range(r.values, '.2f')} | "
                     f"{m - base:.2f} | {ratio} | {r.note.replace('|', '/')} |")
    return lines


def analytics_section(a: dict[str, Any]) -> list[str]:
    """Return the analytics table and the agreement check."""
    if not a:
        return ["(not run)"]
    if "error" in a:
        return [f"Not measured: {a['error']}"]
    counts = a.get("counts", {})
    lines = [
        f"{counts.get('runs', a['runs']):,} runs with {counts.get('attempts', 0):,} step "
        f"attempt rows (seed {a['seed']}), written straight into the SQLite store's tables "
        f"(`{a['db']}`, cached; not timed). DuckDB gets the same rows, exported once "
        "(not timed). Each query is run once to warm up, then timed.",
        "",
        "| query | Flowscope s (median) | min-max | DuckDB s (median) | min-max | "
        "Flowscope/DuckDB |", "|---|---:|---:|---:|---:|---:|",
    ]
    fs, dk = a.get("flowscope"), a.get("duckdb")
    names = {"summary": "workflow summary", "steps": "per-step p50/p95/p99 table",
             "slowest": "slowest-steps leaderboard (top 10 by p95)",
             "trends": "hourly trends"}
    for q, label in names.items():
        f = tuple(fs["seconds"][q]) if fs else ()
        d = tuple(dk["seconds"][q]) if dk else ()
        lines.append(
            f"| {label} | {f'{med(f):.4f}' if f else '—'} | {_range(f, '.4f') if f else '—'}"
            f" | {f'{med(d):.4f}' if d else '—'} | {_range(d, '.4f') if d else '—'} | "
            f"{f'{med(f) / med(d):.1f}x' if f and d else '—'} |")
    lines.append("")
    for key in ("flowscope_error", "duckdb_error"):
        if key in a:
            lines.append(f"- {key.split('_')[0]}: {a[key]}")
    if "differences" in a:
        diffs = a["differences"]
        if diffs:
            lines.append(f"- **The answers differ** in {len(diffs)} places, e.g.: "
                         + "; ".join(diffs[:5]))
        else:
            lines.append("- Both give the same numbers: every count equal, every mean and "
                         "percentile within 1e-6 relative (percentiles are the linear "
                         "definition on both sides: numpy's default, DuckDB's "
                         "`quantile_cont`).")
    return lines


def memory_section(memory: list[Any], sizes: Any) -> list[str]:
    """Return the memory table."""
    if not memory:
        return ["(not run)"]
    lines = [
        f"{sizes.memory_runs:,} runs started at once, each a chain of {sizes.memory_steps} "
        f"steps awaiting `asyncio.sleep({sizes.memory_sleep})`; (peak RSS during - RSS "
        f"before) / runs, each figure from a fresh process ({sizes.memory_repeats} "
        "processes). The memory store also keeps every finished run's records, which counts "
        "here.", "",
        "| store | KB per run in flight (median) | min-max | how |", "|---|---:|---:|---|"]
    for r in memory:
        if r.error or not r.values:
            lines.append(f"| {r.name} | | | {r.error} |")
            continue
        kb = tuple(v / 1024 for v in r.values)
        lines.append(f"| {r.name} | {med(kb):.1f} | {_range(kb, '.1f')} | {r.note} |")
    return lines


def summary_table(rows: list[Any], v: list[Verdict]) -> str:
    """Return the targets as a Markdown table (also printed on the console)."""
    lines = ["| target | this run | verdict |", "|---|---:|---|"]
    lines += [f"| {x.target} | {x.standing.replace('|', '/')} | {_mark(x.met)} |" for x in v]
    return "\n".join(lines)


def render(*, rows: list[Any], analytics: dict[str, Any], memory: list[Any],
           verdicts: list[Verdict], versions: dict[str, str], profiles: dict[str, str],
           sizes: Any, command: str, env: Any, load_before: str, seconds: float,
           repo: Path) -> str:
    """Return the whole report."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = dict(versions)
    if "flowscope" not in versions:
        versions["flowscope"] = "source checkout"
    versions["flowscope"] += f" (commit {git_revision(repo)})"
    prefect_note = ""
    if sizes.prefect_chain != sizes.chain:
        prefect_note = (f" Prefect runs a {sizes.prefect_chain}-step chain (a "
                        f"{sizes.chain}-step one takes minutes per repeat); its figures are "
                        "per step, so they compare all the same.")
    lines = [
        "# Benchmark results", "",
        f"Produced by `{command.strip()}` on {now} in {seconds / 60:.1f} minutes. Every "
        f"contender runs in a fresh process, warms up once, then is timed {sizes.repeats} "
        "times: medians with min-max. The machine is shared and its speed drifts, so read "
        "the **ratios**: each is between figures taken in the same run.", "",
        "## Machine", "", *machine(load_before), "",
        "## Versions", "", *(f"- {k}: {v}" for k, v in sorted(versions.items())),
        f"- environment: {'bench/.env' if env.venv else 'the running interpreter (--no-peers)'}",
        *(f"- **{g} could not be installed**: {why}" for g, why in env.failed.items()), "",
        "## Against the targets", "", summary_table(rows, verdicts), "",
        "## 1. Orchestration overhead per step", "",
        "No-op steps. Floors: a plain Python loop calling the function; plain `sqlite3`, one "
        "committed insert per step in WAL mode (`synchronous=NORMAL`, and `FULL`). Flowscope "
        "runs an async no-op (`-sync` rows: a sync function, which runs in a worker thread). "
        "Ratios for peers are overhead per step (minus the loop floor) against Flowscope's."
        + prefect_note, "",
        f"### Linear chain ({sizes.chain} steps)", "", *orchestration_table(rows, "chain"), "",
        f"### Fan-out ({sizes.fanout} independent steps joined by one)", "",
        *orchestration_table(rows, "fanout"), "",
        "## 2. Debugger overhead", "",
        *debugger_section(rows), "",
        "## 3. Analytics", "", *analytics_section(analytics), "",
        "## 4. Memory per run in flight", "", *memory_section(memory, sizes), "",
    ]
    if profiles:
        lines += ["## What the profile shows", "",
                  "cProfile of one more run of each Flowscope contender behind a missed "
                  "target (top entries by own time):", ""]
        for label, text in profiles.items():
            top = "\n".join(text.strip().splitlines()[:22])
            lines += [f"### {label}", "", "```", top, "```", ""]
    return "\n".join(lines)


def debugger_section(rows: list[Any]) -> list[str]:
    """Return the debugger comparison."""
    dbg = _find(rows, "debugger", "flowscope-memory-debugger")
    base = _find(rows, "chain", "flowscope-memory")
    if dbg is None:
        why = next((r.error for r in rows if r.bench == "debugger" and r.error), "not run")
        return [f"Not measured: {why}"]
    if base is None:
        return ["Not measured: the run without a session failed"]
    ratio = med(dbg.values) / med(base.values)
    return [
        f"The {dbg.steps}-step chain on the memory store, with {dbg.note}, against the same "
        "run with no session.", "",
        "| run | µs/step (median) | min-max |", "|---|---:|---:|",
        f"| no session | {med(base.values):.2f} | {_range(base.values, '.2f')} |",
        f"| session + unhit breakpoints | {med(dbg.values):.2f} | "
        f"{_range(dbg.values, '.2f')} |", "",
        f"Ratio: **{ratio:.3f}** ({ratio - 1:+.1%} added).",
    ]
