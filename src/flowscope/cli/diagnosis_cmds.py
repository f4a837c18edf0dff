"""``flowscope why``, ``flowscope errors`` and ``flowscope report-error``: failure diagnosis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from flowscope.cli.app import app
from flowscope.cli.app import stdout_console as _stdout
from flowscope.cli.options import CommandLineError, DbOption, JsonOption, parse_since
from flowscope.cli.store import opened_store
from flowscope.compat import Diagnoser
from flowscope.diagnosis import Diagnosis
from flowscope.diagnosis.failures import source_for
from flowscope.diagnosis.similar import error_groups


def _where(ref: dict[str, Any] | None) -> str:
    if not ref:
        return "-"
    return f"{ref.get('workflow', '')}.{ref.get('step_id')} (run {ref.get('run_id')})"


def _print_diagnosis(d: Diagnosis) -> None:
    console = _stdout()
    console.print(f"[bold]Run[/] {escape(str(d.run_id))}")
    console.print(f"[bold red]Root cause:[/] {escape(_where(d.root_cause))}")
    console.print(f"  [bold]{escape(d.error_type)}[/] ({escape(d.category)}): "
                  f"{escape(d.message)}")
    console.print(f"  fingerprint {escape(d.fingerprint)}")
    for other in d.other_roots:
        console.print(f"[yellow]Independent failure:[/] {escape(_where(other))}")
    if d.cascade:
        table = Table(title="Cascade", title_justify="left")
        for col in ("run", "step", "status", "reason", "caused by"):
            table.add_column(col)
        for c in d.cascade:
            table.add_row(str(c["run_id"]), str(c["step_id"]), str(c["status"]),
                          str(c.get("reason")), f"{c.get('cause_step_id')}"
                          f" (run {c.get('cause_run_id')})")
        console.print(table)
    if d.similar:
        table = Table(title="Similar errors", title_justify="left")
        for col in ("match", "where", "count", "last seen", "versions", "resolved"):
            table.add_column(col)
        for s in d.similar:
            resolved = "no"
            if s["resolved"]:
                changed = "version changed" if s["version_changed"] else "same version"
                resolved = f"yes, run {s['resolved_by']['run_id']} ({changed})"
            table.add_row(f"{s['match']} {s['similarity']:.2f}",
                          f"{s['workflow']}.{s['step_id']}", str(s["count"]),
                          str(s["last_seen"]), ", ".join(s["versions"]), resolved)
        console.print(table)
    else:
        console.print("No similar errors in past runs.")
    console.print("[bold]Suggestions:[/]")
    for tip in d.suggestions:
        console.print(f"  • {escape(tip.title)}")
        console.print(f"    why: {escape(tip.why)}")
        if tip.action:
            console.print(f"    try: {escape(tip.action)}")


@app.command("why")
def why_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A failed run's id (or prefix).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Explain why a run failed: root cause, cascade, similar errors, suggested fixes."""
    with opened_store(db) as store:
        diagnosis = Diagnoser(store).diagnose_error(run_id)
    if as_json:
        _stdout().print_json(json.dumps(diagnosis.to_dict(), default=str))
        return
    _print_diagnosis(diagnosis)


@app.command("errors")
def errors_command(
    since: Annotated[str, typer.Option(
        "--since", help="Failures since: 7d, 12h, 30m or a date like 2026-11-01.",
    )] = "7d",
    workflow: Annotated[str | None, typer.Option("--workflow", "-w",
                                                 help="Only this workflow.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List failures grouped by fingerprint, most frequent first."""
    since_at = parse_since(since)
    with opened_store(db) as store:
        groups = error_groups(source_for(store), {"since": since_at, "workflow": workflow},
                              limit=limit)
    if as_json:
        _stdout().print_json(json.dumps(groups, default=str))
        return
    if not groups:
        _stdout().print(f"No failures since {since_at.isoformat(timespec='seconds')}.")
        return
    table = Table()
    for col in ("count", "fingerprint", "where", "category", "error", "last seen", "resolved"):
        table.add_column(col)
    for g in groups:
        table.add_row(str(g["count"]), g["fingerprint"], f"{g['workflow']}.{g['step_id']}",
                      g["category"], escape(f"{g['error_type']}: {g['message']}"[:80]),
                      str(g["last_seen"])[:19], "yes" if g["resolved"] else "no")
    _stdout().print(table)


@app.command("report-error")
def report_error_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A failed run's id (or prefix).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, html or json.")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write to this file.")] = None,
    db: DbOption = None,
) -> None:
    """Write the error report of a failed run (Markdown, HTML or JSON)."""
    if fmt not in ("md", "markdown", "html", "json"):
        raise CommandLineError(f"--format {fmt!r} is not a report format",
                               hint="use md, html or json")
    with opened_store(db) as store:
        text = Diagnoser(store).generate_error_report(run_id, format=fmt)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandLineError(f"cannot write {str(output)!r}: {exc.strerror or exc}",
                               hint="check the --output path") from None
    _stdout().print(f"Wrote {escape(str(output))}")
