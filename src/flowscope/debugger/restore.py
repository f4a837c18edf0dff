"""Restore: rewind a stopped live run to a snapshot, keeping external effects done.

Steps marked ``effects: external`` (a payment, an e-mail) that a restore would set aside
keep their recorded results, and the variables their ``set`` wrote, unless the caller
asks for them to run again (``rerun_effects=True``), as a fork does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from flowscope.engine import events as ev
from flowscope.engine.hooks import RunControl


class Rewound(list[str]):
    """What a restore did: the steps set aside (they run again), in definition order.

    It is the list of those steps (as restore always returned), with one more field.
    """

    kept_external: tuple[str, ...]
    """The ``effects: external`` steps that would have been set aside but kept their
    recorded results (empty with ``rerun_effects=True``)."""

    def __init__(self, rerun: Iterable[str] = (), kept_external: Sequence[str] = ()) -> None:
        super().__init__(rerun)
        self.kept_external = tuple(kept_external)


def rewind_to(execution: RunControl, state: Mapping[str, Any], *, rerun_effects: bool,
              events: Callable[[str], Iterable[ev.Event]]) -> Rewound:
    """Rewind ``execution`` to ``state`` (a snapshot's ``inputs``/``steps``/``vars``).

    Args:
        execution: The stopped run.
        state: The snapshot's state.
        rerun_effects: Let external steps run again too.
        events: Reads a run's journal events (for the variables kept steps set).
    """
    workflow = execution.workflow
    statuses = execution.statuses
    forget = set(statuses) - set(state.get("steps", {}))
    values = dict(state.get("vars", {}))
    keep: list[str] = []
    if not rerun_effects:
        doomed = set(forget)
        for step_id in forget:
            doomed.update(workflow.descendants(step_id))
        keep = [s.id for s in workflow.steps
                if s.id in doomed and s.id in statuses and s.is_external]
    if keep:
        values.update(_vars_set_by(events(execution.run_id), set(keep)))
    rerun = execution.rewind(forget, values, keep=keep)
    return Rewound(rerun, keep)


def _vars_set_by(events: Iterable[ev.Event], steps: set[str]) -> dict[str, Any]:
    """The variables the last ``set`` of each of ``steps`` wrote, in journal order."""
    last: dict[str, ev.VarsSet] = {}
    for event in events:
        step_id = event.step_id
        if isinstance(event, ev.VarsSet) and step_id is not None and step_id in steps:
            last.pop(step_id, None)  # re-inserted: dict order follows the last write
            last[step_id] = event
    out: dict[str, Any] = {}
    for event in last.values():
        out.update(event.values)
    return out
