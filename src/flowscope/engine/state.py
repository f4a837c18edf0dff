"""The live state of a run: what a person inspects and what templates read."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from flowscope.engine.events import (
    Event,
    EventKind,
    RunRewound,
    RunStarted,
    StepStarted,
    VariableEdited,
    VarsSet,
)
from flowscope.engine.status import StepStatus


class RunState:
    """Inputs, step results and variables of one run.

    The same dicts are handed to templates as the scope on every step (no copy on the
    hot path); edits go through the methods here so the scope stays consistent.
    """

    __slots__ = ("inputs", "run", "scope", "statuses", "steps", "vars")

    def __init__(
        self,
        *,
        inputs: Mapping[str, Any],
        run: Mapping[str, Any],
        vars: Mapping[str, Any] | None = None,
    ) -> None:
        self.inputs: dict[str, Any] = dict(inputs)
        self.run: dict[str, Any] = dict(run)
        self.vars: dict[str, Any] = dict(vars or {})
        #: step id -> {"output": ..., "status": ...}, as templates see it.
        self.steps: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, StepStatus] = {}
        self.scope: dict[str, Any] = {
            "inputs": self.inputs, "steps": self.steps, "vars": self.vars, "run": self.run,
        }

    def set_result(self, step_id: str, status: StepStatus, output: Any = None) -> None:
        """Record a step's final status (and output when it completed)."""
        self.statuses[step_id] = status
        self.steps[step_id] = {"output": output, "status": status.value}

    def forget(self, step_id: str) -> None:
        """Drop a step's result (rewind)."""
        self.statuses.pop(step_id, None)
        self.steps.pop(step_id, None)

    def replace_vars(self, values: Mapping[str, Any]) -> None:
        """Replace all variables, keeping the same dict (the scope holds it)."""
        self.vars.clear()
        self.vars.update(values)


#: The events that change a run's variables, in the order ``fold_vars`` reads them.
STATE_KINDS: tuple[EventKind, ...] = (
    EventKind.RUN_STARTED, EventKind.VARS_SET, EventKind.VARIABLE_EDITED,
    EventKind.RUN_REWOUND, EventKind.STEP_STARTED,
)


def apply_state_event(out: dict[str, Any], event: Event) -> dict[str, Any]:
    """Apply one event to run variables ``out``; return the variables after it."""
    if isinstance(event, RunStarted):
        if event.vars:
            return copy.deepcopy(dict(event.vars))
    elif isinstance(event, VarsSet):
        out.update(copy.deepcopy(dict(event.values)))
    elif isinstance(event, VariableEdited):
        if event.path == "vars" and isinstance(event.new, dict):
            return copy.deepcopy(event.new)
        if event.path.startswith("vars."):
            assign_path(out, event.path[5:], copy.deepcopy(event.new))
    elif isinstance(event, RunRewound) and event.vars is not None:
        return copy.deepcopy(dict(event.vars))
    return out


def vars_at_starts(events: Sequence[Event]) -> dict[tuple[str, int], dict[str, Any]]:
    """(step id, attempt) -> the variables that attempt started with, in one pass.

    ``events`` may be only the state kinds (``STATE_KINDS``): an attempt's ``state_seq``
    then falls between them, and it saw what the events up to that seq left behind.
    """
    wanted: list[tuple[int, tuple[str, int]]] = sorted(
        (e.state_seq, (e.step_id, e.attempt)) for e in events
        if isinstance(e, StepStarted) and e.step_id and e.state_seq is not None)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    current: dict[str, Any] = {}
    i = 0
    for event in events:
        while i < len(wanted) and wanted[i][0] < event.seq:
            out[wanted[i][1]] = copy.deepcopy(current)
            i += 1
        current = apply_state_event(current, event)
    for _, key in wanted[i:]:
        out[key] = copy.deepcopy(current)
    return out


def fold_vars(events: Iterable[Event], *,
              keep: Callable[[Event], bool] | None = None) -> dict[str, Any]:
    """The run variables the events leave behind: the one way run state is rebuilt.

    Resume, fork, traces and error context all read variables through this function,
    so a debugger edit (``VariableEdited``) or a rewind counts the same everywhere.
    ``keep`` picks the events that count (e.g. those before a step boundary).
    """
    out: dict[str, Any] = {}
    for event in events:
        if keep is None or keep(event):
            out = apply_state_event(out, event)
    return out


def boundary_seq(events: Iterable[Event], step_id: str) -> int | None:
    """The seq up to which the events made the state the step's latest attempt saw.

    ``None`` when the step never started (or the journal predates ``state_seq``).
    """
    found: int | None = None
    for event in events:
        if isinstance(event, StepStarted) and event.step_id == step_id:
            found = event.state_seq
    return found


def vars_before(events: Sequence[Event], step_id: str) -> dict[str, Any] | None:
    """The run variables the latest attempt of ``step_id`` started with (``None``: unknown).

    This is the one definition of "the state at a step boundary": fork, traces, error
    context and the debugger's history read it through here.
    """
    seq = boundary_seq(events, step_id)
    if seq is None:
        return None
    return fold_vars(events, keep=lambda e: e.seq <= seq)


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_state_path(path: str) -> list[str | int]:
    """Split ``a.b[2].c`` into ``["a", "b", 2, "c"]``."""
    return [int(idx) if idx else name for name, idx in _PART.findall(path)]


def assign_path(target: dict[str, Any], path: str, value: Any) -> bool:
    """Set ``target[path] = value`` for a dotted path; return False if a parent is missing."""
    parts = split_state_path(path)
    if not parts:
        return False
    node: Any = target
    for part in parts[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    last = parts[-1]
    try:
        node[last] = value
    except (IndexError, TypeError):
        return False
    return True
