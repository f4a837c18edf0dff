"""The state at failure: inputs, the step's input, upstream outputs, vars, stack."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.diagnosis.durations import DurationSource
from flowscope.diagnosis.failures import FailureFilter, FailureSource
from flowscope.diagnosis.rootcause import Analysis, RootFailure, final_attempts
from flowscope.diagnosis.suggest import FailureFacts
from flowscope.engine.journal import Journal
from flowscope.engine.records import ErrorInfo, RunRecord
from flowscope.engine.state import STATE_KINDS, vars_at_starts
from flowscope.engine.status import StepStatus


def stack_frames(error: ErrorInfo) -> list[dict[str, Any]]:
    """Return every frame, outermost first: ``file``, ``line``, ``function``, ``is_user_code``."""
    return [{"file": f.file, "line": f.line, "function": f.function,
             "is_user_code": f.is_user_code} for f in error.frames]


def stack_view(error: ErrorInfo) -> dict[str, Any]:
    """Return the stack with user frames first (innermost first) and library frames collapsed.

    ``collapsed`` keeps the call order (outermost first) with each run of consecutive
    library frames folded into one ``{"library_frames": n, "files": [...]}`` entry.
    """
    user = [fr for fr in stack_frames(error) if fr["is_user_code"]]
    collapsed: list[dict[str, Any]] = []
    for fr in stack_frames(error):
        if fr["is_user_code"]:
            collapsed.append(fr)
            continue
        base = re.split(r"[\\/]", fr["file"])[-1]
        if collapsed and "library_frames" in collapsed[-1]:
            collapsed[-1]["library_frames"] += 1
            if base not in collapsed[-1]["files"]:
                collapsed[-1]["files"].append(base)
        else:
            collapsed.append({"library_frames": 1, "files": [base]})
    return {
        "user_frames": list(reversed(user)),
        "library_frame_count": len(error.frames) - len(user),
        "collapsed": collapsed,
    }


def step_definition(run: RunRecord, step_id: str | None) -> dict[str, Any] | None:
    """Return the step as written in the run's stored definition."""
    for step in (run.definition or {}).get("steps", ()):
        if isinstance(step, Mapping) and step.get("id") == step_id:
            return dict(step)
    return None


def error_context(store: Journal, analysis: Analysis) -> dict[str, Any]:
    """Return the state at the root cause of a failed run (see ``get_error_context``)."""
    root = analysis.root_cause
    top = analysis.run
    out: dict[str, Any] = {
        "run_id": top.id, "workflow": top.workflow, "version": top.version,
        "status": top.status.value, "root_run_inputs": dict(top.inputs),
    }
    if root is None:
        out.update({"failed_run_id": None, "step_id": None, "attempt": None, "inputs": {},
                    "step_input": None, "upstream_outputs": {}, "vars": dict(top.vars),
                    "error": None, "stack": None})
        return out
    run = root.run
    attempts = store.get_steps(run.id)
    final = final_attempts(attempts)
    definition = step_definition(run, root.step_id) or {}
    needs = [str(n) for n in definition.get("needs", ())]
    upstream = {n: final[n].output for n in needs
                if n in final and final[n].status is StepStatus.COMPLETED}
    # The variables as they were when the failing attempt started, folded from the journal
    # the same way resume, fork and traces read them (debugger edits included).
    started = vars_at_starts(store.get_events(run.id, kinds=STATE_KINDS))
    vars_at = None
    if root.attempt is not None and root.step_id is not None:
        vars_at = started.get((root.step_id, root.attempt.attempt))
    if vars_at is None:  # the step never started (or the journal predates state_seq)
        vars_at = dict(run.vars)
    step_attempts = [a for a in attempts if a.step_id == root.step_id]
    out.update({
        "failed_run_id": run.id, "failed_workflow": run.workflow, "step_id": root.step_id,
        "attempt": root.attempt.attempt if root.attempt is not None else None,
        "attempts": len(step_attempts),
        "inputs": dict(run.inputs),
        "step_input": (dict(root.attempt.input) if root.attempt is not None
                       and root.attempt.input is not None else None),
        "upstream_outputs": upstream, "vars": vars_at,
        "error": _error_dict(root.error),
        "stack": stack_view(root.error) if root.error is not None else None,
    })
    return out


def _error_dict(error: ErrorInfo | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"type": error.type, "message": error.message, "category": error.category,
            "status_code": error.status_code, "traceback": error.traceback}


def facts_for(
    source: FailureSource | None, root: RootFailure, *, now: datetime | None = None,
    durations: DurationSource | None = None,
) -> FailureFacts:
    """Gather what the suggestions need about a root failure.

    Args:
        source: Past failures (``None``: no history).
        root: The root failure.
        now: The end of the windows (default: now).
        durations: Supplies the step's duration percentiles over the last week
            (``None``: the suggestions quote none).
    """
    error = root.error or ErrorInfo(type="UnknownError", message="")
    step_def = step_definition(root.run, root.step_id)
    attempt = root.attempt
    facts: dict[str, Any] = {
        "error": error, "step_id": root.step_id, "step_def": step_def,
        "step_input": attempt.input if attempt is not None else None,
        "inputs": root.run.inputs,
        "peak_memory_bytes": attempt.peak_memory_bytes if attempt is not None else None,
    }
    if source is not None and root.step_id is not None:
        now = now or datetime.now(UTC)
        wf = root.run.workflow
        facts["day"] = source.step_sample(wf, root.step_id, now - timedelta(days=1))
        if durations is not None:
            facts["week"] = durations.step_durations(wf, root.step_id,
                                                     now - timedelta(days=7))
        facts["category_last_day"] = len(source.failures(FailureFilter(
            workflow=wf, step_id=root.step_id, category=error.category,
            since=now - timedelta(days=1), include_cascade=True)))
    return FailureFacts(**facts)
