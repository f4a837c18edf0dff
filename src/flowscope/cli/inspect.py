"""``flowscope runs`` and ``flowscope show``: look at recorded runs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from flowscope.cli.app import app
from flowscope.cli.app import stdout_console as _stdout
from flowscope.cli.options import CommandLineError, DbOption, JsonOption, parse_since
from flowscope.cli.render import (
    attempt_dict,
    attempts_table,
    event_dict,
    events_table,
    run_dict,
    run_header,
    runs_table,
)
from flowscope.cli.store import opened_store
from flowscope.engine.status import RunStatus


def _status(text: str | None) -> RunStatus | None:
    if text is None:
        return None
    try:
        return RunStatus(text.strip().lower())
    except ValueError:
        raise CommandLineError(
            f"--status {text!r} is not a run status",
            hint="use one of " + ", ".join(s.value for s in RunStatus),
        ) from None


@app.command("runs")
def runs_command(
    workflow: Annotated[str | None, typer.Option("--workflow", "-w",
                                                 help="Only runs of this workflow.")] = None,
    status: Annotated[str | None, typer.Option(
        "--status", "-s", help="Only runs with this status (completed, failed, ...).",
    )] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only runs by this user.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only runs created since: 7d, 12h, 30m or a date like 2026-11-01.",
    )] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    include_children: Annotated[bool, typer.Option(
        "--all", help="Include sub-workflow runs.",
    )] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recent runs, newest first."""
    wanted = _status(status)
    since_at = parse_since(since) if since is not None else None
    with opened_store(db) as store:
        runs = store.list_runs(workflow=workflow, status=wanted, user=user, since=since_at,
                               limit=limit, roots_only=not include_children)
    console = _stdout()
    if as_json:
        console.print(json.dumps([run_dict(r) for r in runs], indent=2, default=str),
                      markup=False, highlight=False, soft_wrap=True)
        return
    if not runs:
        console.print("no runs match (try --all, or a wider --since)")
        return
    console.print(runs_table(runs))


@app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id or unique id prefix.")],
    db: DbOption = None,
    as_json: JsonOption = False,
    events: Annotated[bool, typer.Option("--events", help="Also list the run's events.")] = False,
) -> None:
    """Show one run: its facts, every step attempt, its child runs."""
    with opened_store(db) as store:
        run = store.get_run(run_id)
        attempts = store.get_steps(run.id)
        children = store.list_runs(parent_run_id=run.id, limit=None)
        run_events = store.get_events(run.id) if events else []
    console = _stdout()
    if as_json:
        payload: dict[str, Any] = {
            **run_dict(run),
            "steps": [attempt_dict(a) for a in attempts],
            "children": [run_dict(c) for c in children],
        }
        if events:
            payload["events"] = [event_dict(e) for e in run_events]
        console.print(json.dumps(payload, indent=2, default=str), markup=False,
                      highlight=False, soft_wrap=True)
        return
    console.print(run_header(run))
    console.print()
    if attempts:
        console.print(attempts_table(attempts))
    else:
        console.print("no step has run yet")
    if children:
        console.print(runs_table(children, title="child runs"))
    if events:
        console.print(events_table(run_events))
