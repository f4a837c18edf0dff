"""Where step code runs: worker thread, the loop (inline), its own process; what is measured."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from flowscope.engine import Engine, RunStatus
from flowscope.errors import ActionNotFoundError, DefinitionError
from flowscope.model import load_workflow, workflow_from_dict

ACTIONS = '''
import time

class RequestException(OSError):
    pass

class HTTPError(RequestException):
    def __init__(self, message, status_code):
        super().__init__(message)
        self.status_code = status_code

def burn(ms):
    end = time.process_time() + ms / 1000
    x = 0
    while time.process_time() < end:
        x += 1
    return x > 0

def allocate(mb):
    block = bytearray(mb * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)

def refuse():
    raise ConnectionRefusedError("connection refused by upstream")

def http_503():
    raise HTTPError("503 Server Error: Service Unavailable", 503)

def nap_pid(seconds, out):
    import os
    with open(out, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    with open(out + ".done", "w") as f:
        f.write("finished")
    return seconds


def nap(seconds):
    time.sleep(seconds)
    print("this goes to stderr, not into the report")
    return seconds
'''


def _write(tmp_path: Path, steps: str) -> Path:
    (tmp_path / "exec_actions.py").write_text(ACTIONS)
    path = tmp_path / "wf.yaml"
    path.write_text("name: executors\nsteps:\n" + steps)
    return path


def test_process_step_measures_cpu_and_peak_memory(memory_store: Any, tmp_path: Path) -> None:
    wf = load_workflow(_write(tmp_path, """
  - {id: cpu, uses: "exec_actions:burn", executor: process, with: {ms: 300}}
  - {id: mem, uses: "exec_actions:allocate", executor: process, with: {mb: 50}}
  - {id: out, uses: "exec_actions:nap", executor: process, with: {seconds: 0}}
"""))
    result = Engine(memory_store).run(wf)
    assert result.ok, result.error
    steps = {s.step_id: s for s in memory_store.get_steps(result.id)}
    assert 250 <= (steps["cpu"].cpu_time_ms or 0) <= 600
    peak = steps["mem"].peak_memory_bytes or 0
    assert 0.8 * 50 * 2**20 <= peak <= 1.2 * 50 * 2**20
    assert steps["mem"].output == 50 * 2**20
    assert steps["out"].output == 0


def test_process_step_failures_keep_their_names_and_categories(
    memory_store: Any, tmp_path: Path
) -> None:
    wf = load_workflow(_write(tmp_path, """
  - {id: refused, uses: "exec_actions:refuse", executor: process}
  - {id: http, uses: "exec_actions:http_503", executor: process}
"""))
    result = Engine(memory_store).run(wf)
    assert result.status is RunStatus.FAILED
    steps = {s.step_id: s for s in memory_store.get_steps(result.id)}
    refused = steps["refused"].error
    assert refused is not None and refused.type == "ConnectionRefusedError"
    assert refused.category == "external_service"
    http = steps["http"].error
    assert http is not None and http.type == "exec_actions.HTTPError"
    assert http.category == "external_service" and http.status_code == 503
    assert "RequestException" in http.bases
    assert any(f.function == "http_503" for f in http.frames)


def test_process_step_timeout_kills_it(memory_store: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    wf = load_workflow(_write(tmp_path, f"""
  - {{id: slow, uses: "exec_actions:nap_pid", executor: process, timeout: 0.5,
     with: {{seconds: 30, out: "{marker}"}}}}
"""))
    result = Engine(memory_store).run(wf)
    # The step's own process was killed at its timeout: it is gone and never finished.
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not (tmp_path / "pid.done").exists()
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.category == "timeout"


def test_process_executor_needs_an_importable_function(memory_store: Any) -> None:
    wf = workflow_from_dict({"name": "p", "steps": [
        {"id": "a", "uses": "local", "executor": "process"}]})
    with pytest.raises(ActionNotFoundError, match="cannot import it"):
        Engine(memory_store, actions={"local": lambda: 1}).run(wf)
    # Executors can be registered, so an unknown name is refused by the engine that
    # would run the step (before anything is recorded), naming the ones it has.
    unknown = workflow_from_dict({"name": "p", "steps": [
        {"id": "a", "uses": "local", "executor": "gpu"}]})
    with pytest.raises(DefinitionError, match=r"executor 'gpu'.*inline, process, thread"):
        Engine(memory_store, actions={"local": lambda: 1}).run(unknown)
    assert memory_store.list_runs() == []
    with pytest.raises(DefinitionError, match="executor"):
        workflow_from_dict({"name": "p", "steps": [
            {"id": "a", "uses": "x:y", "executor": "Not A Name"}]})


def test_inline_and_thread_steps_measure_cpu(memory_store: Any) -> None:
    def burn(ms: int) -> bool:
        end = time.thread_time() + ms / 1000
        while time.thread_time() < end:
            pass
        return True

    wf = workflow_from_dict({"name": "cpu", "steps": [
        {"id": "thread", "uses": "burn", "with": {"ms": 200}},
        {"id": "inline", "uses": "burn", "executor": "inline", "with": {"ms": 200}},
    ]})
    result = Engine(memory_store, actions={"burn": burn}).run(wf)
    assert result.ok
    for step in memory_store.get_steps(result.id):
        assert step.cpu_time_ms is not None and step.duration_ms is not None
        assert step.cpu_time_ms >= 190
        assert step.cpu_time_ms <= step.duration_ms * 1.1 + 5


def test_tracemalloc_peak_of_an_in_process_step(memory_store: Any) -> None:
    def allocate(mb: int) -> int:
        block = [bytes(1024) for _ in range(mb * 1024)]
        return len(block)

    wf = workflow_from_dict({"name": "mem", "steps": [
        {"id": "a", "uses": "allocate", "with": {"mb": 50}}]})
    on = Engine(memory_store, actions={"allocate": allocate}, measure_memory=True).run(wf)
    peak = memory_store.get_steps(on.id)[0].peak_memory_bytes or 0
    assert 0.8 * 50 * 2**20 <= peak <= 1.2 * 50 * 2**20
    off = Engine(memory_store, actions={"allocate": allocate}).run(wf)
    assert memory_store.get_steps(off.id)[0].peak_memory_bytes is None


def test_tracing_is_turned_off_after_the_run(memory_store: Any) -> None:
    import tracemalloc

    wf = workflow_from_dict({"name": "m", "steps": [{"id": "a", "uses": "f"}]})
    Engine(memory_store, actions={"f": lambda: 1}, measure_memory=True).run(wf)
    assert not tracemalloc.is_tracing()


def test_failed_attempts_keep_cpu_and_peak_memory(memory_store: Any) -> None:
    def hog() -> None:
        block = [bytes(1024) for _ in range(20 * 1024)]
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass
        raise MemoryError(f"gave up after {len(block)} blocks")

    wf = workflow_from_dict({"name": "hog", "steps": [{"id": "a", "uses": "hog"}]})
    result = Engine(memory_store, actions={"hog": hog}, measure_memory=True).run(wf)
    assert result.status is RunStatus.FAILED
    [att] = memory_store.get_steps(result.id)
    assert att.cpu_time_ms is not None and att.cpu_time_ms >= 45
    assert att.peak_memory_bytes is not None and att.peak_memory_bytes >= 15 * 2**20
