"""``flowscope stats``, ``top``, ``trends`` and ``export``: analytics on the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flowscope.analytics import export as exports
from flowscope.analytics import queries, series
from flowscope.cli.app import app
from flowscope.cli.app import stdout_console as _stdout
from flowscope.cli.options import CommandLineError, DbOption, parse_since
from flowscope.cli.store import opened_store
from flowscope.errors import AnalyticsError
from flowscope.filters import Filters

WorkflowOpt = Annotated[str | None, typer.Option("--workflow", "-w", help="Only this workflow.")]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", help="From (inclusive): 7d, 12h, 30m, a date (2026-11-01) or an ISO time.")]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", help="To (exclusive): same forms as --since.")]
VersionOpt = Annotated[str | None, typer.Option("--version", help="Only this workflow version.")]
UserOpt = Annotated[str | None, typer.Option("--user", help="Only runs by this user.")]
TypeOpt = Annotated[str | None, typer.Option("--type", help="Only this workflow type (tag).")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="Only this status.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")]


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_since(text)
    except CommandLineError:
        raise CommandLineError(f"{option} {text!r} is neither a duration nor a date",
                               hint="write e.g. 7d, 12h, 30m or 2026-11-01") from None


def _filters(workflow: str | None, since: str | None, until: str | None, version: str | None,
             user: str | None, wtype: str | None, status: str | None) -> Filters:
    return Filters(since=_time(since, "--since"), until=_time(until, "--until"),
                   workflow=workflow, version=version, user=user, type=wtype, status=status)


def _check_format(fmt: str) -> str:
    if fmt not in ("table", "json", "csv"):
        raise CommandLineError(f"--format {fmt!r} is not table, json or csv",
                               hint="use --format table, json or csv")
    return fmt


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _emit(rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str] | None = None,
          title: str | None = None) -> None:
    console = _stdout()
    keys = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        console.print(json.dumps([dict(r) for r in rows], indent=2, default=str),
                      markup=False, highlight=False, soft_wrap=True)
        return
    if fmt == "csv":
        exports.write_rows(rows, sys.stdout, "csv", keys)
        return
    if not rows:
        console.print("nothing matches (try a wider --since, or other filters)")
        return
    table = Table(title=title)
    for key in keys:
        table.add_column(key, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row.get(k)) for k in keys])
    console.print(table)


_SUMMARY_COLUMNS = ("total", "completed", "failed", "cancelled", "running", "success_rate",
                    "error_rate", "avg_duration_ms", "median_duration_ms", "p95_duration_ms",
                    "p99_duration_ms", "min_duration_ms", "max_duration_ms")
_STEP_COLUMNS = ("workflow_id", "step_id", "executions", "failures", "failure_rate",
                 "retries", "avg_duration_ms", "median_duration_ms", "p95_duration_ms",
                 "p99_duration_ms", "max_duration_ms")


@app.command("stats")
def stats_command(
    workflow: WorkflowOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    version: VersionOpt = None, user: UserOpt = None, wtype: TypeOpt = None,
    status: StatusOpt = None,
    by: Annotated[str | None, typer.Option("--by", help="Group by step, user or type.")] = None,
    fmt: FormatOpt = "table", db: DbOption = None,
) -> None:
    """Show run statistics: counts, success and error rates, duration percentiles."""
    _check_format(fmt)
    f = _filters(workflow, since, until, version, user, wtype, status)
    if by not in (None, "step", "user", "type"):
        raise CommandLineError(f"--by {by!r} is not step, user or type",
                               hint="use --by step, --by user or --by type")
    with opened_store(db) as store:
        if by == "step":
            _emit(queries.step_statistics(store, f), fmt, _STEP_COLUMNS, "per step")
        elif by == "user":
            _emit(queries.by_user(store, f), fmt, ("user_id", *_SUMMARY_COLUMNS), "per user")
        elif by == "type":
            _emit(queries.by_type(store, f), fmt, ("workflow_type", *_SUMMARY_COLUMNS),
                  "per workflow type")
        else:
            _emit([queries.summary(store, f)], fmt, _SUMMARY_COLUMNS, "runs")


@app.command("top")
def top_command(
    board: Annotated[str, typer.Argument(metavar="slowest|failed|retried",
                                         help="Which leaderboard.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many steps.")] = 10,
    by: Annotated[str, typer.Option("--by", help="Slowest by p95 or mean.")] = "p95",
    workflow: WorkflowOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    version: VersionOpt = None, user: UserOpt = None, wtype: TypeOpt = None,
    status: StatusOpt = None, fmt: FormatOpt = "table", db: DbOption = None,
) -> None:
    """List the slowest, most failed or most retried steps."""
    _check_format(fmt)
    if board not in ("slowest", "failed", "retried"):
        raise CommandLineError(f"unknown leaderboard {board!r}",
                               hint="use flowscope top slowest, failed or retried")
    if limit < 1:
        raise CommandLineError(f"--limit {limit} must be at least 1", hint="use e.g. -n 10")
    f = _filters(workflow, since, until, version, user, wtype, status)
    with opened_store(db) as store:
        rows = queries.leaderboard(store, f, board, limit=limit, by=by)  # type: ignore[arg-type]
    _emit(rows, fmt, _STEP_COLUMNS, f"{board} steps")


@app.command("trends")
def trends_command(
    bucket: Annotated[str, typer.Option("--bucket", "-b", help="5m, 15m, 1h, 6h, 1d, 1w.")] = "1h",
    workflow: WorkflowOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    version: VersionOpt = None, user: UserOpt = None, wtype: TypeOpt = None,
    status: StatusOpt = None, fmt: FormatOpt = "table", db: DbOption = None,
) -> None:
    """Show runs per time bucket (by end time): counts by status, p50/p95 durations."""
    _check_format(fmt)
    series.parse_bucket(bucket)
    f = _filters(workflow, since, until, version, user, wtype, status)
    with opened_store(db) as store:
        rows = series.trends(store, f, bucket)
    _emit(rows, fmt, None, f"runs per {bucket}")


@app.command("export")
def export_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    what: Annotated[str, typer.Option("--what", help="runs or steps.")] = "runs",
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or json.")] = "csv",
    workflow: WorkflowOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    version: VersionOpt = None, user: UserOpt = None, wtype: TypeOpt = None,
    status: StatusOpt = None, db: DbOption = None,
) -> None:
    """Export runs or step attempts as CSV (header row) or JSON (an array of objects)."""
    try:
        exports.check_what(what)
        exports.check_format(fmt)
    except AnalyticsError as exc:
        raise CommandLineError(f"--what/--format: {exc.message}", hint=exc.hint) from None
    f = _filters(workflow, since, until, version, user, wtype, status)
    with opened_store(db) as store:
        count = exports.export(store, output, what=what, fmt=fmt, filters=f)
    _stdout().print(f"wrote {count} {what} to {output}")
