"""The stepping predicate: whether the recorded stepping mode stops before a step.

Like ``bdb.Bdb.stop_here``, :func:`stop_here` is a pure function of the state a stepping
command recorded (the mode and the frames of the stop it was given at) and the step
about to start. It has no side effects, so the same question always gets the same
answer, and it is tested on its own with a table of cases.
"""

from __future__ import annotations

from flowscope.debugger.stops import StepMode
from flowscope.engine.hooks import Frame, PendingStep

__all__ = ["stop_here"]


def stop_here(mode: StepMode, ref_frames: tuple[Frame, ...], pending: PendingStep) -> bool:
    """Return whether ``mode``, recorded at a stop at ``ref_frames``, stops before ``pending``.

    - ``CONTINUE`` never stops (breakpoints are decided elsewhere); ``PAUSE`` always does.
    - With no reference frames (a restore, or no stop yet) any step stops.
    - ``OVER`` stops at the next step of the same run, or of an ancestor run once the
      reference run ended.
    - ``OUT`` stops only in an ancestor run.
    - ``INTO`` (recorded only at a sub-workflow step) stops inside the sub-workflow that
      step starts. A sibling step of the reference step that becomes ready meanwhile does
      not take the stop; only once the reference step has finished without stopping
      inside (a sub-workflow with nothing to run) does the same run stop again, as
      ``OVER`` would. An ancestor run stops too (the reference run ended).
    """
    if mode is StepMode.CONTINUE:
        return False
    if mode is StepMode.PAUSE or not ref_frames:
        return True
    depth, ref_depth = pending.depth, len(ref_frames)
    ref = ref_frames[-1]
    ancestor = depth < ref_depth and pending.run_id == ref_frames[depth - 1].run_id
    if ancestor:
        return True
    if mode is StepMode.OUT:
        return False
    same = pending.run_id == ref.run_id
    if mode is StepMode.OVER:
        return same
    # INTO
    if depth > ref_depth:
        return pending.parent_frames[ref_depth - 1] == ref
    return same and ref.step_id in pending.state.statuses
