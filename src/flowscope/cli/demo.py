"""``flowscope demo``: run the bundled example workflows and sum up what happened."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from flowscope.cli.app import app
from flowscope.cli.app import stdout_console as _stdout
from flowscope.cli.options import CommandLineError, DbOption, db_url
from flowscope.cli.progress import StepProgress
from flowscope.cli.render import (
    error_line,
    format_ms,
    preview,
    short_id,
    status_text,
    summarise_steps,
)
from flowscope.cli.run import default_user
from flowscope.cli.store import engine_on, opened_store
from flowscope.engine.journal import Journal
from flowscope.engine.runner import RunResult
from flowscope.model import load_workflow

#: The file in an examples folder that lists what the demo runs.
MANIFEST = "demo.yaml"
_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class DemoRun:
    """One run the demo makes: a workflow file, its inputs, what it is expected to do."""

    file: Path
    inputs: Mapping[str, Any] = field(default_factory=dict)
    expect: str = "completed"
    """``completed`` or ``failed`` (a run that fails on purpose, to show diagnosis)."""
    note: str = ""


def read_manifest(folder: Path) -> list[DemoRun]:
    """Return the runs listed in ``folder/demo.yaml``, or one per top-level workflow file.

    Without a manifest, every workflow file in the folder runs once with its default
    inputs, except files that other files use as sub-workflows.

    Raises:
        CommandLineError: The folder is missing or the manifest is malformed.
    """
    if not folder.is_dir():
        raise CommandLineError(
            f"examples folder {str(folder)!r} not found",
            hint="pass the folder holding the example workflows, e.g. flowscope demo examples",
        )
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return _discover(folder)
    try:
        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CommandLineError(f"cannot read {manifest}: {' '.join(str(exc).split())}",
                               hint="fix the file or remove it") from None
    entries = data.get("runs") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise CommandLineError(f"{manifest} must have a non-empty `runs:` list",
                               hint="list entries like `- file: order.yaml`")
    runs: list[DemoRun] = []
    for index, entry in enumerate(entries):
        where = f"{manifest}: runs[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("file"), str):
            raise CommandLineError(f"{where} needs a `file:`",
                                   hint="write e.g. `- file: order.yaml`")
        inputs = entry.get("inputs") or {}
        expect = entry.get("expect", "completed")
        if not isinstance(inputs, Mapping) or expect not in ("completed", "failed"):
            raise CommandLineError(
                f"{where}: `inputs` must be a mapping and `expect` completed or failed",
                hint="fix the entry",
            )
        runs.append(DemoRun(file=folder / entry["file"], inputs=dict(inputs),
                            expect=expect, note=str(entry.get("note") or "")))
    return runs


def _discover(folder: Path) -> list[DemoRun]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES and p.is_file()
                   and p.name != MANIFEST)
    used_as_child: set[str] = set()
    for path in files:
        workflow = load_workflow(path)
        used_as_child.update(w.source for w in workflow.subworkflows.values() if w.source)
    return [DemoRun(file=p) for p in files if str(p.resolve()) not in used_as_child]


@dataclass(slots=True)
class DemoOutcome:
    """What one demo run did."""

    run: DemoRun
    result: RunResult
    counts: dict[str, int]
    failing_step: str | None = None
    failing_error: str = ""


def _outcome(store: Journal, run: DemoRun, result: RunResult) -> DemoOutcome:
    rows = summarise_steps(store.get_steps(result.id))
    counts = {
        "completed": sum(r["status"] == "completed" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "skipped": sum(r["status"] == "skipped" for r in rows),
        "retried": sum(r["attempts"] > 1 for r in rows),
    }
    failing = next((r for r in rows if r["status"] == "failed"), None)
    return DemoOutcome(
        run=run, result=result, counts=counts,
        failing_step=result.failed_step or (failing["step"] if failing else None),
        failing_error=error_line(result.error) or (failing["error"] if failing else ""),
    )


def summary_table(outcomes: list[DemoOutcome]) -> Table:
    """One row per demo run: workflow, status, step counts, duration."""
    table = Table(title="demo summary", title_justify="left")
    table.add_column("run", style="bold")
    table.add_column("workflow")
    table.add_column("inputs")
    table.add_column("status")
    for name in ("completed", "failed", "skipped", "retried"):
        table.add_column(name, justify="right")
    table.add_column("duration", justify="right")
    for out in outcomes:
        given = preview(", ".join(f"{k}={v}" for k, v in out.run.inputs.items()), 40) \
            or "defaults"
        status = status_text(out.result.status.value)
        if out.run.expect == "failed" and not out.result.ok:
            status.append(" (on purpose)", style="dim")
        table.add_row(
            short_id(out.result.id), escape(out.result.workflow), escape(given), status,
            *(str(out.counts[k]) for k in ("completed", "failed", "skipped", "retried")),
            format_ms(out.result.duration_ms),
        )
    return table


def print_failures(console: Console, outcomes: list[DemoOutcome]) -> None:
    """For each run that did not complete: the failing step and its error line."""
    for out in outcomes:
        if out.result.ok:
            continue
        purpose = " (expected: " + (out.run.note or "it fails on purpose") + ")" \
            if out.run.expect == "failed" else " (NOT expected)"
        console.print(
            f"[red]{escape(out.result.workflow)}[/] run {short_id(out.result.id)} "
            f"{out.result.status.value}{escape(purpose)}", soft_wrap=True,
        )
        if out.failing_step:
            console.print(f"  failing step: [bold]{escape(out.failing_step)}[/]", soft_wrap=True)
        if out.failing_error:
            console.print(f"  error: {escape(out.failing_error)}", soft_wrap=True)
        console.print(f"  look closer: flowscope show {short_id(out.result.id)}", soft_wrap=True)


@app.command("demo")
def demo_command(
    folder: Annotated[Path, typer.Argument(metavar="DIR",
                                           help="Folder of example workflows.")] = Path("examples"),
    db: DbOption = None,
) -> None:
    """Run every bundled example workflow and sum up what happened."""
    runs = read_manifest(folder)
    workflows = {run.file: load_workflow(run.file) for run in runs}  # fail before running any
    console = _stdout()
    outcomes: list[DemoOutcome] = []
    with opened_store(db) as store:
        for run in runs:
            workflow = workflows[run.file]
            console.print(Rule(f"{workflow.name}  ({run.file.name})", align="left"))
            if run.note:
                console.print(f"[dim]{escape(run.note)}[/]", soft_wrap=True)
            progress = StepProgress(console, live=console.is_terminal)
            with engine_on(store, [progress]) as engine, progress:
                result = engine.run(workflow, dict(run.inputs), user=default_user(),
                                    tags={"type": "demo"})
            console.print(f"run {result.id} ", status_text(result.status.value),
                          f" in {format_ms(result.duration_ms)}", sep="", soft_wrap=True)
            outcomes.append(_outcome(store, run, result))
    console.print()
    console.print(summary_table(outcomes))
    print_failures(console, outcomes)
    unexpected = [o for o in outcomes if (o.result.ok) != (o.run.expect == "completed")]
    done = sum(o.result.ok for o in outcomes)
    console.print(
        f"{len(outcomes)} runs: {done} completed, {len(outcomes) - done} did not"
        + (f"; {len(unexpected)} did not do what the demo expected" if unexpected else
           "; every run did what the demo expected")
        + f". Runs are stored in {escape(db_url(db))}: try `flowscope runs"
        + (f" --db {escape(db)}" if db else "") + "`.",
        soft_wrap=True,
    )
