"""The live state of a run: what a person inspects and what templates read."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

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

    def output(self, step_id: str) -> Any:
        """The output of a completed step (``None`` otherwise)."""
        entry = self.steps.get(step_id)
        return entry["output"] if entry else None

    def snapshot(self) -> dict[str, Any]:
        """Return a deep copy of inputs, step results and vars (independent of the run)."""
        return copy.deepcopy({"inputs": self.inputs, "steps": self.steps, "vars": self.vars})
