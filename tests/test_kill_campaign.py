"""A bounded kill campaign: SIGKILL a run at random moments and at every exact commit point.

A child process (forked by ``kill_child.py``, a small fork server that has Flowscope
imported already, so that each child starts in milliseconds) runs a workflow with a
chain, a fan-out/fan-in, a retried step, a sub-workflow and an ``effects: external``
step. The parent kills it, then resumes the run in new processes until it completes,
and checks the durability rules on what the journal and the per-attempt side-effect
tokens say:

- the run completes with the right outputs;
- a step with a committed completed attempt did its effect exactly once for that attempt,
  and never ran again after it was committed;
- no step ran concurrently with itself;
- each run's events have seqs 1..n with no gaps;
- the sub-workflow's child run is reused on resume, never run again once it completed.

Kills: each exact commit point (just before and just after the Nth journal write, for
every write of a clean run), then 30 random moments on SQLite and 15 on PostgreSQL
(seeded). The whole campaign runs once per store, in a module fixture; each rule is a
test of its own so that a known defect fails only its rule.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import kill_child
from flowscope.engine import RunRecord, RunStatus, StepStatus
from flowscope.store.testing import make_store, store_params

pytestmark = pytest.mark.slow

SEED = 20261201
RANDOM_KILLS = {"sqlite": 30, "postgres": 15}
#: A child that neither ends nor is killed within this is a hung engine.
CHILD_TIMEOUT = 60.0
#: Processes allowed to resume one run before the campaign gives up on it.
MAX_RESUMES = 4

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

@dataclass
class Outcome:
    """One scenario: how the run was killed and what the rules found afterwards."""

    label: str
    window: bool = False
    """Killed after the child run committed ``completed``, before the parent step did."""
    resumes: int = 0
    """Processes that resumed the run (0: it ended, or was never recorded, in the first)."""
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Campaign:
    """Every scenario of one store."""

    kind: str
    writes: list[str] = field(repr=False)
    outcomes: list[Outcome] = field(repr=False)

    def violations(self, rule: str) -> list[str]:
        return [f"{o.label}: {v}" for o in self.outcomes for v in o.violations.get(rule, [])]


class ForkServer:
    """Talks to ``kill_child.py``: one forked child per task, killed by its pid."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(SRC), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "kill_child.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, text=True, bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("eof")

    def _answer(self, prefix: str, bound: float) -> str:
        line = self.lines.get(timeout=bound)
        assert line.startswith(prefix), f"fork server said {line!r}"
        return line.split()[1]

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def start(self, task: kill_child.Task) -> int:
        """Fork a child for ``task``; return its pid."""
        self._send(json.dumps(dataclasses.asdict(task)))
        return int(self._answer("pid", 30.0))

    def kill(self) -> int:
        """SIGKILL the child (a no-op if it has ended); return its exit code."""
        self._send("kill")
        return int(self._answer("exit", 10.0))

    def wait(self, pid: int) -> int | None:
        """The child's exit code; ``None`` when it hung (it is then killed)."""
        self._send("wait")
        try:
            return int(self._answer("exit", CHILD_TIMEOUT))
        except queue.Empty:
            # The server is still waiting on the child, so its pid is not reused yet.
            os.kill(pid, signal.SIGKILL)
            self._answer("exit", 10.0)
            return None

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


class Runner:
    """Runs scenarios on one store and checks the rules after each."""

    def __init__(self, kind: str, store: Any, base: Path, server: ForkServer) -> None:
        self.store = store
        self.server = server
        self.base = base
        if kind == "sqlite":
            self.spec: tuple[str, ...] = ("sqlite", str(base / "flowscope.db"))
        else:
            url, schema = store.url.split("#", 1)
            self.spec = ("postgres", url, schema)
        self.outcomes: list[Outcome] = []

    def _join(self, pid: int, outcome: Outcome, what: str) -> int | None:
        code = self.server.wait(pid)
        if code is None:
            outcome.violations["completion"].append(f"{what} hung for {CHILD_TIMEOUT}s")
        return code

    def scenario(self, label: str, *, crash: tuple[int, str] | None = None,
                 kill_after: float | None = None) -> Outcome:
        outcome = Outcome(label)
        out = self.base / label
        out.mkdir()
        task = kill_child.Task(self.spec, str(out), 0, crash_at=crash[0] if crash else None,
                               when=crash[1] if crash else "after")
        pid = self.server.start(task)
        if kill_after is not None:
            _wait_for(out / "ready.0", out / "seconds.0")
            time.sleep(kill_after)  # the random moment itself, not a wait for something
            self.server.kill()
        else:
            code = self._join(pid, outcome, "the first process")
            wrote = out / "writes.log"
            made = len(wrote.read_text().splitlines()) if wrote.exists() else 0
            # A step slower than the engine's start-flush delay commits its start on its
            # own, so how many writes a run makes depends on timing: a run that ended
            # cleanly before reaching write N simply had fewer writes.
            ended_first = code == 0 and made < (crash[0] if crash else 0)
            if crash is not None and code != 137 and not ended_first:
                outcome.violations["completion"].append(
                    f"the first process should have died at write {crash[0]}, exited {code}")
        root = self._root(label)
        if root is None:
            if (out / "tokens.log").exists():
                outcome.violations["rerun"].append("a step ran before its run was recorded")
            self.outcomes.append(outcome)
            return outcome
        outcome.window = self._in_subworkflow_window(root)
        life = 0
        while not root.status.is_finished and life < MAX_RESUMES:
            life += 1
            pid = self.server.start(kill_child.Task(self.spec, str(out), life, run_id=root.id))
            code = self._join(pid, outcome, f"resume #{life}")
            if code != 0:
                error = (out / f"error.{life}")
                detail = error.read_text().strip().splitlines()[-1] if error.exists() else ""
                outcome.violations["completion"].append(
                    f"resume #{life} exited {code}: {detail}")
            root = self.store.get_run(root.id)
        outcome.resumes = life
        self._check(outcome, root, out)
        self.outcomes.append(outcome)
        return outcome

    def _root(self, label: str) -> RunRecord | None:
        for run in self.store.list_runs(workflow="kill_main", roots_only=True, limit=None):
            if run.inputs.get("scenario") == label:
                return run
        return None

    def _in_subworkflow_window(self, root: RunRecord) -> bool:
        children = self.store.list_runs(parent_run_id=root.id, limit=None)
        child_done = any(c.status is RunStatus.COMPLETED for c in children)
        sub_done = any(a.step_id == "sub" and a.status is StepStatus.COMPLETED
                       for a in self.store.get_steps(root.id))
        return child_done and not sub_done

    # -- the rules -----------------------------------------------------------------------------

    def _check(self, outcome: Outcome, root: RunRecord, out: Path) -> None:
        v = outcome.violations
        if root.status is not RunStatus.COMPLETED:
            v["completion"].append(f"run ended {root.status.value}")
        elif root.outputs != kill_child.EXPECTED_OUTPUTS:
            v["completion"].append(f"outputs {root.outputs}")
        tokens = _read_tokens(out / "tokens.log")
        children = self.store.list_runs(parent_run_id=root.id, limit=None)
        for run in [root, *children]:
            self._check_attempts(v, run.id, tokens)
            seqs = [e.seq for e in self.store.get_events(run.id)]
            if seqs != list(range(1, len(seqs) + 1)):
                missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
                v["seq"].append(f"run {run.id[:8]}: seqs missing {missing[:10]} "
                                f"(duplicates: {len(seqs) - len(set(seqs))})")
        _check_concurrency(v, tokens)
        rule = "child_window" if outcome.window else "child_reuse"
        sub = [a for a in self.store.get_steps(root.id)
               if a.step_id == "sub" and a.status is StepStatus.COMPLETED]
        if len(children) != 1:
            ran = Counter(t[2] for t in tokens if t[0] == "begin" and t[2] in ("c1", "c2"))
            v[rule].append(f"{len(children)} child runs (child steps begun: {dict(ran)})")
        elif sub and sub[0].child_run_id != children[0].id:
            v[rule].append("the parent step names another child run")

    def _check_attempts(self, v: dict[str, list[str]], run_id: str,
                        tokens: list[tuple[str, str, str, int, int]]) -> None:
        for att in self.store.get_steps(run_id):
            if att.step_id not in kill_child.CODE_STEPS or att.status is not StepStatus.COMPLETED:
                continue
            life = att.output["life"]
            key = (run_id, att.step_id)
            effects = [t for t in tokens if t[0] == "effect" and t[1:3] == key
                       and t[3] == att.attempt and t[4] == life]
            if len(effects) != 1:
                v["rerun"].append(f"{att.step_id}#{att.attempt} committed by process {life} "
                                  f"has {len(effects)} effect tokens from it")
            later = [t for t in tokens if t[0] == "begin" and t[1:3] == key
                     and (t[4] > life or (t[4] == life and t[3] > att.attempt))]
            if later:
                v["rerun"].append(f"{att.step_id} ran again after its commit: {later}")


def _read_tokens(path: Path) -> list[tuple[str, str, str, int, int]]:
    """(kind, run, step, attempt, life) for each token line, in the order written.

    A line cut short by the kill (no trailing newline) is ignored.
    """
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines(keepends=True):
        if not line.endswith("\n"):
            continue
        kind, run, step, attempt, life, _pid = line.split()
        out.append((kind, run, step, int(attempt), int(life)))
    return out


def _check_concurrency(v: dict[str, list[str]],
                       tokens: list[tuple[str, str, str, int, int]]) -> None:
    # Processes of a scenario never overlap (each ends before the next starts), so a
    # copy left open by a killed process is closed by the next process's first begin.
    open_in: dict[tuple[str, str], int | None] = {}
    for kind, run, step, _attempt, life in tokens:
        key = (run, step)
        if kind == "begin":
            if open_in.get(key) == life:
                v["concurrency"].append(f"{step} began while a copy of it was running")
            open_in[key] = life
        elif kind == "end":
            if open_in.get(key) != life:
                v["concurrency"].append(f"{step} ended in process {life} out of turn")
            open_in[key] = None


def _wait_for(path: Path, ended: Path, bound: float = 30.0) -> None:
    """Poll until ``path`` exists (or ``ended`` does: the child is already done)."""
    deadline = time.monotonic() + bound
    while not path.exists() and not ended.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the child never wrote {path.name} within {bound}s")
        time.sleep(0.001)


@pytest.fixture(scope="module", params=store_params(("sqlite", "postgres")))
def campaign(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    """Run the whole campaign on one store; the tests below each check one rule."""
    kind = request.param
    base = tmp_path_factory.mktemp(f"kill-{kind}")
    server = ForkServer()
    with make_store(kind, base) as store:
        runner = Runner(kind, store, base, server)
        clean = runner.scenario("clean")
        assert not any(clean.violations.values()), clean.violations
        writes = (base / "clean" / "writes.log").read_text().splitlines()
        for n in range(1, len(writes) + 1):
            for when in ("before", "after"):
                runner.scenario(f"{when}-{n:02d}", crash=(n, when))
        run_seconds = float((base / "clean" / "seconds.0").read_text())
        rng = random.Random(SEED)
        for k in range(RANDOM_KILLS[kind]):
            runner.scenario(f"random-{k:02d}", kill_after=rng.uniform(0.0, run_seconds))
        yield Campaign(kind, writes, runner.outcomes)
    server.close()


def test_exact_points_cover_every_kind_of_write(campaign: Campaign) -> None:
    """The clean run makes every kind of write; one exact point lands in the child window."""
    methods = {w.split()[1] for w in campaign.writes}
    assert methods == set(kill_child.WRITES), campaign.writes
    assert any("update_run" in w and w.endswith("completed") for w in campaign.writes)
    assert any(o.window and o.label.startswith(("before", "after")) for o in campaign.outcomes)


def test_random_kills_land_inside_runs(campaign: Campaign) -> None:
    """Most random kills interrupt a run (else the random half of the campaign is idle)."""
    randoms = [o for o in campaign.outcomes if o.label.startswith("random")]
    assert len(randoms) == RANDOM_KILLS[campaign.kind]
    assert sum(1 for o in randoms if o.resumes) * 3 >= len(randoms)


def test_every_killed_run_completes_with_its_outputs(campaign: Campaign) -> None:
    """Each run, however it was killed, completes on resume with the workflow's outputs."""
    assert campaign.violations("completion") == []


def test_no_committed_step_runs_again(campaign: Campaign) -> None:
    """A committed attempt did its effect once, and its step never began again after it."""
    assert campaign.violations("rerun") == []


def test_no_step_runs_concurrently_with_itself(campaign: Campaign) -> None:
    """No step's code begins while another copy of it is still running."""
    assert campaign.violations("concurrency") == []


def test_event_seqs_have_no_gaps(campaign: Campaign) -> None:
    """Every run's events are seq 1..n after its resumes: a kill loses no seq to a gap.

    Today a step's start events are held in memory until its result commits, so a kill
    after a parallel branch commits leaves the seqs the other branches took unused.
    """
    assert campaign.violations("seq") == []


def test_unfinished_subworkflow_child_is_picked_up(campaign: Campaign) -> None:
    """A kill anywhere but the child-completed window still leaves exactly one child run."""
    assert campaign.violations("child_reuse") == []


def test_completed_subworkflow_child_is_reused_not_run_again(campaign: Campaign) -> None:
    """Killed after the child run committed ``completed`` but before the parent's ``sub``.

    Resume must reuse the completed child run's outputs: one child run, its steps never
    begun again. Today a new child run starts and every child step runs again.
    """
    window = [o for o in campaign.outcomes if o.window]
    assert window
    assert campaign.violations("child_window") == []
