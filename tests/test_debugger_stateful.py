"""A Hypothesis state machine driving breakpoints, stepping and snapshots on random workflows.

Invariants: a run never executes a step while stopped (each step checks when it runs);
the snapshot ring never exceeds its bound; and with no edits, whatever the commands, the
run's outputs equal an undebugged run's and every step runs exactly once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from flowscope.debugger import WorkflowDebugger
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict
from flowscope.store import open_store

WAIT = 10.0
MAX_SNAPSHOTS = 4


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    """A random DAG of 2-6 steps, maybe with one sub-workflow step."""
    n = draw(st.integers(2, 6))
    steps: list[dict[str, Any]] = []
    sub_at = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    for i in range(n):
        needs = sorted(draw(st.sets(st.sampled_from([f"s{j}" for j in range(i)]), max_size=2))
                       if i else set())
        if i == sub_at:
            child = {"name": "kid", "steps": [
                {"id": "k0", "uses": "rec", "with": {"name": "k0"}},
                {"id": "k1", "uses": "rec", "needs": ["k0"], "with": {"name": "k1"}}],
                "outputs": {"v": "${{ steps.k1.output }}"}}
            steps.append({"id": f"s{i}", "workflow": "kid", "workflow_definition": child,
                          "needs": needs})
        else:
            steps.append({"id": f"s{i}", "uses": "rec", "needs": needs,
                          "with": {"name": f"s{i}"}, "set": {f"v{i}": "${{ output }}"}})
    outputs = {f"o{i}": f"${{{{ steps.s{i}.output }}}}" for i in range(n)}
    return {"name": "rand", "steps": steps, "outputs": outputs}


class DebuggerMachine(RuleBasedStateMachine):
    """Random commands at random stops of one run."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.violations: list[str] = []
        self.dbg: WorkflowDebugger | None = None
        self.stop: Any = None
        self.ended = False

    @initialize(definition=workflows(), entry=st.booleans(),
                bps=st.sets(st.sampled_from(["s0", "s1", "s2", "s3", "k0", "k1"])))
    def start(self, definition: dict[str, Any], entry: bool, bps: set[str]) -> None:
        self.wf = workflow_from_dict(definition)
        plain = Engine(open_store("memory"), actions={"rec": lambda name: name})
        self.expected = plain.run(self.wf).outputs
        engine = Engine(open_store("memory"), actions={"rec": self._rec})
        self.dbg = WorkflowDebugger(engine, user="u", max_snapshots=MAX_SNAPSHOTS)
        for step in sorted(bps):
            self.dbg.set_breakpoint(step)
        self.handle = self.dbg.start(self.wf, stop_on_entry=entry)
        self._next()

    async def _rec(self, name: str) -> str:
        assert self.dbg is not None and self.dbg.session is not None
        if self.dbg.session.current_stop() is not None:
            self.violations.append(name)  # a step started while the run was stopped
        self.calls[name] += 1
        return name

    def _next(self) -> None:
        assert self.dbg is not None
        self.stop = self.dbg.wait_for_stop(WAIT)
        self.ended = self.stop is None

    @precondition(lambda self: not self.ended)
    @rule(command=st.sampled_from(["step_over", "step_into", "step_out",
                                   "continue_execution"]))
    def command(self, command: str) -> None:
        assert self.dbg is not None
        getattr(self.dbg, command)()
        self._next()

    @precondition(lambda self: not self.ended)
    @rule(step=st.sampled_from(["s0", "s1", "s2", "s3", "s4", "s5", "k0", "k1"]),
          add=st.booleans())
    def toggle_breakpoint(self, step: str, add: bool) -> None:
        assert self.dbg is not None
        if add:
            self.dbg.set_breakpoint(step)
            assert self.dbg.has_breakpoint(step)
        else:
            self.dbg.clear_breakpoint(step)
            assert not self.dbg.has_breakpoint(step)

    @precondition(lambda self: not self.ended)
    @rule()
    def inspect_snapshots(self) -> None:
        assert self.dbg is not None
        snaps = self.dbg.get_snapshots()
        assert [s.id for s in snaps] == sorted(s.id for s in snaps)
        same_run = [s for s in snaps if s.run_id == snaps[-1].run_id] if snaps else []
        if len(same_run) >= 2:
            diff = self.dbg.compare_states(same_run[0].id, same_run[-1].id)
            assert not diff["removed"]  # results are only added while running forward
        state = self.dbg.get_execution_state()
        assert state["status"] == "paused" and state["step_id"] == self.stop.step_id

    @rule()
    def observe(self) -> None:
        if self.ended:  # the run went to its end: its result is there
            assert self.handle.result(WAIT).ok

    @invariant()
    def never_runs_while_stopped(self) -> None:
        assert self.violations == []

    @invariant()
    def ring_is_bounded(self) -> None:
        if self.dbg is not None:
            assert self.dbg.snapshot_count() <= MAX_SNAPSHOTS

    def teardown(self) -> None:
        if self.dbg is None:
            return
        for bp in self.dbg.list_breakpoints():
            self.dbg.clear_breakpoint(str(bp.step_id))
        while not self.ended:
            self.dbg.continue_execution()
            self._next()
        result = self.handle.result(WAIT)
        assert result.ok and result.outputs == self.expected
        assert set(self.calls.values()) == {1}
        assert self.violations == []
        self.dbg.close()


DebuggerMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=12,
                                             deadline=None)
test_debugger_state_machine = DebuggerMachine.TestCase
