"""The console debugger's machinery: parsing prompt lines, renderables, and the loop.

Parsing and rendering functions touch no session and print nothing; :func:`drive` runs
the debugged run in a background thread and, at each stop, feeds the prompt
(:class:`flowscope.cli.debug_cmd.Repl`) one line at a time from a terminal or a pipe.
Like ``pdb`` over ``bdb``, none of this decides whether a run stops: the debugger core
does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import queue
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import IO, TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flowscope.cli.options import CommandLineError
from flowscope.cli.render import error_line, format_ms, short_id
from flowscope.cli.run import show_result
from flowscope.debugger import (
    Breakpoint,
    BreakpointKind,
    HitCondition,
    Session,
    Stop,
    StopReason,
    StopTimeoutError,
)
from flowscope.engine import events as ev
from flowscope.engine.hooks import EngineHooks
from flowscope.engine.journal import Journal
from flowscope.engine.runner import Engine, RunResult
from flowscope.engine.status import StepStatus
from flowscope.errors import FlowscopeError
from flowscope.expressions import check_braces, compile_condition
from flowscope.model.workflow import Workflow

if TYPE_CHECKING:
    from flowscope.cli.debug_cmd import Repl

# -- parsing ----------------------------------------------------------------------------------

#: One word of a command line: quoted parts keep their quotes and may hold spaces.
_TOKEN = re.compile(r"""(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^\s"'])+""")
#: The options a breakpoint takes after where it is, each introduced by its keyword.
_BREAK_OPTIONS = ("if", "hits", "limit", "log")
_STEP_ID = re.compile(r"^[A-Za-z_][\w\-]*$")
#: ``--break WHERE:CONDITION``: the part before the first colon names where.
_BREAK_FLAG = re.compile(r"^\s*([^\s:]+(?:\s*->\s*[^\s:]+)?)\s*:(.*)$", re.DOTALL)


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Split a command line into (word, start, end), keeping quoted parts together."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def unquote(text: str) -> str:
    """Drop one pair of matching quotes around ``text`` (and their backslash escapes)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


@dataclass(frozen=True, slots=True)
class BreakSpec:
    """A breakpoint as typed: where it is and its options (see :func:`parse_break`)."""

    kind: BreakpointKind
    step_id: str | None = None
    source: str | None = None
    workflow: str | None = None
    categories: tuple[str, ...] = ()
    condition: str | None = None
    hit_condition: str | None = None
    hit_limit: int | None = None
    log_message: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of :meth:`Session.set_breakpoint`."""
        return {"kind": self.kind.value, "source": self.source, "workflow": self.workflow,
                "categories": self.categories, "condition": self.condition,
                "hit_condition": self.hit_condition, "hit_limit": self.hit_limit,
                "log_message": self.log_message}


_BREAK_HINT = ("write e.g. 'b charge', 'b charge if vars.total > 100', 'b a -> b', 'b entry', "
               "'b error timeout', with options 'hits >= 3', 'limit 2', 'log \"x={vars.x}\"'")


def parse_break(text: str) -> BreakSpec:
    """Parse ``WHERE [if COND] [hits HIT] [limit N] [log MSG]``.

    WHERE is a step id, an edge ``A -> B``, ``entry [WORKFLOW]`` or ``error [CATEGORY...]``
    (also ``failure``). Each option keyword counts once, at its first appearance, so a
    condition may itself use ``if`` (``a if c else b``).

    Raises:
        CommandLineError: The text is not of that form, or the condition, hit condition or
            log message is invalid.
    """
    words = tokens(text)
    cuts: list[tuple[str, int, int]] = []  # (keyword, keyword start, value start)
    seen: set[str] = set()
    for word, start, end in words:
        if word in _BREAK_OPTIONS and word not in seen and (cuts or start > 0):
            seen.add(word)
            cuts.append((word, start, end))
    where = text[: cuts[0][1]] if cuts else text
    options: dict[str, str] = {}
    for i, (word, _, value_start) in enumerate(cuts):
        value_end = cuts[i + 1][1] if i + 1 < len(cuts) else len(text)
        value = text[value_start:value_end].strip()
        if not value:
            raise CommandLineError(f"breakpoint option {word!r} needs a value", hint=_BREAK_HINT)
        options[word] = value
    spec = _parse_where(where)
    limit: int | None = None
    if "limit" in options:
        if not options["limit"].isdigit() or int(options["limit"]) < 1:
            raise CommandLineError(f"limit {options['limit']!r} is not a positive whole number",
                                   hint="write e.g. 'limit 2' to stop at most twice")
        limit = int(options["limit"])
    condition = options.get("if")
    message = unquote(options["log"]) if "log" in options else None
    try:
        if condition is not None:
            compile_condition(condition)
        if message is not None:
            check_braces(message)
        if "hits" in options:
            HitCondition.parse(options["hits"])
    except FlowscopeError as exc:
        raise CommandLineError(str(exc)) from None
    return BreakSpec(spec.kind, spec.step_id, spec.source, spec.workflow, spec.categories,
                     condition, options.get("hits"), limit, message)


def _parse_where(where: str) -> BreakSpec:
    words = where.split()
    if not words:
        raise CommandLineError("a breakpoint needs a place", hint=_BREAK_HINT)
    head = words[0].lower()
    if head == "entry" and len(words) <= 2:
        return BreakSpec(BreakpointKind.ENTRY, workflow=words[1] if len(words) == 2 else None)
    if head in ("error", "failure"):
        return BreakSpec(BreakpointKind.FAILURE, categories=tuple(w.lower() for w in words[1:]))
    if "->" in where:
        source, _, target = where.partition("->")
        source, target = source.strip(), target.strip()
        if not (_STEP_ID.match(source) and _STEP_ID.match(target)):
            raise CommandLineError(f"bad edge {where.strip()!r}", hint=_BREAK_HINT)
        return BreakSpec(BreakpointKind.EDGE, step_id=target, source=source)
    if len(words) != 1 or not _STEP_ID.match(words[0]):
        raise CommandLineError(f"bad breakpoint place {where.strip()!r}", hint=_BREAK_HINT)
    return BreakSpec(BreakpointKind.STEP, step_id=words[0])


def parse_break_flag(text: str) -> BreakSpec:
    """Parse a ``--break`` value: ``STEP[:CONDITION]``, or anything :func:`parse_break` takes."""
    match = _BREAK_FLAG.match(text)
    if match and match.group(2).strip():
        spec = parse_break(match.group(1))
        try:
            compile_condition(match.group(2).strip())
        except FlowscopeError as exc:
            raise CommandLineError(f"--break {text!r}: {exc}") from None
        return BreakSpec(spec.kind, spec.step_id, spec.source, spec.workflow, spec.categories,
                         match.group(2).strip())
    if match:
        raise CommandLineError(f"--break {text!r} has an empty condition",
                               hint="write --break STEP or --break 'STEP:vars.x > 1'")
    try:
        return parse_break(text)
    except CommandLineError as exc:
        raise CommandLineError(f"--break {text!r}: {exc.message}", hint=exc.hint) from None


def step_ids(workflow: Workflow) -> dict[str, str]:
    """Every step id of a workflow and its sub-workflows -> the workflow it belongs to."""
    out: dict[str, str] = {}
    stack = [workflow]
    while stack:
        wf = stack.pop()
        for step in wf.steps:
            out.setdefault(step.id, wf.name)
        stack.extend(wf.subworkflows.values())
    return out


def check_steps(spec: BreakSpec, known: Mapping[str, str]) -> None:
    """Refuse a breakpoint on a step no workflow of the run has.

    Raises:
        CommandLineError: A step id of the spec is unknown.
    """
    for step in (spec.source, spec.step_id):
        if step is not None and step not in known:
            names = ", ".join(sorted(known)) or "none"
            raise CommandLineError(f"no step {step!r} in this workflow",
                                   hint=f"the steps are: {names}")


def split_assignment(text: str, command: str) -> tuple[str, str]:
    """Split ``PATH = EXPR`` (spaces optional) into its two parts."""
    path, sep, expr = text.partition("=")
    path, expr = path.strip(), expr.strip()
    if not sep or not path or not expr or " " in path:
        raise CommandLineError(f"{command} needs PATH = EXPRESSION",
                               hint=f"write e.g. {command} vars.total = 100")
    return path, expr


def parse_snapshot_id(text: str) -> int:
    """A snapshot id as typed (``3`` or ``#3``)."""
    text = text.strip().lstrip("#")
    if not text.isdigit():
        raise CommandLineError(f"{text!r} is not a snapshot id",
                               hint="list them with 'snapshots' and use a number")
    return int(text)


# -- rendering --------------------------------------------------------------------------------


def one_line(value: Any, limit: int = 80) -> str:
    """A value as compact JSON on one line (strings quoted), cut at ``limit`` characters."""
    text = " ".join(json.dumps(value, default=str, ensure_ascii=False).split())
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."

#: The marker of each step status in the position list.
STEP_MARKS: Mapping[str, tuple[str, str]] = {
    StepStatus.COMPLETED.value: ("✓", "green"),
    StepStatus.FAILED.value: ("✗", "bold red"),
    StepStatus.SKIPPED.value: ("-", "dim"),
    StepStatus.CANCELLED.value: ("-", "yellow"),
    StepStatus.RUNNING.value: ("~", "cyan"),
    "current": ("▶", "bold magenta"),
    "pending": ("·", "dim"),
}

_REASON_STYLE = {StopReason.BREAKPOINT: "bold red", StopReason.EXCEPTION: "bold red",
                 StopReason.ENTRY: "bold cyan", StopReason.WATCH: "bold yellow"}


def frame_path(stop: Stop) -> str:
    """``root_workflow > step > child step > ...`` down to the stopped step."""
    return " > ".join([stop.frames[0].workflow] + [f.step_id or "?" for f in stop.frames])


def stop_header(stop: Stop) -> Text:
    """The first line of a stop: number, reason (and breakpoint), step, run."""
    reason = stop.reason.value
    if stop.breakpoint is not None:
        reason += f" #{stop.breakpoint.id}"
    text = Text.assemble(
        (f"[stop {stop.number}] ", "bold"), (reason, _REASON_STYLE.get(stop.reason, "bold")),
        " at ", (stop.step_id, "bold"), f"  run {short_id(stop.run_id)}")
    if stop.attempt > 1:
        text.append(f"  attempt {stop.attempt}")
    return text


def steps_line(workflow: Workflow, statuses: Mapping[str, str], current: str,
               executing: Iterable[str] = ()) -> Text:
    """The steps of one frame in definition order, each behind its status marker."""
    running = set(executing)
    text = Text("  ")
    for i, step in enumerate(workflow.steps):
        if step.id == current:
            key = "current"
        elif step.id in running:
            key = StepStatus.RUNNING.value
        else:
            key = statuses.get(step.id, "pending")
        mark, style = STEP_MARKS.get(key, STEP_MARKS["pending"])
        if i:
            text.append("  ")
        text.append(f"{mark} {step.id}", style=style)
    return text


def watch_lines(stop: Stop, previous: dict[str, Any] | None = None) -> list[Text]:
    """One line per watch at a stop; a changed value is marked ``*``.

    ``previous`` (expression -> its value at the last stop, or when it was added) also
    counts as "before": the core has no earlier value for a watch added at a stop, but
    the person saw one. It is updated with the values at this stop.
    """
    out = []
    for w in stop.watches:
        value = f"<{w.error}>" if w.error else one_line(w.value, 100)
        changed = w.changed
        if previous is not None:
            changed = changed or (w.expression in previous and previous[w.expression] != w.value)
            previous[w.expression] = w.value
        mark, style = ("*", "bold yellow") if changed else (" ", "")
        out.append(Text.assemble(("  " + mark, style), f" watch {w.expression} = ",
                                 (value, style), ("  (changed)" if changed else "", style)))
    return out


def breakpoints_table(bps: Iterable[Breakpoint]) -> Table:
    """id, where, condition, hits, enabled (and hit condition, limit, log message)."""
    table = Table(expand=False, box=None, pad_edge=False)
    for name in ("id", "where", "condition", "hits", "enabled", "options"):
        table.add_column(name, justify="right" if name in ("id", "hits") else "left")
    for bp in bps:
        where = bp.describe()
        if bp.condition:
            where = where[: -len(f" if {bp.condition}")]
        options = []
        if bp.hit_condition:
            options.append(f"hits {bp.hit_condition}")
        if bp.hit_limit is not None:
            options.append(f"limit {bp.hit_limit}")
        if bp.log_message is not None:
            options.append(f"log {bp.log_message!r}")
        table.add_row(str(bp.id), where, bp.condition or "", str(bp.hit_count),
                      Text("yes", "green") if bp.enabled else Text("no", "dim"),
                      ", ".join(options))
    return table


def diff_lines(diff: Mapping[str, Mapping[str, Any]]) -> list[Text]:
    """``+ path = v`` / ``- path = v`` / ``~ path: old -> new`` lines of a comparison."""
    out = []
    for path, value in diff.get("added", {}).items():
        out.append(Text(f"  + {path} = {one_line(value, 100)}", "green"))
    for path, value in diff.get("removed", {}).items():
        out.append(Text(f"  - {path} = {one_line(value, 100)}", "red"))
    for path, change in diff.get("changed", {}).items():
        out.append(Text(f"  ~ {path}: {one_line(change['old'], 60)} -> "
                        f"{one_line(change['new'], 60)}", "yellow"))
    return out or [Text("  (no differences)", "dim")]


def trace_table(entries: Iterable[Any]) -> Table:
    """One row per step attempt: step, attempt, status, duration, input, result."""
    table = Table(expand=False, box=None, pad_edge=False)
    for name in ("step", "attempt", "status", "duration", "input", "output / error", "vars"):
        table.add_column(name)
    for e in entries:
        result = (f"{e.error['type']}: {e.error['message']}" if e.error
                  else one_line(e.output, 50))
        changes = sum(len(v) for v in e.vars_diff.values())
        table.add_row(e.step_id + (" (rewound)" if e.rewound else ""), str(e.attempt),
                      e.status, format_ms(e.duration_ms), one_line(e.input, 40), result,
                      f"{changes} change(s)" if changes else "")
    return table


class Outcome(Enum):
    """What the prompt does after a command."""

    STAY = "stay"
    """Prompt again at the same stop."""
    RESUME = "resume"
    """The run goes on: wait for its next stop or its end."""
    QUIT = "quit"
    """Cancel the run and leave."""


# -- input and waiting ------------------------------------------------------------------------

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


def log_line(event: ev.Log) -> Text:
    """One line for a log event: ``log [step] message``."""
    style = "cyan" if event.source == "logpoint" else "yellow"
    return Text(f"{event.source or 'log'} [{event.step_id or '-'}] {event.message}", style)


def next_stop(session: Session, ended: Callable[[], bool],
              show_log: Callable[[ev.Log], None], feed: LogFeed,
              poll: float = 0.05) -> Stop | None:
    """Wait for the run's next stop; None once it ended. Ctrl-C meanwhile pauses it."""
    while True:
        for event in feed.drain():
            show_log(event)
        try:
            stop = session.wait_for_stop(poll)
        except KeyboardInterrupt:
            session.pause()
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


def drive(repl: Repl, engine: Engine, execute: Callable[[], Any], feed: LogFeed) -> RunResult:
    """Run in a background thread; prompt at each stop until the run ends."""
    future: concurrent.futures.Future[RunResult] = concurrent.futures.Future()

    def main() -> None:
        try:
            future.set_result(asyncio.run(execute()))
        except BaseException as exc:  # handed to the prompt thread, which re-raises it
            future.set_exception(exc)

    thread = threading.Thread(target=main, name="flowscope-debug-run", daemon=True)
    repl.say(Text.assemble("debugging ", (repl.root.name, "bold"),
                           f"  run {repl.root_run_id}  (type 'help' for commands)"))
    if not repl.session.breakpoints() and not repl.session.stop_on_entry \
            and not repl.session.stop_on_error:
        repl.say("no breakpoints: the run goes to its end (Ctrl-C pauses it)", "dim")
    thread.start()
    reader = LineReader(sys.stdin, repl.console.file)
    quitting = False
    while True:
        stop = next_stop(repl.session, future.done,
                         lambda e: repl.say(log_line(e)), feed)
        if stop is None:
            break
        if quitting:  # a stop reached while the cancel was on its way: let it go
            with contextlib.suppress(FlowscopeError):
                repl.session.continue_()
            continue
        repl.show_stop(stop)
        outcome = Outcome.STAY
        while outcome is Outcome.STAY:
            line = reader.read()
            if line is None:
                repl.say("end of input: cancelling the run", "dim")
                outcome = Outcome.QUIT
            else:
                outcome = repl.execute(line)
        if outcome is Outcome.QUIT:
            quitting = True
            engine.cancel(repl.root_run_id)
    thread.join()
    return future.result()


def show_end(console: Console, store: Journal, result: RunResult) -> None:
    """Print how the run ended, and for a failure its root cause."""
    show_result(console, store, result)
    if result.status.value != "failed":
        return
    try:
        from flowscope.diagnosis import analyse_run
    except ImportError:  # diagnosis is optional for the debugger
        return
    root = analyse_run(store, result.id).root_cause
    if root is not None and root.step_id is not None:
        console.print(Text(f"root cause: {root.run.workflow} > {root.step_id}: "
                           f"{error_line(root.error)}", "bold red"), soft_wrap=True)
