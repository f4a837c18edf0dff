"""Build a workflow in Python, with the same validation as a YAML definition.

Example::

    wf = (
        WorkflowBuilder("orders")
        .input("order_id", "string", required=True)
        .step("check", "examples.orders:check_stock", with_={"order": "${{ inputs.order_id }}"})
        .step("ship", ship, needs=["check"], retry=3)
        .output("tracking", "${{ steps.ship.output.tracking }}")
        .build()
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flowscope.errors import DefinitionError
from flowscope.model.loader import workflow_from_dict
from flowscope.model.workflow import RetryPolicy, Workflow

__all__ = ["WorkflowBuilder"]


class _Missing:
    """Marks an argument that was not given (``None`` is a valid default)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class WorkflowBuilder:
    """Collect a definition step by step; :meth:`build` validates it like a YAML file.

    Each method returns the builder so calls chain. Nothing is checked until
    :meth:`build`, so errors name the same places (``steps[1].needs[0]``) as for YAML.

    Args:
        name: The workflow's name.
        version: Free-form version label.
        description: Free text for people.
    """

    def __init__(self, name: str, *, version: str = "1", description: str = "") -> None:
        self._data: dict[str, Any] = {"name": name, "version": version}
        if description:
            self._data["description"] = description
        self._inputs: dict[str, Any] = {}
        self._steps: list[dict[str, Any]] = []
        self._outputs: dict[str, Any] = {}

    def input(
        self,
        name: str,
        type: str = "any",  # shadows a builtin to mirror the `type:` key
        *,
        required: bool = False,
        default: Any = _MISSING,
        description: str = "",
    ) -> WorkflowBuilder:
        """Declare an input (``default`` omitted: no default; ``None`` is a default)."""
        spec: dict[str, Any] = {"type": type, "required": required}
        if default is not _MISSING:
            spec["default"] = default
        if description:
            spec["description"] = description
        self._inputs[name] = spec
        return self

    def step(
        self,
        id: str,  # shadows a builtin to mirror the `id:` key
        uses: str | Callable[..., Any] | None = None,
        *,
        workflow: str | Workflow | None = None,
        with_: Mapping[str, Any] | None = None,
        needs: Sequence[str] | str = (),
        if_: str | bool | None = None,
        retry: Mapping[str, Any] | RetryPolicy | int | None = None,
        timeout: float | str | None = None,
        set: Mapping[str, Any] | None = None,  # shadows a builtin to mirror the `set:` key
        effects: str | None = None,
        executor: str | None = None,
        description: str = "",
    ) -> WorkflowBuilder:
        """Add a step running a callable (``uses``) or a sub-workflow (``workflow``).

        Args:
            id: Unique step id.
            uses: ``"package.module:function"``, a registered name, or a module-level
                function (stored as its ``module:qualname``).
            workflow: A path, a registered name, or a built :class:`Workflow` (its
                definition is stored inline).
            with_: Inputs of the step (may hold ``${{ }}`` templates).
            needs: Ids of steps that must finish first.
            if_: Condition; the step is skipped when it is false.
            retry: Attempts, or a mapping / :class:`RetryPolicy`.
            timeout: Seconds (or ``"30s"``, ``"2m"``, ``"500ms"``).
            set: Run variables written from the output.
            effects: ``"external"`` for steps that touch the outside world.
            executor: ``"thread"``, ``"process"`` or ``"inline"``: where the function runs.
            description: Free text for people.
        """
        index = len(self._steps)
        step: dict[str, Any] = {"id": id}
        if uses is not None:
            step["uses"] = uses if isinstance(uses, str) else _callable_path(uses, index)
        if isinstance(workflow, Workflow):
            step["workflow"] = workflow.name
            step["workflow_definition"] = dict(workflow.definition)
        elif workflow is not None:
            step["workflow"] = workflow
        if with_:
            step["with"] = dict(with_)
        if needs:
            step["needs"] = [needs] if isinstance(needs, str) else list(needs)
        if if_ is not None:
            step["if"] = if_
        if isinstance(retry, RetryPolicy):
            step["retry"] = {
                "attempts": retry.attempts,
                "backoff": retry.backoff,
                "max_backoff": retry.max_backoff,
                "on": list(retry.on),
                "jitter": retry.jitter,
            }
        elif retry is not None:
            step["retry"] = dict(retry) if isinstance(retry, Mapping) else retry
        if timeout is not None:
            step["timeout"] = timeout
        if set:
            step["set"] = dict(set)
        if effects is not None:
            step["effects"] = effects
        if executor is not None:
            step["executor"] = executor
        if description:
            step["description"] = description
        self._steps.append(step)
        return self

    def output(self, name: str, template: Any) -> WorkflowBuilder:
        """Declare a workflow output: a template over the final run state."""
        self._outputs[name] = template
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return the definition collected so far, in the YAML format's shape."""
        data = dict(self._data)
        if self._inputs:
            data["inputs"] = dict(self._inputs)
        data["steps"] = list(self._steps)
        if self._outputs:
            data["outputs"] = dict(self._outputs)
        return data

    def build(
        self,
        *,
        registry: Mapping[str, Workflow] | None = None,
        base_dir: Path | None = None,
        max_depth: int = 10,
    ) -> Workflow:
        """Validate the definition and return the workflow.

        Args:
            registry: Workflows that ``workflow=`` may name.
            base_dir: Directory that relative sub-workflow paths start from.
            max_depth: How deep sub-workflows may nest.

        Raises:
            DefinitionError: As for a YAML definition.
        """
        return workflow_from_dict(
            self.to_dict(),
            source=f"<builder {self._data['name']!r}>",
            base_dir=base_dir,
            max_depth=max_depth,
            registry=registry,
        )


def _callable_path(fn: Callable[..., Any], index: int) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        raise DefinitionError(
            f"cannot refer to {fn!r} by name (a lambda, a local function or a callable object)",
            place=f"steps[{index}].uses",
            hint="define the function at module level, or register it with the engine "
            "under a name and pass that name",
        )
    return f"{module}:{qualname}"
