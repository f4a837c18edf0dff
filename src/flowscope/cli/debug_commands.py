"""The commands of the console debugger's ``(flowscope)`` prompt.

:class:`Repl` holds what the prompt knows (the session, the stop it is at, the watch
values it showed) and runs one command line at a time; each command is a small handler
that talks to the session and prints through :mod:`flowscope.cli.debug_render`. Parsing
is in :mod:`flowscope.cli.debug_parse`; the loop that waits for stops and reads lines is
in :mod:`flowscope.cli.debug_repl`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flowscope.cli.debug_parse import (
    check_steps,
    parse_break,
    parse_snapshot_id,
    split_assignment,
    step_ids,
    tokens,
)
from flowscope.cli.debug_render import (
    breakpoints_table,
    diff_lines,
    frame_path,
    one_line,
    steps_line,
    stop_header,
    trace_table,
    watch_lines,
)
from flowscope.cli.options import CommandLineError
from flowscope.cli.render import error_line, format_time, short_id, to_json
from flowscope.debugger import Session, Stop
from flowscope.errors import FlowscopeError
from flowscope.model.workflow import Workflow

#: Children listed by ``vars`` per scope before "... more".
VARS_PAGE = 30


class Outcome(Enum):
    """What the prompt does after a command."""

    STAY = "stay"
    """Prompt again at the same stop."""
    RESUME = "resume"
    """The run goes on: wait for its next stop or its end."""
    QUIT = "quit"
    """Cancel the run and leave."""
    DETACH = "detach"
    """Stop the run resumably (it ends ``interrupted``) and leave."""


Handler = Callable[["Repl", str], Outcome]


@dataclass
class Repl:
    """The commands of the ``(flowscope)`` prompt over one debug session.

    Args:
        session: The debug session (of the person typing the commands).
        console: Where everything is printed.
        root: The root workflow (its steps, and its sub-workflows', may be named).
        root_run_id: The debugged run.
    """

    session: Session
    console: Console
    root: Workflow
    root_run_id: str
    stop: Stop | None = None
    known: dict[str, str] = field(default_factory=dict)
    seen: dict[str, Any] = field(default_factory=dict)
    """Watch expression -> its value at the last stop or when added (to mark changes)."""

    def __post_init__(self) -> None:
        self.known = step_ids(self.root)

    def say(self, text: str | Text, style: str = "") -> None:
        """Print one line (never read as markup)."""
        self.console.print(text if isinstance(text, Text) else Text(text, style),
                           soft_wrap=True, highlight=False)

    def error(self, message: str) -> None:
        """Print a one-line error (the prompt goes on)."""
        self.say(Text.assemble(("error: ", "bold red"), " ".join(message.split())))

    def execute(self, line: str) -> Outcome:
        """Run one command line; any error is printed as one line, never raised."""
        line = line.strip()
        if not line or line.startswith("#"):
            return Outcome.STAY
        name, _, rest = line.partition(" ")
        command = COMMANDS_BY_NAME.get(name.lower())
        if command is None:
            self.error(f"unknown command {name!r} (type 'help' for the list)")
            return Outcome.STAY
        try:
            return command.handler(self, rest.strip())
        except FlowscopeError as exc:
            self.error(str(exc))
        except Exception as exc:  # a typo never ends a debugging session with a traceback
            self.error(f"{type(exc).__name__}: {exc}")
        return Outcome.STAY

    def need_stop(self) -> Stop:
        """The current stop (CommandLineError when the run is not stopped)."""
        if self.stop is None:
            raise CommandLineError("the run is not stopped", hint="wait for a stop")
        return self.stop

    def show_stop(self, stop: Stop) -> None:
        """Print where the run stopped: reason, frame path, steps, pending input, watches."""
        self.stop = stop
        self.say(stop_header(stop))
        self.say(Text.assemble("  at ", (frame_path(stop), "bold")))
        execution = self.session.live_execution(stop.run_id)
        if execution is not None:
            statuses = {k: v.value for k, v in dict(execution.state.statuses).items()}
            self.say(steps_line(execution.workflow, statuses, stop.step_id,
                                execution.executing))
        if stop.error is not None:
            category = f" [{stop.error.category}]" if stop.error.category else ""
            self.say(f"  error: {error_line(stop.error)}{category}", "bold red")
            self.say("  'retry' runs the step again (edit its input first with "
                     "'set input.NAME = ...'); 'c' lets it fail", "dim")
        with contextlib.suppress(FlowscopeError):  # the run went on meanwhile
            pending = self.session.inspect("input")["value"]
            self.say(f"  input: {one_line(pending, 160)}")
        for line in watch_lines(stop, self.seen):
            self.say(line)

    def frame_run(self, step: str | None) -> str:
        """The run a step id refers to: the current frame's run if it has it, else the root."""
        stop = self.need_stop()
        if step is None:
            return stop.run_id
        execution = self.session.live_execution(stop.run_id)
        if execution is not None and step in execution.workflow.step_ids:
            return stop.run_id
        if step in self.root.step_ids:
            return self.root_run_id
        mine = execution.workflow.step_ids if execution is not None else self.root.step_ids
        raise CommandLineError(f"no step {step!r} in this frame's run or the root run",
                               hint="name one of: " + ", ".join(mine))


# -- commands -----------------------------------------------------------------------------------


def _no_args(rest: str, name: str) -> None:
    if rest:
        raise CommandLineError(f"{name} takes no argument", hint=f"type 'help {name}'")


def _stepper(name: str, act: Callable[[Session], None]) -> Handler:
    def handler(repl: Repl, rest: str) -> Outcome:
        _no_args(rest, name)
        repl.need_stop()
        act(repl.session)
        repl.stop = None
        return Outcome.RESUME
    return handler


def _return(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "return")
    if repl.need_stop().depth == 1:
        repl.say("in the top frame: 'return' runs on to the next breakpoint", "dim")
    repl.session.step_out()
    repl.stop = None
    return Outcome.RESUME


def _break(repl: Repl, rest: str) -> Outcome:
    if not rest:
        return _breaks(repl, rest)
    spec = parse_break(rest)
    check_steps(spec, repl.known)
    bp = repl.session.set_breakpoint(spec.step_id, **spec.kwargs())
    repl.say(f"breakpoint #{bp.id} at {bp.describe()}", "green")
    return Outcome.STAY


def _breaks(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "breaks")
    bps = repl.session.breakpoints()
    if not bps:
        repl.say("no breakpoints", "dim")
    else:
        repl.console.print(breakpoints_table(bps))
    return Outcome.STAY


def _clear(repl: Repl, rest: str) -> Outcome:
    bps = repl.session.breakpoints()
    if rest == "all":
        chosen = bps
    elif rest.lstrip("#").isdigit():
        chosen = [b for b in bps if b.id == int(rest.lstrip("#"))]
        if not chosen:
            raise CommandLineError(f"no breakpoint #{rest.lstrip('#')}",
                                   hint="list them with 'breaks'")
    else:
        step = rest or repl.need_stop().step_id
        chosen = [b for b in bps if b.step_id == step]
        if not chosen:
            raise CommandLineError(f"no breakpoint on step {step!r}",
                                   hint="list them with 'breaks'; clear ID, STEP or all")
    for bp in chosen:
        repl.session.remove_breakpoint(bp.id)
    repl.say(f"cleared {len(chosen)} breakpoint(s)"
             + (": " + ", ".join(f"#{b.id}" for b in chosen) if chosen else ""))
    return Outcome.STAY


def _toggle(enabled: bool) -> Handler:
    def handler(repl: Repl, rest: str) -> Outcome:
        ids = [w.lstrip("#") for w in rest.split()]
        if not ids or not all(i.isdigit() for i in ids):
            raise CommandLineError("give breakpoint ids", hint="e.g. 'disable 1 2'")
        for bp_id in ids:
            repl.session.update_breakpoint(int(bp_id), enabled=enabled)
        repl.say(("enabled" if enabled else "disabled") + " " + ", ".join(f"#{i}" for i in ids))
        return Outcome.STAY
    return handler


def _pause(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "pause")
    # At a stop, "pause" lets the run go on and stops it before the next step that starts
    # anywhere in it (Ctrl-C while the run goes on does the same).
    repl.session.pause()
    repl.stop = None
    return Outcome.RESUME


def _retry(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "retry")
    repl.session.retry()
    repl.stop = None
    return Outcome.RESUME


def _where(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "where")
    stop = repl.need_stop()
    last = len(stop.frames) - 1
    for i, frame in enumerate(stop.frames):
        mark, style = ("▶", "bold magenta") if i == last else (" ", "")
        repl.say(Text.assemble((f"{mark} {i} ", style), (frame.workflow, "bold"),
                               f" at {frame.step_id}  run {short_id(frame.run_id)}"))
    return Outcome.STAY


def _list(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "list")
    repl.show_stop(repl.need_stop())
    return Outcome.STAY


def _vars(repl: Repl, rest: str) -> Outcome:
    stop = repl.need_stop()
    words = rest.split()
    if words:
        start = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
        found = repl.session.variables(words[0], start, VARS_PAGE + 1)
        for var in found[:VARS_PAGE]:
            repl.say(f"  {var.name} = {var.preview.text}  ({var.preview.type})")
        if len(found) > VARS_PAGE:
            repl.say(f"  ... more: vars {words[0]} {start + VARS_PAGE}", "dim")
        if not found:
            repl.say("  (empty)", "dim")
        return Outcome.STAY
    for scope in ("inputs", "steps", "vars", "input"):
        value = repl.session.inspect(scope)["value"]
        title = f"input (pending: {stop.step_id})" if scope == "input" else scope
        repl.say(title, "bold")
        items = list(value.items()) if isinstance(value, dict) else []
        for key, item in items[:VARS_PAGE]:
            if scope == "steps" and isinstance(item, dict):
                repl.say(f"  {key} [{item.get('status')}] = {one_line(item.get('output'), 100)}")
            else:
                repl.say(f"  {key} = {one_line(item, 100)}")
        if len(items) > VARS_PAGE:
            repl.say(f"  ... {len(items) - VARS_PAGE} more: vars {scope} {VARS_PAGE}", "dim")
        if not items:
            repl.say("  (empty)", "dim")
    return Outcome.STAY


def _print(repl: Repl, rest: str) -> Outcome:
    if not rest:
        raise CommandLineError("print needs an expression", hint="e.g. 'p vars.total * 2'")
    value = repl.session.evaluate(rest)
    repl.say(to_json(value))
    return Outcome.STAY


def _watch(repl: Repl, rest: str) -> Outcome:
    if not rest:
        return _watches(repl, rest)
    stop_on_change = rest.startswith("--stop ")
    expression = rest.removeprefix("--stop ").strip()
    repl.session.add_watch(expression, stop_on_change=stop_on_change)
    try:
        found = repl.session.evaluate(expression)
        repl.seen[expression] = found
        value = one_line(found, 100)
    except FlowscopeError as exc:
        value = f"<{exc}>"
    repl.say(f"watching {expression} = {value}"
             + ("  (stops when it changes)" if stop_on_change else ""), "green")
    return Outcome.STAY


def _unwatch(repl: Repl, rest: str) -> Outcome:
    watched = repl.session.watch_expressions()
    chosen = watched if rest == "all" else [rest]
    if not rest or (rest not in watched and rest != "all"):
        raise CommandLineError(f"not watching {rest!r}",
                               hint="unwatch one of: " + (", ".join(watched) or "none"))
    for expression in chosen:
        repl.session.remove_watch(expression)
        repl.seen.pop(expression, None)
    repl.say(f"stopped watching {', '.join(chosen) or 'nothing'}")
    return Outcome.STAY


def _watches(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "watches")
    watched = repl.session.watch_expressions()
    if not watched:
        repl.say("no watches", "dim")
        return Outcome.STAY
    at_stop = {w.expression: w for w in (repl.stop.watches if repl.stop else ())}
    for expression in watched:
        try:
            value = one_line(repl.session.evaluate(expression), 100)
        except FlowscopeError as exc:
            value = f"<{exc}>"
        changed = expression in at_stop and at_stop[expression].changed
        repl.say(Text.assemble(("  *" if changed else "   ", "bold yellow"),
                               f" {expression} = {value}",
                               ("  (changed)" if changed else "", "bold yellow")))
    return Outcome.STAY


def _set(repl: Repl, rest: str) -> Outcome:
    path, expression = split_assignment(rest, "set")
    value = repl.session.evaluate(expression)
    old = repl.session.set_variable(path, value)
    repl.say(f"{path} = {one_line(value, 100)} (was {one_line(old, 60)})", "green")
    return Outcome.STAY


def _snapshots(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "snapshots")
    current = repl.stop.snapshot_id if repl.stop else None
    table = Table(expand=False, box=None, pad_edge=False)
    for name in ("id", "before step", "run", "taken at", ""):
        table.add_column(name)
    for snap in repl.session.snapshots():
        table.add_row(str(snap.id), snap.step_id or "", short_id(snap.run_id or ""),
                      format_time(snap.taken_at), "◀ now" if snap.id == current else "")
    repl.console.print(table)
    return Outcome.STAY


def _restore(repl: Repl, rest: str) -> Outcome:
    words = rest.split()
    rerun_effects = "--rerun-effects" in words
    words = [w for w in words if w != "--rerun-effects"]
    if len(words) != 1:
        raise CommandLineError("restore needs one snapshot id",
                               hint="'restore 3', or 'restore 3 --rerun-effects'")
    snapshot_id = parse_snapshot_id(words[0])
    again = repl.session.restore(snapshot_id, rerun_effects=rerun_effects)
    repl.say(f"restored snapshot {snapshot_id}; running again: {', '.join(again) or 'nothing'}",
             "green")
    if again.kept_external:
        repl.say("  kept the recorded results of external steps: "
                 + ", ".join(again.kept_external) + " ('restore ID --rerun-effects' runs them "
                 "again)", "yellow")
    repl.stop = None
    return Outcome.RESUME


def _diff(repl: Repl, rest: str) -> Outcome:
    words = rest.split()
    if len(words) not in (1, 2):
        raise CommandLineError("diff needs one or two snapshot ids",
                               hint="'diff 1 4', or 'diff 1' to compare with this stop")
    a = parse_snapshot_id(words[0])
    if len(words) == 2:
        b = parse_snapshot_id(words[1])
    else:
        current = repl.need_stop().snapshot_id
        if current is None:
            raise CommandLineError("this stop has no snapshot", hint="give two ids")
        b = current
    repl.say(f"snapshot {a} -> {b}", "bold")
    for line in diff_lines(repl.session.compare(a, b)):
        repl.say(line)
    return Outcome.STAY


def _fork(repl: Repl, rest: str) -> Outcome:
    words = [w for w, _, _ in tokens(rest)]
    if not words:
        raise CommandLineError("fork needs a step", hint="e.g. 'fork charge vars.total=10'")
    step, edits = words[0], {}
    for word in words[1:]:
        path, expression = split_assignment(word, "fork STEP")
        edits[path] = repl.session.evaluate(expression)
    run_id = repl.frame_run(step)
    plan = repl.session.fork_preview(run_id, step)
    repl.say(f"forking run {short_id(run_id)} from {step}: reusing "
             f"{', '.join(plan['reuse']) or 'nothing'}; running {', '.join(plan['run'])}")
    result = repl.session.fork(run_id, step, edits or None)
    style = "green" if result.ok else "bold red"
    repl.say(f"fork run {result.id} {result.status.value}", style)
    if result.outputs is not None:
        repl.say(f"  outputs: {one_line(result.outputs, 200)}")
    if result.error is not None:
        repl.say(f"  error: step {result.failed_step}: {error_line(result.error)}", "red")
    return Outcome.STAY


def _trace(repl: Repl, rest: str) -> Outcome:
    step = rest or None
    entries = repl.session.trace(repl.frame_run(step), step)
    if not entries:
        repl.say("no step attempts yet", "dim")
    else:
        repl.console.print(trace_table(entries))
    return Outcome.STAY


def _help(repl: Repl, rest: str) -> Outcome:
    if rest:
        command = COMMANDS_BY_NAME.get(rest.lower())
        if command is None:
            raise CommandLineError(f"no command {rest!r}", hint="type 'help' for the list")
        repl.say(command.usage, "bold")
        repl.say("  " + command.summary)
        if len(command.names) > 1:
            repl.say("  also: " + ", ".join(command.names[1:]), "dim")
        return Outcome.STAY
    table = Table(expand=False, box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for command in COMMANDS:
        table.add_row(command.usage, command.summary)
    repl.console.print(table)
    repl.say("End of input (Ctrl-D) cancels the run, like quit.", "dim")
    return Outcome.STAY


def _quit(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "quit")
    return Outcome.QUIT


def _detach(repl: Repl, rest: str) -> Outcome:
    _no_args(rest, "detach")
    return Outcome.DETACH


@dataclass(frozen=True, slots=True)
class Command:
    """One command of the prompt."""

    names: tuple[str, ...]
    usage: str
    summary: str
    handler: Handler = field(repr=False)


COMMANDS: tuple[Command, ...] = (
    Command(("break", "b"), "b WHERE [if COND] [hits N] [limit N] [log MSG]",
            "Add a breakpoint. WHERE: STEP, 'A -> B' (edge), 'entry [WORKFLOW]', "
            "'error [CATEGORY...]'. Without WHERE: list them.", _break),
    Command(("clear", "cl"), "clear [ID|STEP|all]",
            "Remove breakpoints (default: those on the current step).", _clear),
    Command(("breaks", "breakpoints"), "breaks", "List breakpoints: id, where, condition, "
            "hits, enabled.", _breaks),
    Command(("enable",), "enable ID...", "Enable breakpoints.", _toggle(True)),
    Command(("disable",), "disable ID...", "Disable breakpoints (kept, not checked).",
            _toggle(False)),
    Command(("next", "n"), "n", "Step over: run this step (a whole sub-workflow included) "
            "and stop before the next step of this frame.",
            _stepper("next", lambda s: s.step_over())),
    Command(("step", "s"), "s", "Step into the sub-workflow this step starts (else: next).",
            _stepper("step", lambda s: s.step_into())),
    Command(("return", "r"), "r", "Step out: finish this sub-workflow, stop at the parent's "
            "next step.", _return),
    Command(("continue", "c", "cont"), "c", "Run to the next breakpoint (or the end).",
            _stepper("continue", lambda s: s.continue_())),
    Command(("pause",), "pause", "Go on, but stop before the next step that starts anywhere "
            "in the run (Ctrl-C while it runs does the same).", _pause),
    Command(("retry",), "retry", "At an exception stop: run the failed step again.", _retry),
    Command(("where", "w", "bt"), "w", "Show the frames, root first; ▶ marks the current.",
            _where),
    Command(("list", "l"), "l", "Show the position again.", _list),
    Command(("vars", "v"), "vars [PATH [START]]", "Show inputs, step outputs, vars and the "
            "pending input (or the children of PATH).", _vars),
    Command(("print", "p"), "p EXPR", "Evaluate an expression over the state at the stop.",
            _print),
    Command(("watch",), "watch [--stop] EXPR", "Watch an expression at every stop (--stop: "
            "also stop when it changes). Without EXPR: list watches.", _watch),
    Command(("unwatch",), "unwatch EXPR|all", "Stop watching.", _unwatch),
    Command(("watches",), "watches", "Show the watches' values; * marks a change.", _watches),
    Command(("set",), "set PATH = EXPR", "Edit vars.* or input.* (the pending step's input) "
            "with the value of EXPR.", _set),
    Command(("snapshots", "snaps"), "snapshots", "List the snapshots taken at step "
            "boundaries.", _snapshots),
    Command(("restore",), "restore ID [--rerun-effects]", "Rewind the run to a snapshot; "
            "later steps run again, except external ones (their results are kept) unless "
            "--rerun-effects.", _restore),
    Command(("diff",), "diff A [B]", "Compare two snapshots (default B: this stop's).", _diff),
    Command(("fork",), "fork STEP [PATH=EXPR ...]", "Run a new run from STEP of this run with "
            "edited state (vars.*, inputs.*, steps.S.output.*); report its result.", _fork),
    Command(("trace",), "trace [STEP]", "Show the step attempts of this frame's run.", _trace),
    Command(("help", "h", "?"), "help [CMD]", "Show the commands, or one command.", _help),
    Command(("detach",), "detach", "Stop the run resumably and leave (`flowscope resume` "
            "goes on with it later).", _detach),
    Command(("quit", "q", "exit"), "q", "Cancel the run and leave.", _quit),
)
COMMANDS_BY_NAME: dict[str, Command] = {name: c for c in COMMANDS for name in c.names}
