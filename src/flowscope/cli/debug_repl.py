"""The console debugger's loop: run in the background, prompt at each stop.

:func:`drive` runs the debugged run in a background thread and, at each stop, feeds the
prompt (:class:`~flowscope.cli.debug_commands.Repl`) one line at a time from a terminal
or a pipe. Like ``pdb`` over ``bdb``, none of this decides whether a run stops: the
debugger core does.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
from collections.abc import Callable
from typing import IO, Any, TextIO

from rich.text import Text

from flowscope.background import InThread, start_in_thread
from flowscope.cli.debug_commands import Outcome, Repl
from flowscope.cli.debug_render import log_line
from flowscope.debugger import Session, Stop, StopTimeoutError
from flowscope.engine import events as ev
from flowscope.engine.hooks import EngineHooks
from flowscope.engine.runner import Engine, RunResult
from flowscope.errors import FlowscopeError

PROMPT = "(flowscope) "


class LineReader:
    """Reads prompt lines from a terminal (with line editing) or a pipe (echoed).

    Args:
        stream: Where commands come from (usually ``sys.stdin``).
        out: Where the prompt (and, off a terminal, the echo of each command) goes.
    """

    def __init__(self, stream: TextIO, out: IO[str]) -> None:
        self.stream = stream
        self.out = out
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        if self.tty:
            with contextlib.suppress(ImportError):  # line editing and history, where present
                import readline  # noqa: F401

    def read(self) -> str | None:
        """Return the next command line; None at the end of input (Ctrl-D)."""
        if self.tty:
            try:
                return input(PROMPT)
            except EOFError:
                self.out.write("\n")
                return None
            except KeyboardInterrupt:  # as in pdb: Ctrl-C at the prompt drops the line
                self.out.write("^C\n")
                return ""
        self.out.write(PROMPT)
        self.out.flush()
        line = self.stream.readline()
        if not line:
            self.out.write("\n")
            return None
        line = line.rstrip("\r\n")
        self.out.write(line + "\n")  # echoed, so a piped session reads like a typed one
        self.out.flush()
        return line


class LogFeed(EngineHooks):
    """Collects ``log`` events (logpoints, debugger notes) for the prompt to print."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[ev.Log] = queue.SimpleQueue()

    def on_event(self, event: ev.Event) -> None:
        """Keep log events; the prompt thread prints them (the run's thread never does)."""
        if isinstance(event, ev.Log):
            self.events.put(event)

    def drain(self) -> list[ev.Log]:
        """Return (and forget) the log events collected so far."""
        out: list[ev.Log] = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.events.get_nowait())
        return out


def next_stop(session: Session, ended: Callable[[], bool],
              show_log: Callable[[ev.Log], None], feed: LogFeed,
              poll: float = 0.05, *,
              interrupt: Callable[[], None] = lambda: None) -> Stop | None:
    """Wait for the run's next stop; None once it ended.

    Ctrl-C meanwhile calls ``interrupt`` (the run stops resumably, its running steps
    finish); a second Ctrl-C exits at once, leaving the run resumable from its journal.
    """
    interrupted = False
    while True:
        for event in feed.drain():
            show_log(event)
        try:
            stop = session.wait_for_stop(poll)
        except KeyboardInterrupt:
            if interrupted:
                sys.stderr.write("\nexiting now; the run stays resumable from its journal\n")
                sys.stderr.flush()
                os._exit(130)
            interrupted = True
            interrupt()
            continue
        except StopTimeoutError:
            if not ended():
                continue
            stop = None
        if stop is not None:
            for event in feed.drain():
                show_log(event)
            return stop
        if ended():
            for event in feed.drain():
                show_log(event)
            return None


def _interrupt(repl: Repl, engine: Engine) -> None:
    repl.say(f"Ctrl-C: stopping run {repl.root_run_id} resumably (running steps finish; "
             "press Ctrl-C again to exit at once)", "bold")
    with contextlib.suppress(FlowscopeError):
        engine.interrupt(repl.root_run_id, "sigint")


def drive(repl: Repl, engine: Engine, execute: Callable[[], Any], feed: LogFeed) -> RunResult:
    """Run in a background thread; prompt at each stop until the run ends."""
    # Its exception, if any, is handed to the prompt thread, which re-raises it.
    job: InThread[RunResult] = start_in_thread(execute, name="flowscope-debug-run",
                                              start=False)
    repl.say(Text.assemble("debugging ", (repl.root.name, "bold"),
                           f"  run {repl.root_run_id}  (type 'help' for commands)"))
    if not repl.session.breakpoints() and not repl.session.stop_on_entry \
            and not repl.session.stop_on_error:
        repl.say("no breakpoints: the run goes to its end (Ctrl-C stops it resumably)",
                 "dim")
    job.start()
    reader = LineReader(sys.stdin, repl.console.file)
    quitting = False
    while True:
        stop = next_stop(repl.session, job.done,
                         lambda e: repl.say(log_line(e)), feed,
                         interrupt=lambda: _interrupt(repl, engine))
        if stop is None:
            break
        if quitting:  # a stop reached while the cancel was on its way: let it go
            with contextlib.suppress(FlowscopeError):
                repl.session.continue_()
            continue
        repl.show_stop(stop)
        outcome = Outcome.STAY
        while outcome is Outcome.STAY:
            try:
                line = reader.read()
            except KeyboardInterrupt:  # piped input: Ctrl-C while waiting for a line
                outcome = Outcome.DETACH
                break
            if line is None:
                repl.say("end of input: cancelling the run", "dim")
                outcome = Outcome.QUIT
            else:
                outcome = repl.execute(line)
        if outcome is Outcome.QUIT:
            quitting = True
            engine.cancel(repl.root_run_id)
        elif outcome is Outcome.DETACH:
            quitting = True
            engine.interrupt(repl.root_run_id, "detach")
            with contextlib.suppress(FlowscopeError):
                repl.session.continue_()
    return job.result()
