"""The run status machine, checked against a model written out here by hand.

The model below is deliberately independent of ``flowscope.engine.status.TRANSITIONS``
(the table the code reads): it is typed out from the documented life of a run, as plain
strings, so a wrong edit to the table shows up as a disagreement instead of being copied
into the expectation.

``interrupted`` (a run stopped by Ctrl-C or a lost owner that can be resumed) is part of
the model already. Where ``RunStatus`` has no ``INTERRUPTED`` member yet, the rules and
tests about it are skipped; everything else is checked in full either way.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from flowscope.engine import Engine, RunStatus
from flowscope.engine.status import TRANSITIONS, check_transition
from flowscope.errors import InvalidTransitionError
from flowscope.model import workflow_from_dict
from flowscope.store import open_store

# -- the model ----------------------------------------------------------------------------

#: Every status a run can have, by value.
MODEL_STATUSES = (
    "pending", "running", "paused", "interrupted", "completed", "failed", "cancelled",
)

#: Statuses a run never leaves.
MODEL_FINISHED = frozenset({"completed", "failed", "cancelled"})

#: Every allowed move, one (from, to) pair a line. Anything not listed is refused.
MODEL_MOVES = frozenset({
    ("pending", "running"),
    ("pending", "cancelled"),
    ("pending", "failed"),  # fails before its first step (e.g. a child cannot load)
    ("running", "paused"),
    ("running", "completed"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("running", "interrupted"),
    ("paused", "running"),
    ("paused", "failed"),
    ("paused", "cancelled"),
    ("paused", "interrupted"),
    ("interrupted", "running"),  # resumed
    ("interrupted", "cancelled"),
    ("interrupted", "failed"),
})

HAS_INTERRUPTED = hasattr(RunStatus, "INTERRUPTED")
needs_interrupted = pytest.mark.skipif(
    not HAS_INTERRUPTED, reason="RunStatus has no INTERRUPTED member yet"
)

#: The model's statuses that exist in the code (all of them once INTERRUPTED lands).
PRESENT = tuple(s for s in MODEL_STATUSES if s in {m.value for m in RunStatus})


def allowed(current: str, new: str) -> bool:
    """What the model says about a move."""
    return (current, new) in MODEL_MOVES


def test_the_model_knows_every_status_in_the_code() -> None:
    unknown = {m.value for m in RunStatus} - set(MODEL_STATUSES)
    assert not unknown, f"add {sorted(unknown)} to this test's model before using them"
    assert {"pending", "running", "paused", "completed", "failed", "cancelled"} <= set(PRESENT)


def test_the_model_is_sane() -> None:
    # A check of the hand-written model itself: finished statuses have no way out, and every
    # non-finished status has one.
    for status in MODEL_STATUSES:
        outgoing = {new for cur, new in MODEL_MOVES if cur == status}
        assert (not outgoing) == (status in MODEL_FINISHED), status
    assert all(cur != new for cur, new in MODEL_MOVES)


def test_every_pair_agrees_with_the_model() -> None:
    for current, new in itertools.product(PRESENT, repeat=2):
        if allowed(current, new):
            assert check_transition(RunStatus(current), RunStatus(new)) is RunStatus(new)
        else:
            with pytest.raises(InvalidTransitionError, match=current):
                check_transition(RunStatus(current), RunStatus(new), run_id="r1")


def test_finished_statuses_agree_with_the_model() -> None:
    for value in PRESENT:
        assert RunStatus(value).is_finished == (value in MODEL_FINISHED), value


@needs_interrupted
def test_interrupted_is_resumable_and_not_finished() -> None:
    interrupted = RunStatus("interrupted")
    assert not interrupted.is_finished
    for before in ("running", "paused"):
        assert check_transition(RunStatus(before), interrupted) is interrupted
    for after in ("running", "cancelled", "failed"):
        assert check_transition(interrupted, RunStatus(after)) is RunStatus(after)
    for refused in ("pending", "paused", "completed"):
        with pytest.raises(InvalidTransitionError):
            check_transition(interrupted, RunStatus(refused))
    with pytest.raises(InvalidTransitionError, match="pending"):
        check_transition(RunStatus.PENDING, interrupted)  # a run never started is not resumable


def test_every_transition_is_checked() -> None:
    # check_transition follows the table it reads, and the table ends finished runs.
    for current in RunStatus:
        for new in RunStatus:
            if new in TRANSITIONS[current]:
                assert check_transition(current, new) is new
            else:
                with pytest.raises(InvalidTransitionError, match=current.value):
                    check_transition(current, new, run_id="r1")
    assert all(not TRANSITIONS[s] for s in RunStatus if s.is_finished)


# -- check_transition against the model, on random walks and random pairs ------------------

present = st.sampled_from(PRESENT)


class TransitionModelMachine(RuleBasedStateMachine):
    """Walk a run through random moves with ``check_transition``; it agrees with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.current = "pending"

    def _try(self, new: str) -> None:
        try:
            got = check_transition(RunStatus(self.current), RunStatus(new), run_id="r1")
        except InvalidTransitionError as exc:
            assert not allowed(self.current, new), f"{self.current} -> {new} was refused"
            assert (exc.current, exc.new) == (self.current, new)
        else:
            assert allowed(self.current, new), f"{self.current} -> {new} was accepted"
            assert got is RunStatus(new)
            self.current = new

    @rule(new=present)
    def move(self, new: str) -> None:
        self._try(new)

    @rule(current=present, new=present)
    def any_pair(self, current: str, new: str) -> None:
        accepted = True
        try:
            check_transition(RunStatus(current), RunStatus(new))
        except InvalidTransitionError:
            accepted = False
        assert accepted == allowed(current, new), f"{current} -> {new}"

    @rule()
    def start_over(self) -> None:
        self.current = "pending"

    @precondition(lambda self: HAS_INTERRUPTED)
    @rule()
    def interrupt(self) -> None:
        self._try("interrupted")

    @precondition(lambda self: HAS_INTERRUPTED and self.current == "interrupted")
    @rule(new=present)
    def leave_interrupted(self, new: str) -> None:
        self._try(new)

    @invariant()
    def finished_is_final(self) -> None:
        if self.current in MODEL_FINISHED:
            assert RunStatus(self.current).is_finished


TestTransitionModelMachine = TransitionModelMachine.TestCase
TestTransitionModelMachine.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None
)


# -- the engine's own status changes, as stored, against the model ---------------------------


class RunStatusMachine(RuleBasedStateMachine):
    """Drive a stored run through random status changes; the store agrees with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.store = open_store("memory")
        self.engine = Engine(self.store, actions={"noop": lambda: None})
        wf = workflow_from_dict({"name": "m", "steps": [{"id": "a", "uses": "noop"}]})
        self.execution = self.engine.prepare(wf)
        self.model = "pending"

    def _set(self, new: str) -> None:
        try:
            self.execution._set_status(RunStatus(new))
        except InvalidTransitionError:
            assert not allowed(self.model, new), f"{self.model} -> {new} was refused"
        else:
            assert allowed(self.model, new), f"{self.model} -> {new} was accepted"
            self.model = new

    @rule(new=present)
    def move(self, new: str) -> None:
        self._set(new)

    @rule()
    def pause(self) -> None:
        before = self.model
        self.execution.pause("pause")
        # Only a running run stops; pausing anything else changes nothing.
        expected = "paused" if before == "running" else before
        assert self.execution.status.value == expected
        self.model = expected

    @rule()
    def unpause(self) -> None:
        before = self.model
        self.execution.resume()
        after = self.execution.status.value
        if before == "paused":
            assert after == "running"
        elif before == "interrupted":
            # The model allows either; how a paused-resume call treats an interrupted run
            # is the engine's choice, not the status machine's.
            assert after in {"interrupted", "running"}
        else:
            assert after == before
        self.model = after

    @precondition(lambda self: HAS_INTERRUPTED)
    @rule()
    def interrupt(self) -> None:
        self._set("interrupted")

    @invariant()
    def store_agrees(self) -> None:
        assert self.store.get_run(self.execution.run_id).status.value == self.model
        assert self.execution.status.value == self.model


TestRunStatusMachine = RunStatusMachine.TestCase
TestRunStatusMachine.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
