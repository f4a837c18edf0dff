"""Analytics: Flowscope's queries on its SQLite store against DuckDB on the same rows.

Usage (each side in its own process, run by ``bench/run.py``):

- ``python bench/analytics_bench.py generate --runs N --seed S --db PATH``: write the
  synthetic history straight into the store's tables (not timed; cached by the caller);
- ``python bench/analytics_bench.py export --db PATH --duck PATH``: copy the rows the
  queries read into a DuckDB database (not timed);
- ``python bench/analytics_bench.py flowscope --db PATH --repeats R`` and
  ``python bench/analytics_bench.py duckdb --duck PATH --repeats R``: warm up once, time
  each query ``R`` times, print JSON ``{"seconds": {query: [...]}, "results": {query:
  rows}}`` as the last line of stdout.

The history: 5 workflows of 10 steps each drawn from 20 step names, 20 users, 3 workflow
types, runs spread over 30 days; step durations log-normal (each step its own median,
from 20 ms to 3 s); about 4% of attempts fail transiently and are retried (up to 3
attempts); 5% of runs fail at one step (retried, or not for data errors), the steps after
it skipped as the engine records them. About 10.3 attempt rows per run.

The queries (:data:`QUERIES`): the workflow summary, the per-step table (p50/p95/p99),
the slowest-steps leaderboard (top 10 by p95) and hourly trends.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

QUERIES = ("summary", "steps", "slowest", "trends")
UNAVAILABLE = 3
GENERATOR_VERSION = 2  # 2: the store schema gained the analytics indexes

WORKFLOWS = ("orders", "billing", "etl-nightly", "reports", "onboarding")
TYPES = ("batch", "api", "scheduled")
STEP_NAMES = (
    "fetch", "validate", "enrich", "score", "charge", "notify", "transform", "load",
    "index", "render", "upload", "approve", "reserve", "ship", "invoice", "archive",
    "dedupe", "geocode", "translate", "audit",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_START_US = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp()) * 1_000_000
_SPAN_US = 30 * 86_400 * 1_000_000


# -- generation -----------------------------------------------------------------------


def _text(us: int) -> str:
    # Exactly what the store writes: fixed-width ISO-8601 UTC with microseconds.
    return (_EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds")


def _error(kind: str, message: str, category: str) -> str:
    return json.dumps({
        "type": kind, "message": message, "category": category,
        "traceback": f"Traceback (most recent call last):\n{kind}: {message}\n",
        "frames": [{"file": "app/steps.py", "line": 42, "function": "run",
                    "is_user_code": True}],
        "bases": [kind, "Exception"], "status_code": None,
    }, separators=(",", ":"))


_TRANSIENT = (("TimeoutError", "timed out after 30s", "timeout"),
              ("ConnectionError", "upstream returned 503", "external_service"))
_FATAL = (("ValueError", "bad record", "data"),
          ("TimeoutError", "timed out after 30s", "timeout"),
          ("PermissionError", "token expired", "authentication"))


def _plan(rng: random.Random) -> dict[str, Any]:
    """Pick each workflow's steps and each (workflow, step)'s duration distribution."""
    plan: dict[str, Any] = {}
    for wf in WORKFLOWS:
        steps = rng.sample(STEP_NAMES, 10)
        definition = json.dumps({"name": wf, "steps": [{"id": s, "uses": f"app:{s}"}
                                                       for s in steps]},
                                separators=(",", ":"))
        plan[wf] = {
            "steps": steps,
            "mu": {s: math.log(rng.uniform(20.0, 3000.0)) for s in steps},
            "sync": {s: rng.random() < 0.5 for s in steps},
            "definition": definition,
            "hash": hashlib.sha256(definition.encode()).hexdigest(),
        }
    return plan


def _rows(n_runs: int, seed: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    rng = random.Random(seed)
    plan = _plan(rng)
    users = [f"user-{i:02d}" for i in range(20)]
    for _ in range(n_runs):
        wf = rng.choice(WORKFLOWS)
        p = plan[wf]
        run_id = f"{rng.getrandbits(128):032x}"
        user, wtype = rng.choice(users), rng.choice(TYPES)
        version = rng.choice(("1", "2"))
        created = _START_US + rng.randrange(_SPAN_US)
        started = created + rng.randrange(1_000, 50_000)
        failing = rng.randrange(10) if rng.random() < 0.05 else -1
        clock = started
        attempts: list[dict[str, Any]] = []
        failed_step: str | None = None
        run_error: str | None = None
        run_category: str | None = None
        for index, step in enumerate(p["steps"]):
            base = {"run_id": run_id, "step_id": step, "workflow": wf, "version": version,
                    "user_id": user, "workflow_type": wtype}
            if failed_step is not None:
                attempts.append({**base, "attempt": 1, "status": "skipped",
                                 "skip_reason": "upstream", "cause_step_id": failed_step})
                continue
            fatal = _FATAL[rng.randrange(3)] if index == failing else None
            tries = (1 if fatal[2] == "data" else 3) if fatal else 1
            while not fatal and tries < 3 and rng.random() < 0.04:
                tries += 1
            for attempt in range(1, tries + 1):
                ready = clock
                wait = int(rng.lognormvariate(math.log(2_000), 0.8))
                begin = ready + wait
                ms = rng.lognormvariate(p["mu"][step], 0.6)
                end = begin + max(1, int(ms * 1000))
                clock = end + rng.randrange(50, 500)
                last = attempt == tries
                ok = last and not fatal
                err = None if ok else (fatal if (fatal and last) else _TRANSIENT[attempt % 2])
                dur = (end - begin) / 1000.0
                attempts.append({
                    **base, "attempt": attempt, "status": "completed" if ok else "failed",
                    "input": '{"n":1}', "output": '{"ok":true}' if ok else None,
                    "error": None if err is None else _error(*err),
                    "error_type": None if err is None else err[0],
                    "error_category": None if err is None else err[2],
                    "error_message": None if err is None else err[1],
                    "ready_at": _text(ready), "started_at": _text(begin),
                    "ended_at": _text(end), "started_at_epoch": begin / 1e6,
                    "ended_at_epoch": end / 1e6, "duration_ms": dur,
                    "queue_wait_ms": wait / 1000.0,
                    "cpu_time_ms": dur * rng.uniform(0.05, 0.9) if p["sync"][step] else None,
                })
                if err is not None and last:
                    failed_step, run_error, run_category = step, _error(*err), err[2]
        ended = clock
        run = {
            "id": run_id, "workflow": wf, "version": version, "definition_hash": p["hash"],
            "status": "failed" if failed_step else "completed", "definition": p["definition"],
            "inputs": "{}", "outputs": None if failed_step else '{"ok":true}', "vars": "{}",
            "error": run_error, "error_category": run_category, "failed_step": failed_step,
            "user_id": user, "tags": json.dumps({"type": wtype}), "workflow_type": wtype,
            "created_at": _text(created), "started_at": _text(started),
            "ended_at": _text(ended), "created_at_epoch": created / 1e6,
            "started_at_epoch": started / 1e6, "ended_at_epoch": ended / 1e6,
            "duration_ms": (ended - started) / 1000.0,
        }
        yield run, attempts


def generate(db: Path, n_runs: int, seed: int) -> dict[str, int]:
    """Create the store at ``db`` (schema by Flowscope's migrations) and fill it."""
    from flowscope.store import open_store
    from flowscope.store.schema import runs as runs_table
    from flowscope.store.schema import step_attempts

    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    open_store(str(db)).close()  # creates and migrates: every index the engine has
    run_cols = [c.name for c in runs_table.columns]
    step_cols = [c.name for c in step_attempts.columns if c.name != "id"]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # generation only; the queries read it later
    run_sql = (f"INSERT INTO runs ({', '.join(run_cols)}) VALUES "
               f"({', '.join(':' + c for c in run_cols)})")
    step_sql = (f"INSERT INTO step_attempts ({', '.join(step_cols)}) VALUES "
                f"({', '.join(':' + c for c in step_cols)})")
    run_defaults = dict.fromkeys(run_cols) | {"lease_epoch": 0}
    step_defaults = dict.fromkeys(step_cols) | {"rewound": 0}
    counts = {"runs": 0, "attempts": 0}
    keys: set[str] = set()
    batch_runs: list[dict[str, Any]] = []
    batch_steps: list[dict[str, Any]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(run_sql, batch_runs)
        conn.executemany(step_sql, batch_steps)
        conn.execute("COMMIT")
        batch_runs.clear()
        batch_steps.clear()

    for run, attempts in _rows(n_runs, seed):
        definition = run.pop("definition")
        text = json.dumps(definition, separators=(",", ":"), ensure_ascii=False)
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if key not in keys:
            keys.add(key)
            conn.execute("INSERT INTO definitions (key, definition) VALUES (?, ?)", (key, text))
        batch_runs.append(run_defaults | run | {"definition_key": key})
        batch_steps.extend(step_defaults | a for a in attempts)
        counts["runs"] += 1
        counts["attempts"] += len(attempts)
        if len(batch_runs) >= 5_000:
            flush()
    if batch_runs:
        flush()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return counts


# -- DuckDB ---------------------------------------------------------------------------

_RUN_EXPORT = ("id", "workflow", "status", "created_at_epoch", "ended_at_epoch",
               "duration_ms")
_STEP_EXPORT = ("run_id", "workflow", "step_id", "attempt", "status", "duration_ms",
                "queue_wait_ms", "cpu_time_ms", "peak_memory_bytes", "reused_from_run_id")
_DUCK_TYPES = {"attempt": "INTEGER", "peak_memory_bytes": "BIGINT"}


def _duck_type(column: str) -> str:
    default = "DOUBLE" if column.endswith(("_ms", "_epoch")) else "VARCHAR"
    return _DUCK_TYPES.get(column, default)


def export(db: Path, duck: Path) -> None:
    """Copy the columns the queries read into a DuckDB database (through CSV)."""
    import duckdb

    duck.unlink(missing_ok=True)
    src = sqlite3.connect(db)
    con = duckdb.connect(str(duck))
    for table, cols in (("runs", _RUN_EXPORT), ("step_attempts", _STEP_EXPORT)):
        path = duck.with_suffix(f".{table}.csv")
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(cols)
            # repr() of a float round-trips exactly, so DuckDB reads the same doubles.
            for row in src.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                                 for v in row])
        types = ", ".join(f"'{c}': '{_duck_type(c)}'" for c in cols)
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header=true, "
                    f"columns={{{types}}}, nullstr='')")
        path.unlink()
    con.close()
    src.close()


_DUCK_SQL = {
    "summary": """
        SELECT count(*) AS total,
          count(*) FILTER (status = 'completed') AS completed,
          count(*) FILTER (status = 'failed') AS failed,
          count(*) FILTER (status = 'cancelled') AS cancelled,
          avg(duration_ms), quantile_cont(duration_ms, [0.5, 0.95, 0.99]),
          min(duration_ms), max(duration_ms),
          (SELECT count(*) FROM runs r WHERE r.status = 'completed' AND EXISTS
             (SELECT 1 FROM step_attempts s WHERE s.run_id = r.id AND s.attempt > 1))
        FROM runs""",
    "steps": """
        SELECT workflow, step_id, count(*), count(*) FILTER (status = 'failed'),
          count(*) FILTER (attempt > 1), avg(duration_ms),
          quantile_cont(duration_ms, [0.5, 0.95, 0.99]), min(duration_ms), max(duration_ms),
          avg(queue_wait_ms), avg(cpu_time_ms), max(cpu_time_ms)
        FROM step_attempts
        WHERE status IN ('completed', 'failed', 'cancelled') AND reused_from_run_id IS NULL
        GROUP BY workflow, step_id ORDER BY workflow, step_id""",
    "slowest": """
        SELECT workflow, step_id, quantile_cont(duration_ms, 0.95) AS p95
        FROM step_attempts
        WHERE status IN ('completed', 'failed', 'cancelled') AND reused_from_run_id IS NULL
        GROUP BY workflow, step_id HAVING p95 IS NOT NULL
        ORDER BY p95 DESC, workflow, step_id LIMIT 10""",
    "trends": """
        WITH e AS (SELECT CAST(floor(ended_at_epoch / 3600) AS BIGINT) * 3600 AS b,
                          duration_ms AS v, status
                   FROM runs WHERE ended_at_epoch IS NOT NULL),
        agg AS (SELECT b, count(*) AS finished,
                  count(*) FILTER (status = 'completed') AS completed,
                  count(*) FILTER (status = 'failed') AS failed,
                  count(*) FILTER (status = 'cancelled') AS cancelled,
                  avg(v) AS mean, quantile_cont(v, [0.5, 0.95]) AS q
                FROM e GROUP BY b),
        st AS (SELECT CAST(floor(created_at_epoch / 3600) AS BIGINT) * 3600 AS b,
                      count(*) AS n FROM runs GROUP BY b),
        span AS (SELECT range AS b FROM range((SELECT min(b) FROM e),
                                              (SELECT max(b) FROM e) + 3600, 3600))
        SELECT span.b, coalesce(st.n, 0), coalesce(agg.finished, 0),
               coalesce(agg.completed, 0), coalesce(agg.failed, 0),
               coalesce(agg.cancelled, 0), agg.mean, agg.q
        FROM span LEFT JOIN agg ON agg.b = span.b LEFT JOIN st ON st.b = span.b
        ORDER BY span.b""",
}


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _duck_query(con: Any, name: str) -> list[dict[str, Any]]:
    rows = con.execute(_DUCK_SQL[name]).fetchall()
    if name == "summary":
        (total, completed, failed, cancelled, mean, q, lo, hi, retried), = rows
        finished = completed + failed
        return [{
            "total": int(total), "completed": int(completed), "failed": int(failed),
            "cancelled": int(cancelled),
            "success_rate": completed / finished if finished else None,
            "error_rate": failed / finished if finished else None,
            "success_after_retry_rate": retried / finished if finished else None,
            "avg_duration_ms": _f(mean), "median_duration_ms": _f(q[0]),
            "p95_duration_ms": _f(q[1]), "p99_duration_ms": _f(q[2]),
            "min_duration_ms": _f(lo), "max_duration_ms": _f(hi),
        }]
    if name == "steps":
        return [{
            "workflow_id": wf, "step_id": step, "executions": int(n), "failures": int(nf),
            "retries": int(nr), "avg_duration_ms": _f(mean),
            "median_duration_ms": _f(q[0]), "p95_duration_ms": _f(q[1]),
            "p99_duration_ms": _f(q[2]), "min_duration_ms": _f(lo),
            "max_duration_ms": _f(hi), "avg_queue_wait_ms": _f(qw),
            "avg_cpu_time_ms": _f(cpu), "max_cpu_time_ms": _f(cpu_max),
        } for wf, step, n, nf, nr, mean, q, lo, hi, qw, cpu, cpu_max in rows]
    if name == "slowest":
        return [{"workflow_id": wf, "step_id": step, "p95_duration_ms": _f(p95)}
                for wf, step, p95 in rows]
    return [{
        "bucket_start": float(b), "started": int(st), "finished": int(fin),
        "completed": int(c), "failed": int(f), "cancelled": int(x),
        "avg_duration_ms": _f(mean), "p50_duration_ms": _f(q[0]) if q else None,
        "p95_duration_ms": _f(q[1]) if q else None,
    } for b, st, fin, c, f, x, mean, q in rows]


# -- Flowscope ------------------------------------------------------------------------

_KEEP = {
    "summary": ("total", "completed", "failed", "cancelled", "success_rate", "error_rate",
                "success_after_retry_rate", "avg_duration_ms", "median_duration_ms",
                "p95_duration_ms", "p99_duration_ms", "min_duration_ms", "max_duration_ms"),
    "steps": ("workflow_id", "step_id", "executions", "failures", "retries",
              "avg_duration_ms", "median_duration_ms", "p95_duration_ms", "p99_duration_ms",
              "min_duration_ms", "max_duration_ms", "avg_queue_wait_ms", "avg_cpu_time_ms",
              "max_cpu_time_ms"),
    "slowest": ("workflow_id", "step_id", "p95_duration_ms"),
    "trends": ("bucket_start", "started", "finished", "completed", "failed", "cancelled",
               "avg_duration_ms", "p50_duration_ms", "p95_duration_ms"),
}


def _plain(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        kept = {}
        for key in _KEEP[name]:
            value = row.get(key)
            kept[key] = value.timestamp() if isinstance(value, datetime) else value
        out.append(kept)
    return out


def _flowscope_queries(db: Path) -> dict[str, Callable[[], list[dict[str, Any]]]]:
    try:
        from flowscope import WorkflowAnalyticsEngine
    except ImportError:
        try:
            from flowscope.compat.analytics import WorkflowAnalyticsEngine
        except ImportError as exc:
            print(f"analytics not available: {exc}", file=sys.stderr)
            raise SystemExit(UNAVAILABLE) from None
    engine = WorkflowAnalyticsEngine(str(db))
    return {
        "summary": lambda: [engine.get_workflow_statistics()],
        "steps": engine.get_step_statistics,
        "slowest": lambda: engine.get_slowest_steps(10),
        "trends": lambda: engine.get_execution_trends(bucket="1h"),
    }


def _time(queries: dict[str, Callable[[], list[dict[str, Any]]]],
          repeats: int) -> dict[str, Any]:
    seconds: dict[str, list[float]] = {}
    results: dict[str, Any] = {}
    for name in QUERIES:
        queries[name]()  # warm-up: page cache, statement caches
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            rows = queries[name]()
            times.append(time.perf_counter() - start)
        seconds[name] = times
        results[name] = _plain(name, rows)
    return {"seconds": seconds, "results": results}


# -- checking -------------------------------------------------------------------------


def compare(a: dict[str, Any], b: dict[str, Any], rel: float = 1e-6) -> list[str]:
    """Return the differences between two ``results`` dicts (empty when they agree).

    Counts and names must be equal; floats agree to ``rel`` (relative).
    """
    problems: list[str] = []
    for name in QUERIES:
        ra, rb = a.get(name, []), b.get(name, [])
        if len(ra) != len(rb):
            problems.append(f"{name}: {len(ra)} rows against {len(rb)}")
            continue
        for i, (x, y) in enumerate(zip(ra, rb, strict=True)):
            for key in _KEEP[name]:
                u, v = x.get(key), y.get(key)
                if isinstance(u, float) or isinstance(v, float):
                    same = (u is None and v is None) or (
                        u is not None and v is not None
                        and math.isclose(float(u), float(v), rel_tol=rel, abs_tol=1e-9))
                else:
                    same = u == v
                if not same:
                    problems.append(f"{name} row {i} {key}: {u!r} against {v!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Dispatch one of the commands (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=("generate", "export", "flowscope", "duckdb"))
    parser.add_argument("--db", type=Path)
    parser.add_argument("--duck", type=Path)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", choices=QUERIES,
                        help="(flowscope) only cProfile one run of this query")
    args = parser.parse_args(argv)

    if args.command == "generate":
        record: dict[str, Any] = generate(args.db, args.runs, args.seed)
    elif args.command == "export":
        export(args.db, args.duck)
        record = {}
    elif args.command == "flowscope" and args.profile:
        from contenders import profile_top

        query = _flowscope_queries(args.db)[args.profile]
        query()  # warm-up

        def once() -> None:
            query()

        record = {"profile": profile_top(once)}
    elif args.command == "flowscope":
        record = _time(_flowscope_queries(args.db), args.repeats)
    else:
        try:
            import duckdb
        except ImportError as exc:
            print(f"duckdb not available: {exc}", file=sys.stderr)
            return UNAVAILABLE
        con = duckdb.connect(str(args.duck), read_only=True)
        record = _time({q: (lambda q=q: _duck_query(con, q)) for q in QUERIES}, args.repeats)
        record["version"] = duckdb.__version__
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
