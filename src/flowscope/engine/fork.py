"""Fork: a new run of a past run's definition from one of its steps, with edited state.

The steps before the fork point keep their recorded outputs (they are not executed
again, which matters most for steps with external effects); the fork point and every
step after it run. A fork goes through the same execution path as any run: its reused
results are preloaded exactly as a resumed run's are.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flowscope.engine import events as ev
from flowscope.engine.execution import Preloaded
from flowscope.engine.records import RunRecord, RunResult, StepAttemptRecord
from flowscope.engine.state import STATE_KINDS, boundary_seq, fold_vars
from flowscope.engine.status import StepStatus
from flowscope.errors import FlowscopeError
from flowscope.model import workflow_from_dict
from flowscope.model.workflow import Workflow

if TYPE_CHECKING:
    from flowscope.engine.execution import RunExecution
    from flowscope.engine.journal import Journal


class ForkHost(Protocol):
    """What a fork needs from the engine (``Engine`` is one)."""

    store: Journal
    max_depth: int
    workflows: dict[str, Workflow]

    def prepare(self, workflow: Workflow, inputs: Mapping[str, Any] | None = None, *,
                user: str | None = None, tags: Mapping[str, str] | None = None,
                preloaded: Preloaded | None = None,
                forked_from: tuple[str, str] | None = None,
                state_vars: Mapping[str, Any] | None = None) -> RunExecution:
        """Validate and record a run; return its execution (not started)."""
        ...


@dataclass(frozen=True, slots=True)
class ForkPlan:
    """What a fork would do."""

    source_run_id: str
    from_step: str
    reuse: tuple[str, ...]
    """Steps whose recorded results are used as they are."""
    run: tuple[str, ...]
    """Steps that execute in the fork."""
    external_repeated: tuple[str, ...]
    """Steps with external effects that would call the outside world again."""
    external_reused: tuple[str, ...]
    """Steps with external effects whose recorded output is reused (no new call)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as plain data."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


def _latest(steps: list[StepAttemptRecord]) -> dict[str, StepAttemptRecord]:
    out: dict[str, StepAttemptRecord] = {}
    for att in steps:
        out[att.step_id] = att
    return out


def plan_fork(engine: ForkHost, run_id: str, from_step: str, *,
              rerun_effects: bool = False) -> tuple[ForkPlan, RunRecord, Workflow]:
    """Work out which steps a fork reuses and which it runs."""
    record = engine.store.get_run(run_id)
    wf = workflow_from_dict(record.definition, source=record.source,
                            max_depth=engine.max_depth, registry=engine.workflows)
    if from_step not in wf.step_ids:
        raise FlowscopeError(
            f"workflow {wf.name!r} has no step {from_step!r}",
            hint="fork from one of: " + ", ".join(wf.step_ids),
        )
    rerun = {from_step} | wf.descendants(from_step)
    latest = _latest(engine.store.get_steps(record.id))
    if rerun_effects:
        for step in wf.steps:
            if step.is_external and step.id not in rerun:
                rerun |= {step.id} | wf.descendants(step.id)
    # The fork point is a moment: the steps whose results the source's ``from_step`` saw
    # are reused; a parallel step that finished later runs again (with what follows it),
    # except an external one, whose recorded result stays unless ``rerun_effects``.
    events = engine.store.get_events(record.id, kinds=_FORK_KINDS)
    boundary = boundary_seq(events, from_step)
    if boundary is not None:
        committed = {e.step_id: e.seq for e in events
                     if e.step_id is not None and not isinstance(e, ev.StepStarted)}
        for step in wf.steps:
            seq = committed.get(step.id)
            if step.id in rerun or seq is None or seq <= boundary:
                continue
            if step.is_external and not rerun_effects:
                continue
            rerun |= {step.id} | wf.descendants(step.id)
    reuse = [s.id for s in wf.steps if s.id not in rerun and s.id in latest
             and latest[s.id].status in (StepStatus.COMPLETED, StepStatus.SKIPPED)]
    run = [s.id for s in wf.steps if s.id not in reuse]
    plan = ForkPlan(
        source_run_id=record.id, from_step=from_step, reuse=tuple(reuse), run=tuple(run),
        external_repeated=tuple(s for s in run if wf.step(s).is_external),
        external_reused=tuple(s for s in reuse if wf.step(s).is_external),
    )
    return plan, record, wf


_FORK_KINDS = (ev.EventKind.STEP_STARTED, ev.EventKind.STEP_COMPLETED,
               ev.EventKind.STEP_SKIPPED, ev.EventKind.STEP_REUSED)


def _apply_edit(target: dict[str, Any], path: list[str], value: Any, full: str) -> None:
    node: Any = target
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            try:
                node = node[int(part)]
                continue
            except (ValueError, IndexError):
                pass
        elif isinstance(node, dict):
            if part not in node or node[part] is None:
                node[part] = {}
            node = node[part]
            continue
        raise FlowscopeError(
            f"cannot edit {full!r}: {'.'.join(path[: i + 1])!r} is not a mapping or list",
            hint="edit paths look like 'vars.x', 'inputs.y' or 'steps.s.output.field'",
        )
    last = path[-1]
    if isinstance(node, list):
        try:
            node[int(last)] = value
            return
        except (ValueError, IndexError):
            raise FlowscopeError(f"cannot edit {full!r}: no list index {last!r}",
                                 hint="use an existing index") from None
    if not isinstance(node, dict):
        raise FlowscopeError(f"cannot edit {full!r}: the parent is not a mapping",
                             hint="edit a field of a mapping")
    node[last] = value


def _prepare(
    plan: ForkPlan, record: RunRecord, wf: Workflow, engine: ForkHost,
    state_edits: Mapping[str, Any] | None, from_step: str,
) -> tuple[dict[str, Any], dict[str, Any], Preloaded]:
    latest = _latest(engine.store.get_steps(record.id))
    inputs = copy.deepcopy(dict(record.inputs))
    reused = set(plan.reuse)
    events = engine.store.get_events(record.id, kinds=STATE_KINDS)
    # The fork point is where the source run's latest attempt of ``from_step`` started:
    # its state is what that attempt saw (debugger edits included). A reused step that
    # finished later (an external one on a parallel branch) has its ``set`` applied too.
    boundary = boundary_seq(events, from_step)

    def before_fork(event: ev.Event) -> bool:
        if boundary is None or event.seq <= boundary:
            return True
        return isinstance(event, ev.VarsSet) and event.step_id in reused

    vars_ = fold_vars(events, keep=before_fork)
    outputs = {sid: copy.deepcopy(latest[sid].output) for sid in plan.reuse}
    for path, value in (state_edits or {}).items():
        parts = path.split(".")
        root = parts[0]
        if root == "inputs" and len(parts) > 1:
            _apply_edit(inputs, parts[1:], value, path)
        elif root == "vars" and len(parts) > 1:
            _apply_edit(vars_, parts[1:], value, path)
        elif root == "steps" and len(parts) > 3 and parts[2] == "output":
            sid = parts[1]
            if sid not in outputs:
                raise FlowscopeError(
                    f"cannot edit {path!r}: step {sid!r} is not reused by this fork",
                    hint="edit the output of a step before the fork point: "
                    + (", ".join(plan.reuse) or "none"),
                )
            holder = {"output": outputs[sid]}
            _apply_edit(holder, ["output", *parts[3:]], value, path)
            outputs[sid] = holder["output"]
        elif root == "steps" and len(parts) == 3 and parts[2] == "output":
            if parts[1] not in outputs:
                raise FlowscopeError(f"cannot edit {path!r}: step {parts[1]!r} is not reused",
                                     hint="edit a step before the fork point")
            outputs[parts[1]] = value
        else:
            raise FlowscopeError(
                f"cannot edit {path!r}",
                hint="edit paths look like 'vars.x', 'inputs.y' or 'steps.s.output.field'",
            )
    results = {
        sid: dataclasses.replace(latest[sid], output=outputs[sid]) for sid in plan.reuse
    }
    return inputs, vars_, Preloaded(results=results, next_attempt={}, reused_from=record.id,
                                    first_step=from_step)


async def fork_async(
    engine: ForkHost, run_id: str, from_step: str, *,
    state_edits: Mapping[str, Any] | None = None, rerun_effects: bool = False,
) -> RunResult:
    """Run a fork of ``run_id`` from ``from_step`` to its end."""
    plan, record, wf = plan_fork(engine, run_id, from_step, rerun_effects=rerun_effects)
    inputs, vars_, preloaded = _prepare(plan, record, wf, engine, state_edits, from_step)
    execution = engine.prepare(
        wf, inputs, user=record.user, tags=record.tags, preloaded=preloaded,
        forked_from=(record.id, from_step), state_vars=vars_,
    )
    return await execution.execute()
