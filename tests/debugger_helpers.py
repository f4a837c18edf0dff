"""Shared helpers of the debugger tests: workflows and the transcript driver.

A transcript (as in CPython's ``test_bdb``) is a list of lines ``(expected, command)`` or
``(expected, command, result)``:

- ``expected`` is the stop the run must be at: ``(reason, step_id, depth)``, optionally
  with a fourth item, the watches at the stop as ``((expression, value, changed), ...)``.
- ``command`` is a method name (``"step_over"``) or a tuple of a name and its arguments
  (``("set_variable", "vars.x", 1)``, ``("restore", 3)``, ``("watch", "vars.x")``); a
  trailing dict holds keyword arguments (``("break", "s2", {"condition": "vars.x > 1"})``).
  Names are looked up in :data:`ALIASES`, then on the ``WorkflowDebugger``, then on its
  session; ``"logs"`` returns the logpoint messages logged since the last ``"logs"``.
- ``result``, when given, is compared with what the command returned (see :func:`plain`).

Commands in :data:`RESUMING` let the run go on: the next line is checked against the next
stop. Any other command leaves the run at the same stop, so the next line names that stop
again. After the last line the run must end without stopping again.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flowscope.debugger import Breakpoint, WorkflowDebugger
from flowscope.engine import Engine
from flowscope.engine.events import EventKind
from flowscope.model import workflow_from_dict

#: Seconds to wait for a stop; a correct run stops within milliseconds.
WAIT = 10.0

GRANDCHILD = {"name": "grand", "steps": [
    {"id": "g1", "uses": "rec", "with": {"name": "g1"}},
    {"id": "g2", "uses": "rec", "needs": ["g1"], "with": {"name": "g2"}},
]}
CHILD = {"name": "child", "steps": [
    {"id": "c1", "uses": "rec", "with": {"name": "c1"}},
    {"id": "csub", "needs": ["c1"], "workflow": "grand", "workflow_definition": GRANDCHILD},
    {"id": "c2", "uses": "rec", "needs": ["csub"], "with": {"name": "c2"}},
]}
NESTED = {"name": "nested", "steps": [
    {"id": "a", "uses": "rec", "with": {"name": "a"}, "set": {"n": 1}},
    {"id": "sub", "needs": ["a"], "workflow": "child", "workflow_definition": CHILD},
    {"id": "p1", "uses": "rec", "needs": ["sub"], "with": {"name": "p1"}},
    {"id": "p2", "uses": "rec", "needs": ["sub"], "with": {"name": "p2"}},
    {"id": "z", "uses": "rec", "needs": ["p1", "p2"], "with": {"name": "z"}},
]}


def nested() -> Any:
    """Two levels of sub-workflows, then two parallel branches."""
    return workflow_from_dict(NESTED)


def make_engine(store: Any, **actions: Any) -> tuple[Engine, Counter[str]]:
    """An engine whose ``rec`` action counts calls by name and returns the name."""
    calls: Counter[str] = Counter()

    async def rec(name: str, value: Any = None) -> Any:
        calls[name] += 1
        return name if value is None else value

    return Engine(store, actions={"rec": rec, **actions}), calls


Expected = tuple[Any, ...]
Command = str | tuple[Any, ...]
Transcript = list[tuple[Any, ...]]

#: Commands after which the run goes on (the next line is about the next stop).
RESUMING = frozenset({"step_over", "step_into", "step_out", "continue_execution",
                      "pause_execution", "retry", "restore", "restore_snapshot"})

#: Short names: transcript name -> (where, method) with where "dbg" or "session".
ALIASES: dict[str, tuple[str, str]] = {
    "continue": ("dbg", "continue_execution"),
    "watch": ("session", "add_watch"),
    "unwatch": ("session", "remove_watch"),
    "break": ("session", "set_breakpoint"),
    "set": ("session", "set_variable"),
}


def plain(value: Any) -> Any:
    """What a command's result is compared as: breakpoints as their id, restores as
    ``{"rerun": [...], "kept": [...]}``, anything else as it is."""
    if isinstance(value, Breakpoint):
        return value.id
    kept = getattr(value, "kept_external", None)
    if kept is not None:
        return {"rerun": list(value), "kept": list(kept)}
    return value


def _watches(stop: Any) -> tuple[tuple[str, Any, bool], ...]:
    return tuple((w.expression, w.value, w.changed) for w in stop.watches)


def _got(stop: Any, expected: Expected | None) -> Expected | None:
    if stop is None:
        return None
    got: Expected = (stop.reason.value, stop.step_id, stop.depth)
    if stop.watches and (expected is None or len(expected) > 3):
        got += (_watches(stop),)
    return got


class _Driver:
    def __init__(self, dbg: WorkflowDebugger) -> None:
        assert dbg.session is not None and dbg.debugger is not None
        self.dbg = dbg
        self.session = dbg.session
        self.store = dbg.debugger.engine.store
        self.logged: set[tuple[str, int]] = set()
        self.stop: Any = None

    def logs(self) -> list[str]:
        """The logpoint messages of the stopped tree not returned yet."""
        out = []
        for run_id in dict.fromkeys(f.run_id for f in self.stop.frames):
            for event in self.store.get_events(run_id):
                key = (run_id, event.seq)
                if event.kind is EventKind.LOG and event.source == "logpoint" \
                        and key not in self.logged:
                    self.logged.add(key)
                    out.append(event.message)
        return out

    def call(self, command: Command) -> Any:
        parts = (command,) if isinstance(command, str) else tuple(command)
        name, args = parts[0], list(parts[1:])
        kwargs: dict[str, Any] = args.pop() if args and isinstance(args[-1], dict) else {}
        if name == "logs":
            return self.logs()
        where, method = ALIASES.get(name, ("", name))
        target: Any = self.session if where == "session" else self.dbg
        if not hasattr(target, method):
            target = self.session
        return getattr(target, method)(*args, **kwargs)


def run_transcript(dbg: WorkflowDebugger, wf: Any, transcript: Transcript, *,
                   dry_run: bool = False, inputs: dict[str, Any] | None = None,
                   **start: Any) -> Any:
    """Drive a run through a transcript (see the module docstring); return its result.

    With ``dry_run`` the actual transcript is printed instead of checked (use it to write
    a new test, then check every line by hand).
    """
    handle = dbg.start(wf, inputs, **start)
    driver = _Driver(dbg)
    actual: Transcript = []
    resumed = True
    for i, line in enumerate(transcript):
        expected, command = line[0], line[1]
        if resumed:
            driver.stop = dbg.wait_for_stop(WAIT)
        got = _got(driver.stop, expected)
        if not dry_run:
            assert got == expected, f"line {i}: expected {expected}, got {got}; so far {actual}"
        elif driver.stop is None:
            print(f"    ({got!r}, {command!r}),  # the run ended")
            break
        result = plain(driver.call(command))
        name = command if isinstance(command, str) else command[0]
        name = ALIASES.get(name, ("", name))[1]
        if dry_run:
            shown = "" if result is None or (name in RESUMING and len(line) < 3) \
                else f", {result!r}"
            print(f"    ({got!r}, {command!r}{shown}),")
        elif len(line) > 2:
            assert result == line[2], f"line {i}: {command!r} returned {result!r}, " \
                f"expected {line[2]!r}"
        actual.append((got, command, result))
        resumed = name in RESUMING
    last = dbg.wait_for_stop(WAIT) if resumed else driver.stop
    while dry_run and last is not None:
        print(f"    ({_got(last, None)!r}, 'continue'),  # not in the transcript")
        dbg.continue_execution()
        last = dbg.wait_for_stop(WAIT)
    assert last is None, f"unexpected extra stop {last}"
    return handle.result(WAIT)
