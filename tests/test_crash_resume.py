"""A run killed with SIGKILL in the middle resumes from its journal; no committed step reruns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from flowscope.engine import Engine, RunStatus
from flowscope.store import open_store

pytestmark = pytest.mark.slow  # spawns processes: left out of the fast tier

ACTIONS = '''
import os, time
from pathlib import Path

def work(name, out):
    d = Path(out)
    with open(d / "effects.log", "a") as f:
        f.write(name + "\\n")
        f.flush()
        os.fsync(f.fileno())
    if name.endswith("block") and (d / "block.flag").exists():
        (d / "blocked").write_text(name)
        time.sleep(120)
    return name.upper()
'''

CHILD = '''
name: child
inputs: {out: {type: string, required: true}}
steps:
  - {id: c1, uses: "crash_actions:work", with: {name: c1, out: "${{ inputs.out }}"}}
  - {id: cblock, uses: "crash_actions:work", needs: [c1],
     with: {name: cblock, out: "${{ inputs.out }}"}}
  - {id: c2, uses: "crash_actions:work", needs: [cblock],
     with: {name: c2, out: "${{ inputs.out }}"}}
outputs: {last: "${{ steps.c2.output }}"}
'''

PARENT = '''
name: parent
inputs: {out: {type: string, required: true}, where: {type: string, default: top}}
steps:
  - {id: a, uses: "crash_actions:work", with: {name: a, out: "${{ inputs.out }}"}}
  - {id: b, uses: "crash_actions:work", needs: [a], with: {name: b, out: "${{ inputs.out }}"},
     set: {seen_b: "${{ output }}"}}
  - {id: c, uses: "crash_actions:work", needs: [b], with: {name: c, out: "${{ inputs.out }}"}}
  - {id: d, uses: "crash_actions:work", needs: [b], with: {name: d, out: "${{ inputs.out }}"}}
  - {id: block, uses: "crash_actions:work", needs: [c, d], if: "inputs.where == 'top'",
     with: {name: block, out: "${{ inputs.out }}"}}
  - {id: sub, workflow: ./child.yaml, needs: [c, d], if: "inputs.where == 'child'",
     with: {out: "${{ inputs.out }}"}}
  - {id: e, uses: "crash_actions:work", needs: [block], with: {name: e, out: "${{ inputs.out }}"}}
  - {id: e2, uses: "crash_actions:work", needs: [sub], with: {name: e2, out: "${{ inputs.out }}"}}
outputs: {b: "${{ vars.seen_b }}"}
'''

RUNNER = '''
import sys
from flowscope.engine import Engine
from flowscope.store import open_store
store = open_store(sys.argv[1])
engine = Engine(store)
engine.run(sys.argv[2], {"out": sys.argv[3], "where": sys.argv[4]})
'''


def _setup(tmp_path: Path) -> Path:
    (tmp_path / "crash_actions.py").write_text(ACTIONS)
    (tmp_path / "child.yaml").write_text(CHILD)
    (tmp_path / "parent.yaml").write_text(PARENT)
    (tmp_path / "runner.py").write_text(RUNNER)
    (tmp_path / "block.flag").write_text("1")
    return tmp_path / "parent.yaml"


def _kill_when_blocked(proc: subprocess.Popen[bytes], tmp_path: Path) -> None:
    deadline = time.monotonic() + 60
    while not (tmp_path / "blocked").exists():
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"runner ended early ({proc.returncode}): {out}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("runner never reached the blocking step")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


@pytest.mark.parametrize("where", ["top", "child"])
def test_sigkill_then_resume(tmp_path: Path, where: str) -> None:
    wf = _setup(tmp_path)
    db = tmp_path / "runs.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path("src").resolve()),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "runner.py"), str(db), str(wf), str(tmp_path), where],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    _kill_when_blocked(proc, tmp_path)

    store = open_store(str(db))
    [run] = store.list_runs(roots_only=True)
    assert run.status is RunStatus.RUNNING  # the process died: nobody closed the run
    committed_before = {s.step_id for s in store.get_steps(run.id)
                        if s.status.value == "completed"}
    assert {"a", "b", "c", "d"} <= committed_before

    (tmp_path / "block.flag").unlink()
    result = Engine(store).resume(run.id[:8])
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.outputs == {"b": "B"}

    counts = Counter((tmp_path / "effects.log").read_text().split())
    for step in ("a", "b", "c", "d", "e" if where == "top" else "e2"):
        assert counts[step] == 1, counts  # committed before the crash: never ran again
    if where == "top":
        assert counts["block"] == 2  # started but not committed: runs again
        assert counts["e2"] == 0  # its need was skipped, so it is skipped too
    else:
        assert counts["c1"] == 1 and counts["c2"] == 1 and counts["cblock"] == 2
        children = store.list_runs(parent_run_id=run.id)
        assert len(children) == 1  # the child run was picked up, not started anew
        assert children[0].status is RunStatus.COMPLETED
    kinds = [e.kind.value for e in store.get_events(run.id)]
    assert "run_resumed" in kinds
    seqs = [e.seq for e in store.get_events(run.id)]
    assert seqs == sorted(set(seqs))


def test_resume_through_cli_module(tmp_path: Path) -> None:
    wf = _setup(tmp_path)
    db = tmp_path / "runs.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path("src").resolve()),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "runner.py"), str(db), str(wf), str(tmp_path), "top"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    _kill_when_blocked(proc, tmp_path)
    (tmp_path / "block.flag").unlink()
    run_id = open_store(str(db)).list_runs()[0].id
    done = subprocess.run(
        [sys.executable, "-m", "flowscope.cli.main", "resume", run_id, "--db", str(db)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert open_store(str(db)).get_run(run_id).status is RunStatus.COMPLETED
