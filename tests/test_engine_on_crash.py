"""External effects across a crash: a durable start, the same idempotency key, ``on_crash``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowscope.engine import Engine, RunStatus
from flowscope.engine.events import StepEffectUncertain, StepStarted
from flowscope.errors import RunStateError
from flowscope.store import open_store

pytestmark = pytest.mark.slow

ACTIONS = '''
import os
from pathlib import Path
from flowscope import current_step

def prepare(out):
    return "order-1"

def charge(order, out):
    key = current_step().idempotency_key
    with open(Path(out) / "charges.log", "a") as f:
        f.write(key + "\\n")
        f.flush()
        os.fsync(f.fileno())
    if (Path(out) / "die").exists():
        (Path(out) / "die").unlink()
        os._exit(9)  # the process dies mid-call: the charge may or may not have happened
    return {"charged": order, "key": key}
'''

WORKFLOW = """
name: pay
inputs: {out: {type: string, required: true}}
steps:
  - {id: prepare, uses: "pay_actions:prepare", with: {out: "${{ inputs.out }}"}}
  - id: charge
    uses: "pay_actions:charge"
    effects: external
    POLICY
    needs: [prepare]
    with: {order: "${{ steps.prepare.output }}", out: "${{ inputs.out }}"}
outputs: {charge: "${{ steps.charge.output }}"}
"""


def crashed_run(tmp_path: Path, policy: str = "") -> tuple[str, Path]:
    """Run the workflow in a child process that dies inside the external step."""
    (tmp_path / "pay_actions.py").write_text(ACTIONS)
    wf = tmp_path / "pay.yaml"
    wf.write_text(WORKFLOW.replace("POLICY", policy))
    (tmp_path / "die").write_text("1")
    db = tmp_path / "runs.db"
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from flowscope import Engine, open_store, load_workflow
        store = open_store({str(db)!r})
        Engine(store).run(load_workflow({str(wf)!r}), {{"out": {str(tmp_path)!r}}})
    ''')
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9 or proc.returncode == 9, proc.stderr.decode()
    store = open_store(str(db))
    run = store.list_runs(limit=1)[0]
    started = [e for e in store.get_events(run.id) if isinstance(e, StepStarted)
               and e.step_id == "charge"]
    store.close()
    assert started, "the external step's start was committed before its code ran"
    return run.id, db


def keys(tmp_path: Path) -> list[str]:
    return (tmp_path / "charges.log").read_text().split()


def _resume(tmp_path: Path, db: Path, run_id: str, **kwargs: str) -> tuple[object, list]:
    sys.path.insert(0, str(tmp_path))
    try:
        store = open_store(str(db))
        engine = Engine(store)
        try:
            result = engine.resume(run_id, **kwargs)  # type: ignore[arg-type]
        finally:
            engine.close()
        events = store.get_events(run_id)
        store.close()
        return result, events
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("pay_actions", None)


def test_rerun_by_default_with_the_same_idempotency_key(tmp_path: Path) -> None:
    run_id, db = crashed_run(tmp_path)
    result, events = _resume(tmp_path, db, run_id)
    assert result.status is RunStatus.COMPLETED  # type: ignore[attr-defined]
    first, again = keys(tmp_path)
    assert first == again  # the provider sees the same key and can deduplicate
    uncertain = [e for e in events if isinstance(e, StepEffectUncertain)]
    assert [(e.step_id, e.attempt, e.action) for e in uncertain] == [("charge", 1, "rerun")]
    assert uncertain[0].idempotency_key == first


def test_fail_policy_fails_the_step_without_calling_it_again(tmp_path: Path) -> None:
    run_id, db = crashed_run(tmp_path, "on_crash: fail")
    result, events = _resume(tmp_path, db, run_id)
    assert result.status is RunStatus.FAILED  # type: ignore[attr-defined]
    assert result.failed_step == "charge"  # type: ignore[attr-defined]
    assert "may already have had its external effect" in result.error.message  # type: ignore[attr-defined]
    assert len(keys(tmp_path)) == 1
    assert any(isinstance(e, StepEffectUncertain) and e.action == "fail" for e in events)


def test_ask_policy_refuses_until_someone_decides(tmp_path: Path) -> None:
    run_id, db = crashed_run(tmp_path, "on_crash: ask")
    with pytest.raises(RunStateError, match="--on-crash rerun"):
        _resume(tmp_path, db, run_id)
    store = open_store(str(db))
    assert store.get_run(run_id).status is RunStatus.RUNNING  # still resumable
    assert not store.lease_info(run_id).live
    store.close()
    result, _ = _resume(tmp_path, db, run_id, on_crash="rerun")
    assert result.status is RunStatus.COMPLETED  # type: ignore[attr-defined]
    assert len(set(keys(tmp_path))) == 1 and len(keys(tmp_path)) == 2
