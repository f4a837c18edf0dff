"""The FlowscopeError tree: every error Flowscope raises on purpose.

Each error says what happened and what to do about it. Errors carry structured fields
(the place in a definition, a run id) so that front ends can show them without parsing
the message.
"""

from __future__ import annotations


class FlowscopeError(Exception):
    """Root of every error Flowscope raises on purpose.

    Args:
        message: What happened.
        hint: What to do about it; appended to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class DefinitionError(FlowscopeError):
    """A workflow definition is invalid.

    Args:
        message: What is wrong.
        place: Where in the definition, e.g. ``steps[2].needs[0]``.
        line: The line in the source file, when known.
        source: The file the definition came from, when known.
        hint: How to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        place: str | None = None,
        line: int | None = None,
        source: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.place = place
        self.line = line
        self.source = source
        where = ""
        if place:
            where = place
        if line is not None:
            where = f"{where} (line {line})" if where else f"line {line}"
        if source:
            where = f"{source}: {where}" if where else source
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class CycleError(DefinitionError):
    """The steps' ``needs`` form a cycle; ``cycle`` lists the step ids in order."""

    def __init__(self, cycle: list[str], **kwargs: object) -> None:
        self.cycle = cycle
        super().__init__(
            "steps form a cycle: " + " -> ".join([*cycle, cycle[0]]),
            hint="remove one of these `needs` entries so the steps form a DAG",
            **kwargs,  # type: ignore[arg-type]
        )


class RecursionLimitError(DefinitionError):
    """Sub-workflows nest deeper than the configured bound."""


class ActionNotFoundError(DefinitionError):
    """A step's ``uses`` or ``workflow`` names something that cannot be found."""


class ExpressionError(FlowscopeError):
    """An expression or template is invalid or cannot be evaluated.

    Args:
        message: What is wrong.
        expression: The expression text.
        hint: How to fix it.
    """

    def __init__(self, message: str, *, expression: str, hint: str | None = None) -> None:
        self.expression = expression
        super().__init__(f"{message} in expression {expression!r}", hint=hint)


class ExpressionSyntaxError(ExpressionError):
    """The expression does not parse or uses a construct that is not allowed."""


class ExpressionEvalError(ExpressionError):
    """The expression parsed but failed while being evaluated."""


class InvalidValueError(FlowscopeError):
    """A value is not of the form expected: not plain JSON data, not a duration, a naive
    datetime (the default error of :mod:`flowscope.model.values`)."""


class InputError(FlowscopeError):
    """Run inputs are missing, unknown or of the wrong type."""


class StoreError(FlowscopeError):
    """The store cannot be opened or used."""


class RunNotFoundError(StoreError):
    """No run has the given id (or the id prefix is ambiguous)."""

    def __init__(self, run_id: str, *, hint: str | None = None) -> None:
        self.run_id = run_id
        super().__init__(
            f"no run with id {run_id!r}",
            hint=hint or "list runs with `flowscope runs` and use one of their ids",
        )


class InvalidTransitionError(FlowscopeError):
    """A run was asked to move between two statuses that do not connect."""

    def __init__(self, current: str, new: str, *, run_id: str | None = None) -> None:
        self.current = current
        self.new = new
        self.run_id = run_id
        who = f"run {run_id} " if run_id else "a run "
        super().__init__(
            f"{who}cannot go from {current!r} to {new!r}",
            hint="only pending->running, running<->paused and running|paused->completed/"
            "failed/cancelled are allowed",
        )


class RunStateError(FlowscopeError):
    """An operation does not fit the run's current state (e.g. resuming a finished run)."""


class StepTimeoutError(FlowscopeError):
    """A step ran longer than its ``timeout``."""

    def __init__(self, step_id: str, timeout: float) -> None:
        self.step_id = step_id
        self.timeout = timeout
        super().__init__(
            f"step {step_id!r} timed out after {timeout:g}s",
            hint="raise the step's `timeout` or make the step faster",
        )


class OutputNotSerializableError(FlowscopeError):
    """A value to store (a step's output, run inputs, an event field) is not JSON data."""


class DebuggerError(FlowscopeError):
    """A debugger command cannot be carried out."""


class AccessDeniedError(DebuggerError):
    """A user tried to read or control another user's debug session."""


class AnalyticsError(FlowscopeError):
    """An analytics query or tracking call has bad arguments."""


class StepCancelledError(FlowscopeError):
    """Raised by ``current_step().check()`` when the attempt was given up."""

    def __init__(self, step_id: str) -> None:
        self.step_id = step_id
        super().__init__(
            f"step {step_id!r} was given up (it timed out or its run was cancelled)",
            hint="stop working and return; the engine no longer waits for this call",
        )


class RunOwnedError(RunStateError):
    """A run is executed by another owner whose lease is live."""

    def __init__(self, run_id: str, owner: str, *, since: str, expires_in: float) -> None:
        self.run_id = run_id
        self.owner = owner
        self.since = since
        self.expires_in = expires_in
        super().__init__(
            f"run {run_id} is being executed by {owner} (since {since}; its lease is renewed "
            f"while it lives and expires in {expires_in:.0f}s if the owner dies)",
            hint=f"wait for it, or cancel it with `flowscope cancel {run_id}`; to take it "
            "over anyway (the owner is then stopped), resume with --force",
        )


class LeaseLostError(RunStateError):
    """This process no longer owns a run: another owner took it over."""

    def __init__(self, run_id: str, *, epoch: int) -> None:
        self.run_id = run_id
        self.epoch = epoch
        super().__init__(
            f"run {run_id} was taken over by another owner; this process stopped it "
            f"(its lease epoch {epoch} is stale) and wrote nothing more",
            hint=f"look at the run with `flowscope show {run_id}`",
        )


class DiagnosisError(FlowscopeError):
    """A diagnosis query has bad arguments, or the run asked about cannot be diagnosed."""


class FilterError(AnalyticsError, DiagnosisError):
    """A query filter is bad: an unknown name, a naive datetime, an unknown status.

    The filters are shared by analytics and diagnosis, so this is both rooms' error.
    """
