"""The immutable shape of a workflow: inputs, steps, retry policies, outputs.

Objects here are built by the loader (``model/loader.py``) or the builder
(``model/builder.py``) and are already validated: the engine trusts them. Templates are
compiled once, here, so that the engine's hot path only renders them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowscope.expressions import Expression, Template

#: Input types a workflow may declare, and the Python types a value of each may have.
INPUT_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
    "any": (object,),
}

#: Error categories a retry policy may name (see ``flowscope.engine.classify``).
ERROR_CATEGORIES: tuple[str, ...] = (
    "validation",
    "timeout",
    "external_service",
    "authentication",
    "rate_limit",
    "resource",
    "data",
    "cancelled",
    "internal",
)

#: Categories retried when a step's retry policy does not say (``retry.on`` omitted).
DEFAULT_RETRY_ON: tuple[str, ...] = ("timeout", "external_service")

#: Where a ``uses`` step's function runs: ``thread`` (a worker thread; the default for
#: sync functions), ``process`` (a fresh process per attempt: CPU time and peak RSS are
#: measured and a timeout kills it), ``inline`` (on the event loop: quick functions only).
EXECUTORS: tuple[str, ...] = ("thread", "process", "inline")
#: What happens on resume to an external step whose attempt started but never committed.
ON_CRASH: tuple[str, ...] = ("rerun", "fail", "ask")

#: Categories no policy may retry: the same input fails the same way every time.
NEVER_RETRIED: frozenset[str] = frozenset({"validation", "data"})


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One declared workflow input."""

    name: str
    """The input's name, as used in ``inputs.<name>``."""
    type: str = "any"
    """One of ``INPUT_TYPES``."""
    required: bool = False
    """Whether a run must supply it (a default makes a required input optional)."""
    default: Any = None
    """Value used when the run does not supply one (``None``: no default)."""
    has_default: bool = False
    """Whether ``default`` was given (so that a default of ``null`` is expressible)."""
    description: str = ""
    """Free text for people."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed step is retried."""

    attempts: int = 1
    """Total attempts, the first included (1: no retry)."""
    backoff: float = 1.0
    """Seconds before the first retry; doubled for each later retry."""
    max_backoff: float = 60.0
    """Upper bound on the wait between attempts, in seconds."""
    on: tuple[str, ...] = DEFAULT_RETRY_ON
    """Error categories that are retried; others fail the step at once."""
    jitter: bool = True
    """Whether each wait is drawn uniformly from [wait/2, wait] (spreads retry storms)."""

    def delay(self, retry_number: int, rand: float = 1.0) -> float:
        """Return the wait in seconds before retry ``retry_number`` (1-based)."""
        base = float(min(self.max_backoff, self.backoff * (2 ** (retry_number - 1))))
        if self.jitter:
            return base * (0.5 + 0.5 * rand)
        return base


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a workflow: a callable (``uses``) or a sub-workflow (``workflow``)."""

    id: str
    """Unique within the workflow."""
    uses: str | None = None
    """``"package.module:function"`` or a name registered with the engine."""
    workflow: str | None = None
    """A sub-workflow: a path (relative to the parent's file) or a registered name."""
    with_: Mapping[str, Any] = field(default_factory=dict)
    """Raw inputs as written (may hold ``${{ }}`` templates)."""
    needs: tuple[str, ...] = ()
    """Ids of steps that must finish first: the DAG's edges."""
    if_: str | None = None
    """Raw condition text; ``None``: always run."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retry policy (default: a single attempt)."""
    timeout: float | None = None
    """Seconds an attempt may run; ``None``: no limit."""
    set: Mapping[str, Any] = field(default_factory=dict)
    """Run variables written from the output: name -> template (``output`` in scope)."""
    effects: str | None = None
    """``"external"`` when the step talks to the outside world (not repeated on replay)."""
    executor: str | None = None
    """Where the function runs: ``thread``, ``process``, ``inline`` or a registered name."""
    on_crash: str = "rerun"
    """For external steps: what resume does with an attempt that started but never
    committed (``rerun`` with the same idempotency key, ``fail``, or ``ask``)."""
    description: str = ""
    """Free text for people."""
    index: int = 0
    """Position in the definition's ``steps`` list."""
    line: int | None = None
    """Line of the step in its source file, when known."""
    with_template: Template = field(default_factory=lambda: _empty_template())
    """``with_`` compiled."""
    condition: Expression | None = None
    """``if_`` compiled."""
    set_templates: Mapping[str, Template] = field(default_factory=dict)
    """``set`` compiled."""

    @property
    def is_external(self) -> bool:
        """Whether the step has external effects."""
        return self.effects == "external"

    @property
    def is_subworkflow(self) -> bool:
        """Whether the step runs a sub-workflow."""
        return self.workflow is not None


@dataclass(frozen=True, slots=True)
class Workflow:
    """A validated workflow definition."""

    name: str
    """The workflow's name (analytics group runs by it)."""
    steps: tuple[Step, ...]
    """Steps in definition order."""
    version: str = "1"
    """Free-form version label of the definition."""
    description: str = ""
    """Free text for people."""
    inputs: tuple[InputSpec, ...] = ()
    """Declared inputs."""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """Raw outputs as written (templates over the final state)."""
    outputs_template: Template = field(default_factory=lambda: _empty_template())
    """``outputs`` compiled."""
    source: str | None = None
    """The file it was loaded from, when it came from a file."""
    definition: Mapping[str, Any] = field(default_factory=dict)
    """The definition as a plain dict (what ``to_dict`` returns and the store keeps)."""
    definition_hash: str = ""
    """SHA-256 of the canonical JSON of ``definition``."""
    subworkflows: Mapping[str, Workflow] = field(default_factory=dict)
    """Sub-workflows resolved at load time, by the step id that uses them."""

    def step(self, step_id: str) -> Step:
        """Return the step with this id (``KeyError`` if there is none)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Step ids in definition order."""
        return tuple(s.id for s in self.steps)

    def dependents(self) -> dict[str, list[str]]:
        """Map each step id to the ids of the steps that need it."""
        out: dict[str, list[str]] = {s.id: [] for s in self.steps}
        for s in self.steps:
            for n in s.needs:
                out[n].append(s.id)
        return out

    def descendants(self, step_id: str) -> set[str]:
        """Return the ids of every step that (transitively) needs ``step_id``."""
        deps = self.dependents()
        seen: set[str] = set()
        todo = list(deps[step_id])
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(deps[s])
        return seen

    def ancestors(self, step_id: str) -> set[str]:
        """Return the ids of every step that ``step_id`` (transitively) needs."""
        by_id = {s.id: s for s in self.steps}
        seen: set[str] = set()
        todo = list(by_id[step_id].needs)
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(by_id[s].needs)
        return seen

    def to_dict(self) -> dict[str, Any]:
        """Return the definition as a plain, JSON-serialisable dict."""
        return dict(self.definition)


def _empty_template() -> Template:
    from flowscope.expressions import compile_template

    return compile_template({})
