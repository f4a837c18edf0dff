"""CSV and JSON exports of runs, step attempts and query results, streamed.

Rows are streamed from the store (on SQL in batches: a server-side cursor on PostgreSQL,
``fetchmany`` on SQLite) and written as they arrive, so a million rows never sit in
memory together.

Shapes:

- CSV: a header row, then one row per record. ``None`` is an empty field, timestamps
  are ISO-8601 UTC (``2026-01-01T12:00:00.000000+00:00``), mappings (``tags``) are
  compact JSON text.
- JSON: one JSON array of objects (``[{...}, {...}]``), the same keys as the CSV
  header; timestamps as ISO-8601 strings, numbers as numbers, ``None`` as ``null``.

Runs are ordered by ``created_at`` then id, step attempts in the order recorded.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from flowscope.analytics.filters import Filters
from flowscope.analytics.source import scope, source_of
from flowscope.errors import AnalyticsError
from flowscope.store.schema import dumps_json

RUN_COLUMNS = (
    "id", "workflow", "version", "status", "user_id", "workflow_type", "tags",
    "created_at", "started_at", "ended_at", "duration_ms", "error_category", "failed_step",
    "parent_run_id", "root_run_id",
)
"""The columns of a run export, in order."""

STEP_COLUMNS = (
    "id", "run_id", "workflow", "version", "user_id", "workflow_type", "step_id", "attempt",
    "status", "error_type", "error_category", "error_message", "ready_at", "started_at",
    "ended_at", "duration_ms", "queue_wait_ms", "cpu_time_ms", "peak_memory_bytes",
    "child_run_id", "reused_from_run_id", "skip_reason", "rewound",
)
"""The columns of a step-attempt export, in order."""

Format = Literal["csv", "json"]
Destination = str | Path | IO[str]


def check_what(what: str) -> str:
    """Return ``runs`` or ``steps``.

    Raises:
        AnalyticsError: Anything else.
    """
    if what not in ("runs", "steps"):
        raise AnalyticsError(f"cannot export {what!r}", hint="export what='runs' or 'steps'")
    return what


def check_format(fmt: str) -> str:
    """Return ``csv`` or ``json``.

    Raises:
        AnalyticsError: Anything else.
    """
    if fmt not in ("csv", "json"):
        raise AnalyticsError(f"unknown export format {fmt!r}", hint="use 'csv' or 'json'")
    return fmt


def stream_records(store: Any, what: str, filters: Filters) -> tuple[Sequence[str],
                                                                      Iterator[dict[str, Any]]]:
    """Return the columns and a lazy iterator over the runs or step attempts to export."""
    source = source_of(store)
    if check_what(what) == "runs":
        return RUN_COLUMNS, source.records(scope(filters, "runs", "created_at"), RUN_COLUMNS)
    return STEP_COLUMNS, source.records(scope(filters, "steps", "started_at"), STEP_COLUMNS)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, Mapping | list):
        return dumps_json(value)
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


@contextmanager
def _opened(destination: Destination) -> Iterator[IO[str]]:
    if isinstance(destination, str | Path):
        path = Path(destination)
        try:
            handle = path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise AnalyticsError(f"cannot write {str(path)!r}: {exc.strerror}",
                                 hint="choose a writable file path") from None
        with handle:
            yield handle
    else:
        yield destination


def write_rows(
    rows: Iterable[Mapping[str, Any]], destination: Destination, fmt: str,
    columns: Sequence[str] | None = None,
) -> int:
    """Write ``rows`` as CSV or JSON (see the module docstring); return how many.

    Args:
        rows: Records (an iterator is consumed lazily).
        destination: A file path or an open text file.
        fmt: ``csv`` or ``json``.
        columns: The keys, in order (default: the first row's keys).

    Raises:
        AnalyticsError: Unknown format or unwritable destination.
    """
    check_format(fmt)
    iterator = iter(rows)
    first = next(iterator, None)
    keys = list(columns) if columns is not None else list(first or {})
    count = 0
    with _opened(destination) as out:
        if fmt == "csv":
            writer = csv.writer(out)
            writer.writerow(keys)
            if first is not None:
                writer.writerow([_text(first.get(k)) for k in keys])
                count = 1
                for row in iterator:
                    writer.writerow([_text(row.get(k)) for k in keys])
                    count += 1
        else:
            out.write("[")
            if first is not None:
                out.write("\n" + json.dumps({k: _plain(first.get(k)) for k in keys},
                                            default=str))
                count = 1
                for row in iterator:
                    out.write(",\n" + json.dumps({k: _plain(row.get(k)) for k in keys},
                                                 default=str))
                    count += 1
            out.write("\n]\n")
    return count


def export(store: Any, destination: Destination, *, what: str = "runs", fmt: str = "csv",
           filters: Filters | None = None) -> int:
    """Export the runs or step attempts matching ``filters``; return the rows written.

    Raises:
        AnalyticsError: Unknown ``what`` or format, a memory store, an unwritable file.
    """
    check_format(fmt)
    columns, rows = stream_records(store, what, filters or Filters())
    return write_rows(rows, destination, fmt, columns)
