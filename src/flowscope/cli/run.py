"""``flowscope run``, ``validate``, ``resume`` and ``cancel``."""

from __future__ import annotations

import getpass
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from flowscope.cli.app import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED, app, print_error
from flowscope.cli.app import stdout_console as _stdout
from flowscope.cli.options import DbOption, JsonOption, build_inputs, parse_pairs
from flowscope.cli.progress import StepProgress
from flowscope.cli.render import (
    attempt_dict,
    error_line,
    format_ms,
    status_text,
    step_summary_table,
    to_json,
)
from flowscope.cli.store import engine_on, opened_store
from flowscope.engine.hooks import EngineHooks
from flowscope.engine.journal import Journal
from flowscope.engine.runner import Engine, RunResult
from flowscope.engine.status import RunStatus
from flowscope.errors import FlowscopeError, LeaseLostError, RunOwnedError
from flowscope.model import load_workflow

#: Environment variable naming the user runs are recorded under.
USER_ENV = "FLOWSCOPE_USER"

RunArg = Annotated[str, typer.Argument(metavar="RUN", help="Run id or unique id prefix.")]


def default_user() -> str | None:
    """Return ``$FLOWSCOPE_USER``, else the login name (``None`` if it cannot be found)."""
    env = os.environ.get(USER_ENV, "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return None


@app.command("run")
def run_command(
    file: Annotated[Path, typer.Argument(help="Workflow file (.yaml, .yml or .json).")],
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", metavar="KEY=VALUE",
        help="A run input, typed by the workflow's declared input type (repeatable).",
    )] = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input-file", help="JSON or YAML file of inputs (--input values win).",
    )] = None,
    db: DbOption = None,
    user: Annotated[str | None, typer.Option(
        "--user", help=f"Who runs it (default: ${USER_ENV} or the login name).",
    )] = None,
    tags: Annotated[list[str] | None, typer.Option(
        "--tag", "-t", metavar="KEY=VALUE", help="A label for the run (repeatable).",
    )] = None,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", min=1, help="Steps that may run at once (default 8).",
    )] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No live progress and no step table.",
    )] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a workflow file to its end, showing each step as it goes."""
    workflow = load_workflow(file)
    values = build_inputs(workflow, inputs or [], input_file)
    tag_values = parse_pairs(tags or [], "--tag")
    who = user or default_user()
    _run_on_store(
        db, lambda engine: engine.run(workflow, values, user=who, tags=tag_values,
                                      max_concurrency=concurrency),
        quiet=quiet, as_json=as_json,
    )


def _run_on_store(db: str | None, action: Callable[[Engine], RunResult], *,
                  quiet: bool = False, as_json: bool = False) -> None:
    """Open the store, run ``action`` on an engine with progress shown, print the end.

    The first Ctrl-C (or SIGTERM) interrupts the run resumably: no new step starts,
    running sync steps finish and commit, and the command prints how to resume. A second
    Ctrl-C exits at once (the run stays resumable from its journal).
    """
    console = _stdout()
    with opened_store(db) as store:
        progress = StepProgress(console, live=console.is_terminal)
        hooks: list[EngineHooks] = [] if quiet or as_json else [progress]
        with engine_on(store, hooks) as engine, interrupts(engine, db):
            try:
                if hooks:
                    with progress:
                        result = action(engine)
                else:
                    result = action(engine)
            except RunOwnedError as exc:
                print_error(str(exc))
                raise typer.Exit(EXIT_RUN_FAILED) from None
            except LeaseLostError as exc:
                print_error(str(exc))
                raise typer.Exit(EXIT_RUN_FAILED) from None
        show_result(console, store, result, quiet=quiet, as_json=as_json)
        if result.status is RunStatus.INTERRUPTED:
            console.print(f"resume it with: [bold]{escape(resume_hint(result.id, db))}[/]",
                          soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_RUN_FAILED)


EXIT_INTERRUPTED = 130
"""The exit code after Ctrl-C (128 + SIGINT), as shells expect."""


def resume_hint(run_id: str, db: str | None) -> str:
    """The exact command that resumes ``run_id``."""
    where = f" --db {shlex.quote(db)}" if db else ""
    return f"flowscope resume {run_id}{where}"


@contextmanager
def interrupts(engine: Engine, db: str | None) -> Iterator[None]:
    """Turn the first SIGINT/SIGTERM into a resumable interrupt; a second SIGINT exits."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    seen: list[int] = []

    def handle(signum: int, _frame: object) -> None:
        roots = engine.live_roots()
        if seen and signum == signal.SIGINT:
            for run_id in roots:
                sys.stderr.write(f"\nexiting now; the run stays resumable: "
                                 f"{resume_hint(run_id, db)}\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        seen.append(signum)
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        for run_id in roots:
            sys.stderr.write(f"\n{name}: stopping run {run_id} (running steps finish; "
                             "press Ctrl-C again to exit at once)\n")
            engine.interrupt(run_id, "sigint" if signum == signal.SIGINT else "sigterm")
        sys.stderr.flush()

    old_int = signal.signal(signal.SIGINT, handle)
    old_term = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def show_result(console: Console, store: Journal, result: RunResult, *, quiet: bool = False,
                as_json: bool = False) -> None:
    """Print how a run ended: its steps, id, status, outputs or error."""
    attempts = store.get_steps(result.id)
    if as_json:
        payload: dict[str, Any] = {
            "run_id": result.id,
            "workflow": result.workflow,
            "status": result.status.value,
            "outputs": result.outputs,
            "error": result.error.to_dict() if result.error else None,
            "failed_step": result.failed_step,
            "duration_ms": result.duration_ms,
            "steps": [attempt_dict(a) for a in attempts],
        }
        console.print(json.dumps(payload, indent=2, default=str), markup=False,
                      highlight=False, soft_wrap=True)
        return
    if not quiet:
        console.print(step_summary_table(attempts))
    console.print(
        f"run [bold]{result.id}[/] ({escape(result.workflow)}) ",
        status_text(result.status.value), f" in {format_ms(result.duration_ms)}",
        sep="", soft_wrap=True,
    )
    if result.outputs is not None:
        console.print("outputs: " + escape(to_json(result.outputs)), soft_wrap=True)
    if result.error is not None:
        where = f"step {result.failed_step}: " if result.failed_step else ""
        console.print(f"[red]error:[/] {escape(where + error_line(result.error))}",
                      soft_wrap=True)


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Workflow files to check.")],
) -> None:
    """Check workflow files without running them."""
    console = _stdout()
    bad = 0
    for file in files:
        try:
            workflow = load_workflow(file)
        except FlowscopeError as exc:
            print_error(str(exc))
            bad += 1
            continue
        console.print(f"ok: {escape(workflow.name)} ({len(workflow.steps)} steps)",
                      soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT if bad else EXIT_OK)


@app.command("resume")
def resume_command(
    run_id: RunArg,
    db: DbOption = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Take the run over even if its owner's lease is live (the owner "
        "is stopped: its writes are refused from then on).",
    )] = False,
    on_crash: Annotated[str | None, typer.Option(
        "--on-crash", metavar="rerun|fail",
        help="For external steps that started before a crash and never committed: run "
        "them again with the same idempotency key, or fail them (overrides `on_crash`).",
    )] = None,
    as_json: JsonOption = False,
) -> None:
    """Resume an interrupted run, or one whose owner died, from its journal.

    Steps with a committed result are not run again. A run another process is executing
    is refused (its owner holds a lease) unless --force.
    """
    _run_on_store(db, lambda engine: engine.resume(run_id, force=force, on_crash=on_crash),
                  as_json=as_json)


#: How long ``flowscope cancel`` waits for a live owner to carry the cancel out.
CANCEL_WAIT = 10.0


@app.command("cancel")
def cancel_command(run_id: RunArg, db: DbOption = None, user: Annotated[str | None, typer.Option(
        "--user", help=f"Who cancels it (default: ${USER_ENV} or the login name).",
)] = None) -> None:
    """Cancel an unfinished run, wherever it executes (its owner stops it)."""
    with opened_store(db) as store, engine_on(store) as engine:
        full_id = store.get_run(run_id).id
        outcome = engine.cancel(full_id, user=user or default_user())
        status = store.get_run(full_id).status
        deadline = time.monotonic() + CANCEL_WAIT
        while outcome == "requested" and not status.is_finished \
                and time.monotonic() < deadline:
            time.sleep(0.1)
            status = store.get_run(full_id).status
    console = _stdout()
    if outcome == "requested" and not status.is_finished:
        console.print(f"run {full_id}: cancel requested; its owner stops it shortly",
                      soft_wrap=True)
        return
    console.print(f"run {full_id} ", status_text(status.value), sep="", soft_wrap=True)
