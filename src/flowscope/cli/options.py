"""Options shared by commands, and parsing of the values people type on a command line."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from flowscope.errors import FlowscopeError, InputError
from flowscope.model.inputs import coerce_cli_input
from flowscope.model.values import is_duration, parse_duration
from flowscope.model.workflow import Workflow

#: Environment variable naming the store when ``--db`` is not given.
DB_ENV = "FLOWSCOPE_DB"
#: The store used when neither ``--db`` nor ``FLOWSCOPE_DB`` is given.
DEFAULT_DB = "sqlite:///.flowscope/flowscope.db"

#: ``--db``, taken by every command that reads or writes runs.
DbOption = Annotated[str | None, typer.Option(
    "--db", metavar="URL",
    help=f"Store URL or SQLite file path (default: ${DB_ENV} or {DEFAULT_DB}).",
)]
#: ``--json``: machine-readable output instead of tables.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


class CommandLineError(FlowscopeError):
    """A value typed on the command line cannot be understood."""


def db_url(db: str | None) -> str:
    """Return the store URL to use: ``--db``, else ``$FLOWSCOPE_DB``, else the default file."""
    if db is not None and db.strip():
        return db.strip()
    return os.environ.get(DB_ENV, "").strip() or DEFAULT_DB


def parse_pairs(values: Sequence[str], option: str) -> dict[str, str]:
    """Split ``key=value`` arguments (the value may itself contain ``=``)."""
    out: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandLineError(
                f"{option} {text!r} is not key=value",
                hint=f"write e.g. {option} name=value",
            )
        out[key] = value
    return out


def read_input_file(path: Path) -> dict[str, Any]:
    """Read run inputs from a JSON or YAML file holding one mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandLineError(
            f"input file {str(path)!r} not found", hint="check the --input-file path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandLineError(f"cannot read input file {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise CommandLineError(
            f"input file {str(path)!r} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}"
            f": {detail}",
            hint="fix the file's syntax",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CommandLineError(
            f"input file {str(path)!r} must hold a mapping of input name to value",
            hint='write e.g. {"order_id": "A-1"}',
        )
    return {str(k): v for k, v in data.items()}


def build_inputs(
    workflow: Workflow, pairs: Sequence[str], input_file: Path | None
) -> dict[str, Any]:
    """Merge ``--input-file`` and ``--input`` values, typed by the workflow's declared inputs.

    ``--input`` wins over the file. A name the workflow does not declare is passed on as
    text, so that input validation reports it together with every other problem.
    """
    inputs = read_input_file(input_file) if input_file is not None else {}
    types = {spec.name: spec.type for spec in workflow.inputs}
    for key, text in parse_pairs(pairs, "--input").items():
        if key not in types:
            inputs[key] = text
            continue
        try:
            inputs[key] = coerce_cli_input(types[key], text)
        except InputError as exc:
            raise InputError(f"--input {key}: {exc.message}", hint=exc.hint) from None
    return inputs


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """Turn ``7d``, ``12h``, ``30m``, ``2w``, ``2026-11-01`` or an ISO time into UTC.

    A relative value counts back from ``now``; a date means its midnight in UTC; an ISO
    time without a zone is read as UTC.

    Raises:
        CommandLineError: The text is none of these.
    """
    if is_duration(text):
        span = parse_duration(text, "--since", unit_required=True, error=CommandLineError)
        return (now or datetime.now(UTC)) - span
    stripped = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", stripped):
            day = date.fromisoformat(stripped)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    raise CommandLineError(
        f"--since {text!r} is neither a duration nor a date",
        hint="write e.g. 7d, 12h, 30m or 2026-11-01",
    )
