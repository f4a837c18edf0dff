"""The child side of the kill campaign (``test_kill_campaign.py``).

A child process runs (or resumes) one run of :data:`MAIN` on a store and may be killed
by its parent at any moment. Every step attempt leaves tokens in ``tokens.log`` of the
scenario's folder, written with flush + fsync so that they survive SIGKILL::

    begin  RUN STEP ATTEMPT LIFE PID   the step's code started
    effect RUN STEP ATTEMPT LIFE PID   the step did its side effect (just before returning)
    end    RUN STEP ATTEMPT LIFE PID   the step's code left (returned or raised)

``LIFE`` counts the processes of one scenario (0 runs the workflow, 1, 2, ... resume
it) and is also in each step's output, so the parent can tell which process produced
a committed attempt. With ``crash_at`` the store is wrapped in :class:`CrashingJournal`,
which ends the process with ``os._exit(137)`` just before or just after its Nth write,
which is an exact commit point. Every write is logged to ``writes.log``, so a clean run
tells the parent how many commit points there are and what each one is.

Run as a script, the module is a fork server (:func:`serve`): it imports Flowscope once,
then forks one child per task read from stdin, so a child starts in milliseconds. The
server kills and reaps the child when the parent says so.

Leases: a resume starts the moment the killed owner has been reaped, long before a lease
it held could expire. :func:`resume` is the one place that takes such a run over.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowscope.engine import Engine, EngineHooks, PendingStep

SUB: dict[str, Any] = {"name": "kill_sub", "steps": [
    {"id": "c1", "uses": "work", "with": {"name": "c1"}},
    {"id": "c2", "uses": "work", "needs": ["c1"], "with": {"name": "c2"}},
], "outputs": {"last": "${{ steps.c2.output.v }}"}}

#: A chain, a fan-out/fan-in, a retried step, a sub-workflow and an external step.
MAIN: dict[str, Any] = {
    "name": "kill_main",
    "inputs": {"scenario": {"type": "string", "required": True}},
    "steps": [
        {"id": "a", "uses": "work", "with": {"name": "a"}},
        {"id": "b", "uses": "work", "needs": ["a"], "with": {"name": "b"},
         "set": {"seen_b": "${{ output.v }}"}},
        {"id": "f1", "uses": "work", "needs": ["b"], "with": {"name": "f1"}},
        {"id": "f2", "uses": "work", "needs": ["b"], "with": {"name": "f2"}},
        {"id": "f3", "uses": "work", "needs": ["b"], "with": {"name": "f3"}},
        {"id": "join", "uses": "work", "needs": ["f1", "f2", "f3"],
         "with": {"name": "join", "parts": ["${{ steps.f1.output.v }}",
                                            "${{ steps.f2.output.v }}",
                                            "${{ steps.f3.output.v }}"]}},
        {"id": "flaky", "uses": "work", "needs": ["join"],
         "with": {"name": "flaky", "fail_first": True},
         "retry": {"attempts": 3, "backoff": 0, "jitter": False}},
        {"id": "sub", "needs": ["flaky"], "workflow": "kill_sub", "workflow_definition": SUB},
        {"id": "pay", "uses": "work", "needs": ["sub"], "effects": "external",
         "with": {"name": "pay"}},
        {"id": "z", "uses": "work", "needs": ["pay"], "with": {"name": "z"}},
    ],
    "outputs": {"b": "${{ vars.seen_b }}", "join": "${{ steps.join.output.v }}",
                "sub": "${{ steps.sub.output.last }}", "z": "${{ steps.z.output.v }}"},
}

#: The outputs of every completed run of MAIN.
EXPECTED_OUTPUTS = {"b": "B", "join": "JOIN:F1+F2+F3", "sub": "C2", "z": "Z"}

#: The steps of MAIN (and of SUB) whose code leaves tokens.
CODE_STEPS = frozenset({"a", "b", "f1", "f2", "f3", "join", "flaky", "pay", "z", "c1", "c2"})

#: How long each step's code takes (spreads a run over time for random kills).
STEP_SECONDS = 0.004

WRITES = ("create_run", "record_step", "update_run", "append_events")

_OUT: Path | None = None
_LIFE = 0
_file_lock = threading.Lock()


def append_line(path: Path, line: str) -> None:
    """Append one line and make it durable before going on (it must survive SIGKILL)."""
    with _file_lock, open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def work(name: str, meta: Mapping[str, Any], fail_first: bool = False,
         parts: list[str] | None = None) -> dict[str, Any]:
    """The action of every step: leave tokens, fail the first attempt if asked."""
    assert _OUT is not None
    key = f"{meta['run']} {meta['step']} {meta['attempt']} {_LIFE} {os.getpid()}"
    tokens = _OUT / "tokens.log"
    append_line(tokens, f"begin {key}")
    try:
        time.sleep(STEP_SECONDS)
        if fail_first and meta["attempt"] == 1:
            raise ConnectionError(f"{name}: the service dropped the first call")
        value = name.upper() + (":" + "+".join(parts) if parts else "")
        append_line(tokens, f"effect {key}")
        return {"v": value, "life": _LIFE}
    finally:
        append_line(tokens, f"end {key}")


class AttemptTags(EngineHooks):
    """Hands each code step its run id and attempt number (for its tokens)."""

    async def before_step(self, *, pending: PendingStep) -> None:
        """Add ``meta`` to the input of steps that run code."""
        if pending.step.uses is not None:
            pending.input["meta"] = {"run": pending.run_id, "step": pending.step_id,
                                     "attempt": pending.attempt}


class CrashingJournal:
    """A journal proxy that logs every write and can die at exactly the Nth one.

    Args:
        inner: The real store.
        log: Where each write is described (one line per write).
        crash_at: End the process at this write (1-based), or never (``None``).
        when: ``before`` (the write never happens) or ``after`` (it is committed).
    """

    def __init__(self, inner: Any, log: Path, crash_at: int | None = None,
                 when: str = "after") -> None:
        self._inner = inner
        self._log = log
        self._crash_at = crash_at
        self._when = when
        self._n = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            self._n += 1
            crash = self._n == self._crash_at
            if crash and self._when == "before":
                os._exit(137)
            result = attr(*args, **kwargs)
            append_line(self._log, f"{self._n} {describe(name, args, kwargs)}")
            if crash:
                os._exit(137)
            return result

        return write


def describe(method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """One line naming a write: ``method run-id detail`` (just ``method`` if unsure)."""
    try:
        if method == "create_run":
            rec = args[0] if args else kwargs["run"]
            return f"create_run {rec.id} {'child' if rec.parent_run_id else 'root'}"
        if method == "record_step":
            att = args[0] if args else kwargs["attempt"]
            return f"record_step {att.run_id} {att.step_id}#{att.attempt}:{att.status.value}"
        if method == "update_run":
            status = kwargs["status"] if "status" in kwargs else args[1]
            return f"update_run {args[0] if args else kwargs['run_id']} {status.value}"
        events = args[0] if args else kwargs.get("events", ())
        run_id = events[0].run_id if events else "-"
        return f"append_events {run_id} " + ",".join(e.kind.value for e in events)
    except (IndexError, KeyError, AttributeError):  # a signature this file does not know
        return method


@dataclass(frozen=True, slots=True)
class Task:
    """What one child process does."""

    store: tuple[str, ...]
    """``("sqlite", path)`` or ``("postgres", url, schema)``."""
    out: str
    """The scenario's folder (tokens, writes, markers)."""
    life: int
    """0 to start the run; 1, 2, ... to resume it."""
    run_id: str | None = None
    """The run to resume (``None``: start a new one)."""
    crash_at: int | None = None
    """Die at this journal write."""
    when: str = "after"
    """``before`` or ``after`` that write."""


def open_task_store(spec: tuple[str, ...]) -> Any:
    """Open the store a task names (PostgreSQL: the test's own schema)."""
    if spec[0] == "sqlite":
        from flowscope.store import open_store

        return open_store(spec[1])
    import sqlalchemy as sa

    from flowscope.store.schema import dumps_json
    from flowscope.store.sql import SQLStore

    engine = sa.create_engine(
        spec[1], json_serializer=dumps_json,
        connect_args={"options": f"-csearch_path={spec[2]}", "connect_timeout": 10},
    )
    return SQLStore(engine, url=f"{spec[1]}#{spec[2]}", migrate=False)


def main(task: Task) -> None:
    """Run or resume the scenario's run; report the outcome in marker files."""
    global _OUT, _LIFE
    _OUT, _LIFE = Path(task.out), task.life
    store = open_task_store(task.store)
    journal = CrashingJournal(store, _OUT / "writes.log", task.crash_at, task.when)
    engine = Engine(journal, actions={"work": work}, hooks=[AttemptTags()])  # type: ignore[arg-type]
    (_OUT / f"ready.{task.life}").write_text(str(os.getpid()))
    t0 = time.monotonic()
    try:
        if task.run_id is None:
            result = engine.run(MAIN, {"scenario": _OUT.name})
        else:
            result = resume(engine, task.run_id)
        (_OUT / f"result.{task.life}").write_text(result.status.value)
    except BaseException:
        (_OUT / f"error.{task.life}").write_text(traceback.format_exc())
        raise
    finally:
        (_OUT / f"seconds.{task.life}").write_text(f"{time.monotonic() - t0:.4f}")
        engine.close()
        store.close()


def resume(engine: Engine, run_id: str) -> Any:
    """Resume a run whose owner was just killed.

    The owner died a moment ago, so a lease it held has not expired yet: take the run
    over where the engine offers a way to (its process is certainly gone). When run
    ownership lands, this is what to adapt if taking over is spelled differently.
    """
    import inspect

    if "force" in inspect.signature(engine.resume).parameters:
        return engine.resume(run_id, force=True)  # type: ignore[call-arg]
    return engine.resume(run_id)


def serve() -> None:
    """Serve the parent's commands on stdin, one child at a time.

    - a JSON :class:`Task`: fork a child for it; answer ``pid N``;
    - ``kill``: SIGKILL the child, reap it, answer ``exit CODE``;
    - ``wait``: reap the child when it ends, answer ``exit CODE``.

    The child is reaped only on ``kill`` or ``wait``, so its pid cannot be reused by
    another process while the parent may still signal it. The child's stdout and
    stderr go to ``child.LIFE.log`` in the scenario's folder. The server ends when
    stdin closes.
    """
    _warm_up()
    pid = 0
    for line in sys.stdin:
        command = line.strip()
        if command in ("kill", "wait"):
            if command == "kill":
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
            continue
        fields = json.loads(command)
        task = Task(**{**fields, "store": tuple(fields["store"])})
        pid = os.fork()
        if pid == 0:
            _child(task)
        print(f"pid {pid}", flush=True)


def _warm_up() -> None:
    """Load what opening a store loads, so that no child pays for it (no thread starts)."""
    import contextlib

    from flowscope.store import open_store

    open_store("sqlite://").close()
    with contextlib.suppress(ImportError):
        import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401


def _child(task: Task) -> None:
    code = 1
    try:
        log = os.open(Path(task.out) / f"child.{task.life}.log",
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(log, 1)
        os.dup2(log, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        main(task)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


if __name__ == "__main__":
    serve()
