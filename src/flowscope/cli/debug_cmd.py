"""``flowscope debug``: run a workflow under the step debugger, with a pdb-like prompt.

The run executes in a background thread; this (main) thread waits for its stops and, at
each one, shows where the run is and reads commands from stdin until one lets the run go
on. Input may be a terminal or a pipe (a scripted session): off a terminal each command
read is echoed after the prompt, so the output reads like the session it was.

End of input (Ctrl-D, or the end of a piped script) at the prompt cancels the run, like
``quit``; it never lets the run go on by itself. Exit code: 0 when the run completed, 1
when it failed or was cancelled, 2 for bad input (file, inputs, ``--break``).

The prompt's parts: :mod:`~flowscope.cli.debug_parse` (what is typed),
:mod:`~flowscope.cli.debug_commands` (what each command does),
:mod:`~flowscope.cli.debug_render` (what is shown), :mod:`~flowscope.cli.debug_repl`
(the loop).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from flowscope.cli.app import EXIT_OK, EXIT_RUN_FAILED, app
from flowscope.cli.app import stdout_console as _stdout
from flowscope.cli.debug_commands import Repl
from flowscope.cli.debug_parse import check_steps, parse_break_flag, step_ids
from flowscope.cli.debug_render import show_end
from flowscope.cli.debug_repl import LogFeed, drive
from flowscope.cli.options import DbOption, build_inputs
from flowscope.cli.run import EXIT_INTERRUPTED, default_user, resume_hint
from flowscope.cli.store import engine_on, opened_store
from flowscope.debugger import Debugger
from flowscope.engine.runner import Engine
from flowscope.engine.status import RunStatus
from flowscope.model import load_workflow


@app.command("debug")
def debug_command(
    file: Annotated[Path, typer.Argument(help="Workflow file (.yaml, .yml or .json).")],
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", metavar="KEY=VALUE",
        help="A run input, typed by the workflow's declared input type (repeatable).",
    )] = None,
    input_file: Annotated[Path | None, typer.Option(
        "--input-file", help="JSON or YAML file of inputs (--input values win).",
    )] = None,
    db: DbOption = None,
    breaks: Annotated[list[str] | None, typer.Option(
        "--break", "-b", metavar="STEP[:CONDITION]",
        help="A breakpoint (repeatable); also 'A -> B', 'entry', 'error [CATEGORY]'.",
    )] = None,
    stop_on_entry: Annotated[bool, typer.Option(
        "--stop-on-entry", help="Stop before the run's first step.",
    )] = False,
    stop_on_error: Annotated[bool, typer.Option(
        "--stop-on-error", help="Stop at a failing step, before the run is marked failed.",
    )] = False,
) -> None:
    """Run a workflow under the step debugger, with a (flowscope) prompt at each stop.

    Commands may be piped in; end of input cancels the run (as quit does). Exit code 0
    when the run completed, 1 when it failed or was cancelled, 2 for bad input.
    """
    workflow = load_workflow(file)
    values = build_inputs(workflow, inputs or [], input_file)
    known = step_ids(workflow)
    specs = [parse_break_flag(text) for text in breaks or []]
    for spec in specs:
        check_steps(spec, known)
    user = default_user() or "flowscope"
    console = _stdout()
    with opened_store(db) as store:
        feed = LogFeed()
        with engine_on(store, [feed]) as engine:
            debugger = Debugger(engine)
            try:
                session = debugger.open_session(user=user, stop_on_entry=stop_on_entry,
                                                stop_on_error=stop_on_error)
                for spec in specs:
                    session.set_breakpoint(spec.step_id, **spec.kwargs())
                execution = engine.prepare(workflow, values, user=user)
                debugger.attach(session.id, execution.run_id, user=user)
                repl = Repl(session, console, workflow, execution.run_id)
                with terminations(engine):
                    result = drive(repl, engine, execution.execute, feed)
            finally:
                debugger.close()
        show_end(console, store, result)
        if result.status is RunStatus.INTERRUPTED:
            console.print(f"resume it with: {resume_hint(result.id, db)}", soft_wrap=True,
                          markup=False)
            raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_RUN_FAILED)


@contextmanager
def terminations(engine: Engine) -> Iterator[None]:
    """SIGTERM interrupts the debugged run resumably (Ctrl-C pauses it, as in pdb)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(_signum: int, _frame: object) -> None:
        for run_id in engine.live_roots():
            engine.interrupt(run_id, "sigterm")

    old = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
