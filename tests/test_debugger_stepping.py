"""The pure stepping predicate ``stop_here(mode, ref_frames, pending)``, case by case.

Frames of the table: the root run R (workflow ``root``) runs ``a``, the sub-workflow step
``sub`` (child run C) and its sibling ``sib``; C runs ``c1`` and the sub-workflow step
``csub`` (grandchild run G, step ``g1``). A sibling sub-workflow step ``other`` of R
starts child run O (step ``o1``).
"""

from __future__ import annotations

import pytest

from flowscope.debugger.stepping import stop_here
from flowscope.debugger.stops import StepMode
from flowscope.engine.hooks import Frame, PendingStep
from flowscope.engine.state import RunState
from flowscope.engine.status import StepStatus
from flowscope.model import workflow_from_dict

WF = workflow_from_dict({"name": "root", "steps": [
    {"id": step, "uses": "rec"} for step in ("a", "sub", "sib", "other", "c1", "csub", "g1",
                                             "o1")]})

R_SUB = Frame("R", "root", "sub")
R_OTHER = Frame("R", "root", "other")
C_CSUB = Frame("C", "child", "csub")

#: Where a stop was: the frames of the stop a command was given at.
AT_SUB = (R_SUB,)
AT_C1 = (R_SUB, Frame("C", "child", "c1"))
AT_CSUB = (R_SUB, C_CSUB)
AT_G1 = (R_SUB, C_CSUB, Frame("G", "grand", "g1"))


def pending(where: str, finished: tuple[str, ...] = ()) -> PendingStep:
    """The step about to start, by name: ``R.sib``, ``C.c1``, ``G.g1``, ``O.o1``..."""
    run, step = where.split(".")
    parents = {"R": (), "C": (R_SUB,), "G": (R_SUB, C_CSUB), "O": (R_OTHER,)}[run]
    state = RunState(inputs={}, run={})
    for done in finished:
        state.set_result(done, StepStatus.COMPLETED)
    return PendingStep(run_id=run, step=WF.step(step), workflow=WF, attempt=1, input={},
                       state=state, parent_frames=parents)


OVER, INTO, OUT, CONT, PAUSE = (StepMode.OVER, StepMode.INTO, StepMode.OUT, StepMode.CONTINUE,
                                StepMode.PAUSE)

CASES = [
    # mode, stopped at, next step, finished in its run, stops?
    (CONT, AT_SUB, "R.sib", (), False),  # continue: only breakpoints stop
    (CONT, AT_C1, "C.csub", (), False),
    (PAUSE, AT_SUB, "R.sib", (), True),  # pause: the next step anywhere
    (PAUSE, AT_G1, "O.o1", (), True),
    (OVER, (), "G.g1", (), True),  # no reference (after a restore): any step
    (INTO, (), "R.sib", (), True),
    (OVER, AT_SUB, "R.sib", (), True),  # over: the same run...
    (OVER, AT_SUB, "C.c1", (), False),  # ... not inside the step run over
    (OVER, AT_C1, "C.csub", (), True),
    (OVER, AT_C1, "G.g1", (), False),
    (OVER, AT_C1, "R.sib", (), True),  # ... or an ancestor, once the child ended
    (OVER, AT_G1, "R.sib", (), True),
    (OVER, AT_C1, "O.o1", (), False),  # ... never a cousin run
    (OUT, AT_C1, "C.csub", (), False),  # out: not the same run
    (OUT, AT_G1, "G.g1", (), False),
    (OUT, AT_G1, "C.c1", (), True),  # the parent...
    (OUT, AT_G1, "R.sib", (), True),  # ... or above
    (OUT, AT_SUB, "R.sib", (), False),  # out of the root: nothing above
    (INTO, AT_SUB, "C.c1", (), True),  # into: the first step of the child
    (INTO, AT_CSUB, "G.g1", (), True),
    (INTO, AT_SUB, "G.g1", (), True),  # deeper in the child too
    (INTO, AT_SUB, "R.sib", (), False),  # a ready sibling does not take the stop
    (INTO, AT_SUB, "R.sib", ("a",), False),
    (INTO, AT_SUB, "R.sib", ("sub",), True),  # the child ran without a stop: as over
    (INTO, AT_SUB, "O.o1", (), False),  # another sub-workflow is not the one entered
    (INTO, AT_CSUB, "C.c1", (), False),
    (INTO, AT_CSUB, "R.sib", (), True),  # an ancestor: the child ended
]


@pytest.mark.parametrize(("mode", "ref", "where", "finished", "stops"), CASES)
def test_stop_here(mode: StepMode, ref: tuple[Frame, ...], where: str,
                   finished: tuple[str, ...], stops: bool) -> None:
    step = pending(where, finished)
    assert stop_here(mode, ref, step) is stops
    assert stop_here(mode, ref, step) is stops  # no side effect: the same answer again
    assert dict(step.state.statuses) == dict.fromkeys(finished, StepStatus.COMPLETED)
