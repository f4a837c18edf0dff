"""The engine: start, resume, cancel and fork runs on a journal.

One asyncio core. ``Engine.run`` is the synchronous wrapper around ``Engine.execute``;
``Engine.start`` returns a handle to a run going on in the background of the caller's
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flowscope.engine import events as ev
from flowscope.engine.actions import resolve_action
from flowscope.engine.classify import DEFAULT_CLASSIFIER
from flowscope.engine.execution import Preloaded, RunExecution, utcnow
from flowscope.engine.executors import (
    Executor,
    InlineExecutor,
    ProcessExecutor,
    ThreadExecutor,
)
from flowscope.engine.executors.process import importable_path
from flowscope.engine.hooks import EngineHooks, HookSet, PendingStep, RunControl
from flowscope.engine.journal import Journal
from flowscope.engine.leases import (
    DEFAULT_TTL,
    Lease,
    LeaseKeeper,
    new_owner_id,
    owner_is_dead,
)
from flowscope.engine.preload import preload
from flowscope.engine.records import RunRecord, RunResult
from flowscope.engine.status import RunStatus
from flowscope.errors import (
    DefinitionError,
    FlowscopeError,
    RecursionLimitError,
    RunOwnedError,
    RunStateError,
)
from flowscope.model import load_workflow, validate_inputs, workflow_from_dict
from flowscope.model.workflow import Step, Workflow

T = TypeVar("T")


@dataclass(slots=True)
class RunHandle:
    """A run going on in the background of an event loop."""

    run_id: str
    task: asyncio.Task[RunResult] = field(repr=False)

    def done(self) -> bool:
        """Whether the run has ended."""
        return self.task.done()

    async def result(self) -> RunResult:
        """Wait for the run to end and return its result."""
        return await asyncio.shield(self.task)


class Engine:
    """Runs workflows durably on a journal.

    Args:
        store: Where runs are recorded (``flowscope.open_store(...)``).
        actions: Callables by name, for steps whose ``uses`` is a bare name.
        workflows: Workflows by name, for steps whose ``workflow`` is a bare name.
        max_concurrency: Steps of one run that may execute at once (default 8).
        hooks: Hooks called around every step (the debugger, trackers).
        max_depth: How deep sub-workflows may nest (default 10).
        measure_memory: Measure each step's peak Python allocation with ``tracemalloc``.
        classify: Gives a failure its error category (default: the built-in rules).
        threads: Worker threads for synchronous step functions.
        executors: More executors by name (``executor: NAME`` on a step picks one);
            the built-in ``inline``, ``thread`` and ``process`` may be replaced too.
        lease_ttl: Seconds a run's lease lives without renewal (default 30).
        owner: This engine's owner id in run leases (default ``host:pid:random``).
    """

    def __init__(
        self,
        store: Journal,
        *,
        actions: Mapping[str, Callable[..., Any]] | None = None,
        workflows: Mapping[str, Workflow] | None = None,
        max_concurrency: int = 8,
        hooks: Sequence[EngineHooks] = (),
        max_depth: int = 10,
        measure_memory: bool = False,
        classify: Callable[[BaseException], str] | None = None,
        threads: int | None = None,
        executors: Mapping[str, Executor] | None = None,
        lease_ttl: float = DEFAULT_TTL,
        owner: str | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise FlowscopeError(
                f"max_concurrency must be at least 1, got {max_concurrency}",
                hint="pass a positive number of steps that may run at once",
            )
        self.store = store
        self.actions: dict[str, Callable[..., Any]] = dict(actions or {})
        self.workflows: dict[str, Workflow] = dict(workflows or {})
        self.max_concurrency = max_concurrency
        self.max_depth = max_depth
        self.measure_memory = measure_memory
        self.classify = classify or DEFAULT_CLASSIFIER.classify
        self.hooks = HookSet()
        for hook in hooks:
            self.hooks.add(hook)
        if lease_ttl <= 0:
            raise FlowscopeError(f"lease_ttl must be positive, got {lease_ttl}",
                                 hint="give the lease time in seconds, e.g. 30")
        #: Runs executing in this engine, by id (``control`` and ``cancel`` look here).
        self.live: dict[str, RunExecution] = {}
        self.owner = owner or new_owner_id()
        self.lease_ttl = float(lease_ttl)
        self._keepers: dict[asyncio.AbstractEventLoop, LeaseKeeper] = {}
        threads_n = threads or min(32, (os.cpu_count() or 1) + 4)
        self._executors: dict[str, Executor] = {
            "inline": InlineExecutor(), "thread": ThreadExecutor(threads_n),
            "process": ProcessExecutor(),
        }
        for name, executor in (executors or {}).items():
            self.register_executor(name, executor)

    # -- configuration ------------------------------------------------------------------------

    def register_executor(self, name: str, executor: Executor) -> None:
        """Make ``executor`` available to steps as ``executor: name``."""
        if not isinstance(executor, Executor):
            raise FlowscopeError(
                f"executor {name!r} does not implement the Executor protocol",
                hint="give it `async def run(self, call) -> Outcome` and `def close(self)`",
            )
        self._executors[name] = executor

    def executor(self, name: str) -> Executor:
        """The executor registered as ``name``."""
        found = self._executors.get(name)
        if found is None:
            raise FlowscopeError(
                f"no executor named {name!r}",
                hint="use one of: " + ", ".join(sorted(self._executors))
                + " (or register it: Engine(executors={...}))",
            )
        return found

    def register_action(self, name: str, fn: Callable[..., Any]) -> None:
        """Make ``fn`` available to steps as ``uses: name``."""
        if not callable(fn):
            raise FlowscopeError(f"action {name!r} is not callable",
                                 hint="register a function")
        self.actions[name] = fn

    def register_workflow(self, name: str, workflow: Workflow) -> None:
        """Make ``workflow`` available to steps as ``workflow: name``."""
        self.workflows[name] = workflow

    def add_hook(self, hook: EngineHooks) -> None:
        """Call ``hook`` around every step of every run from now on."""
        self.hooks.add(hook)

    def remove_hook(self, hook: EngineHooks) -> None:
        """Stop calling ``hook``."""
        self.hooks.remove(hook)

    def close(self) -> None:
        """Release the executors (worker threads end; abandoned calls finish on their own)."""
        for executor in self._executors.values():
            executor.close()

    # -- starting runs --------------------------------------------------------------------------

    def load(self, workflow: Workflow | str | os.PathLike[str] | Mapping[str, Any]) -> Workflow:
        """Return a ``Workflow`` from a workflow, a file path or a definition dict."""
        if isinstance(workflow, Workflow):
            return workflow
        if isinstance(workflow, Mapping):
            return workflow_from_dict(workflow, max_depth=self.max_depth,
                                      registry=self.workflows)
        if isinstance(workflow, str) and workflow in self.workflows:
            return self.workflows[workflow]
        return load_workflow(workflow, max_depth=self.max_depth, registry=self.workflows)

    def resolve_actions(self, workflow: Workflow, depth: int = 1) -> dict[str, Callable[..., Any]]:
        """Resolve every ``uses`` of the workflow (and its sub-workflows) up front."""
        if depth > self.max_depth:
            raise RecursionLimitError(
                f"sub-workflows nest deeper than {self.max_depth} levels",
                source=workflow.source, hint="raise max_depth or flatten the workflows",
            )
        out: dict[str, Callable[..., Any]] = {}
        for step in workflow.steps:
            if step.executor is not None and step.executor not in self._executors:
                raise DefinitionError(
                    f"step {step.id!r} names executor {step.executor!r}, which this engine "
                    "does not have",
                    place=f"steps[{step.index}].executor", line=step.line,
                    source=workflow.source,
                    hint="use one of: " + ", ".join(sorted(self._executors))
                    + ", or register it with Engine(executors={...})",
                )
            if step.uses is not None:
                out[step.id] = resolve_action(
                    step.uses, self.actions, source=workflow.source,
                    place=f"steps[{step.index}].uses",
                )
                if step.executor == "process":
                    importable_path(step.uses, out[step.id])
            elif step.id in workflow.subworkflows:
                self.resolve_actions(workflow.subworkflows[step.id], depth + 1)
        return out

    def _new_record(
        self, workflow: Workflow, inputs: Mapping[str, Any], *, user: str | None,
        tags: Mapping[str, str] | None, parent: RunExecution | None = None,
        parent_step: str | None = None, forked_from: tuple[str, str] | None = None,
    ) -> RunRecord:
        run_id = str(uuid.uuid4())
        return RunRecord(
            id=run_id, workflow=workflow.name, version=workflow.version,
            definition_hash=workflow.definition_hash, status=RunStatus.PENDING,
            definition=workflow.definition, inputs=dict(inputs), user=user,
            tags={str(k): str(v) for k, v in (tags or {}).items()},
            parent_run_id=parent.run_id if parent else None, parent_step_id=parent_step,
            root_run_id=parent.root.run_id if parent else run_id,
            forked_from_run_id=forked_from[0] if forked_from else None,
            forked_from_step=forked_from[1] if forked_from else None,
            created_at=utcnow(), source=workflow.source,
        )

    def prepare(
        self,
        workflow: Workflow | str | os.PathLike[str] | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_concurrency: int | None = None,
        preloaded: Preloaded | None = None,
        forked_from: tuple[str, str] | None = None,
        state_vars: Mapping[str, Any] | None = None,
    ) -> RunExecution:
        """Validate, record the run as pending, and return its execution (not started)."""
        wf = self.load(workflow)
        actions = self.resolve_actions(wf)
        values = validate_inputs(wf, inputs)
        record = self._new_record(wf, values, user=user, tags=tags, forked_from=forked_from)
        if state_vars:
            record = _replace(record, vars=dict(state_vars))
        self.store.create_run(record)
        # Pending and unowned: ``execute`` takes the lease (a worker claims it the same way).
        return RunExecution(
            self, wf, record, actions=actions, preloaded=preloaded,
            max_concurrency=max_concurrency or self.max_concurrency,
        )

    async def start(
        self,
        workflow: Workflow | str | os.PathLike[str] | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_concurrency: int | None = None,
    ) -> RunHandle:
        """Start a run in the background of the running event loop."""
        execution = self.prepare(workflow, inputs, user=user, tags=tags,
                                 max_concurrency=max_concurrency)
        task = asyncio.get_running_loop().create_task(execution.execute())
        return RunHandle(execution.run_id, task)

    async def execute(
        self,
        workflow: Workflow | str | os.PathLike[str] | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_concurrency: int | None = None,
    ) -> RunResult:
        """Run a workflow to its end and return the result."""
        execution = self.prepare(workflow, inputs, user=user, tags=tags,
                                 max_concurrency=max_concurrency)
        return await execution.execute()

    def run(
        self,
        workflow: Workflow | str | os.PathLike[str] | Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        tags: Mapping[str, str] | None = None,
        max_concurrency: int | None = None,
    ) -> RunResult:
        """Run a workflow to its end (synchronous wrapper around ``execute``)."""
        return _run_sync(self.execute(workflow, inputs, user=user, tags=tags,
                                      max_concurrency=max_concurrency))

    def child_execution(self, parent: RunExecution, step: Step,
                        pending: PendingStep) -> RunExecution:
        """Create (or pick up, on resume) the child run of a sub-workflow step."""
        wf = parent.workflow.subworkflows[step.id]
        if parent.depth + 1 > self.max_depth:
            raise RecursionLimitError(
                f"sub-workflow {wf.name!r} at step {step.id!r} would nest deeper than "
                f"{self.max_depth} levels",
                hint="raise max_depth or flatten the workflows",
            )
        actions = self.resolve_actions(wf)
        if parent.preloaded is not None and parent.preloaded.reused_from is None:
            existing = self.store.find_child_run(parent.run_id, step.id)
            if existing is not None and not existing.status.is_finished:
                return RunExecution(
                    self, wf, existing, actions=actions, parent=parent,
                    frames=pending.frames, preloaded=preload(self.store, existing, wf),
                    max_concurrency=parent.max_concurrency,
                )
        values = validate_inputs(wf, pending.input)
        record = self._new_record(wf, values, user=parent.record.user,
                                  tags=parent.record.tags, parent=parent,
                                  parent_step=step.id)
        self.store.create_run(record, fence=parent.fence)
        return RunExecution(self, wf, record, actions=actions, parent=parent,
                            frames=pending.frames, max_concurrency=parent.max_concurrency)

    def finished_child(self, parent: RunExecution, step: Step) -> RunRecord | None:
        """On resume: the child run of ``step`` if it completed before the crash.

        Its parent step had not committed; the child's outputs are the step's output, and
        none of the child's steps runs again.
        """
        if parent.preloaded is None or parent.preloaded.reused_from is not None:
            return None
        existing = self.store.find_child_run(parent.run_id, step.id)
        if existing is not None and existing.status is RunStatus.COMPLETED:
            return existing
        return None

    # -- leases ---------------------------------------------------------------------------------

    def keep_lease(self, lease: Lease, execution: RunExecution) -> None:
        """Renew ``lease`` and watch for commands while ``execution`` runs (on this loop)."""
        loop = asyncio.get_running_loop()
        keeper = self._keepers.get(loop)
        if keeper is None:
            def forget(_keeper: LeaseKeeper) -> None:
                self._keepers.pop(loop, None)

            keeper = LeaseKeeper(self.store, ttl=self.lease_ttl, on_empty=forget)
            self._keepers[loop] = keeper
        keeper.add(lease, execution)

    def take_over(self, run_id: str, *, force: bool = False) -> Lease:
        """Acquire the lease of a run another owner may hold.

        A live lease of another owner is refused (``RunOwnedError``) unless ``force``,
        or unless that owner is a process of this machine that no longer exists.
        """
        try:
            return self.store.acquire_lease(run_id, self.owner, ttl=self.lease_ttl,
                                            force=force)
        except RunOwnedError as exc:
            if not owner_is_dead(exc.owner):
                raise
        return self.store.acquire_lease(run_id, self.owner, ttl=self.lease_ttl, force=True)

    def drop_lease(self, lease: Lease, *, release: bool) -> None:
        """Stop renewing ``lease``; give it up when ``release`` (the run ended or stopped)."""
        keeper = self._keepers.get(asyncio.get_running_loop())
        if keeper is not None:
            lease = keeper.lease(lease.run_id) or lease
            keeper.remove(lease.run_id)
        if release:
            # A release that fails is harmless: the lease expires on its own.
            with contextlib.suppress(FlowscopeError):
                self.store.release_lease(lease)

    def live_roots(self) -> list[str]:
        """Ids of the root runs executing in this engine now."""
        return [rid for rid, ex in list(self.live.items()) if ex.parent is None]

    def control(self, run_id: str) -> RunControl | None:
        """The control of a run executing in this engine (``None`` if it is not live here)."""
        return self.live.get(run_id)

    # -- resume, cancel ---------------------------------------------------------------------------

    async def resume_async(self, run_id: str, *, force: bool = False,
                           on_crash: str | None = None) -> RunResult:
        """Pick up a run whose owner stopped or died, from its journal, and run it to the end.

        Args:
            run_id: The run (id or unique prefix).
            force: Take the run over even if its owner's lease is live (the owner is then
                fenced out and stops).
            on_crash: Override the ``on_crash`` policy of external steps whose attempt
                started and never committed (``rerun`` or ``fail``).

        Raises:
            RunOwnedError: another owner's lease is live (and ``force`` is not set).
        """
        if on_crash not in (None, "rerun", "fail"):
            raise FlowscopeError(f"on_crash must be 'rerun' or 'fail', got {on_crash!r}",
                                 hint="rerun runs the step again with the same idempotency "
                                 "key; fail fails it")
        record = self.store.get_run(run_id)
        if record.status.is_finished:
            raise RunStateError(
                f"run {record.id} already {record.status.value}; there is nothing to resume",
                hint="start a new run, or fork this one from a step",
            )
        if record.parent_run_id is not None:
            raise RunStateError(
                f"run {record.id} is a sub-workflow run of {record.parent_run_id}",
                hint=f"resume the root run {record.root_run_id or record.parent_run_id}",
            )
        if record.id in self.live:
            raise RunStateError(f"run {record.id} is running in this process",
                                hint="wait for it or cancel it")
        wf = workflow_from_dict(record.definition, source=record.source,
                                max_depth=self.max_depth, registry=self.workflows)
        actions = self.resolve_actions(wf)
        lease = self.take_over(record.id, force=force)
        try:
            record = self.store.get_run(record.id)  # as it is now that we own it
            if record.status.is_finished:
                raise RunStateError(
                    f"run {record.id} already {record.status.value}; there is nothing to "
                    "resume", hint="start a new run, or fork this one from a step")
            preloaded = preload(self.store, record, wf, on_crash=on_crash)
        except BaseException:
            self.store.release_lease(lease)
            raise
        execution = RunExecution(self, wf, record, actions=actions, preloaded=preloaded,
                                 max_concurrency=self.max_concurrency, lease=lease)
        return await execution.execute()

    def resume(self, run_id: str, *, force: bool = False,
               on_crash: str | None = None) -> RunResult:
        """Synchronous wrapper around ``resume_async``."""
        return _run_sync(self.resume_async(run_id, force=force, on_crash=on_crash))

    async def fork_async(
        self, run_id: str, from_step: str, state_edits: Mapping[str, Any] | None = None,
        rerun_effects: bool = False,
    ) -> RunResult:
        """Run a new run of ``run_id``'s definition from ``from_step``, reusing what came before.

        Args:
            run_id: The run to fork (id or unique prefix).
            from_step: The first step to execute again; it and every step after it run.
            state_edits: ``{"vars.x": 1, "inputs.y": 2, "steps.s.output.f": 3}`` applied first.
            rerun_effects: Also execute again the reused steps with external effects.
        """
        from flowscope.engine.fork import fork_async

        return await fork_async(self, run_id, from_step, state_edits=state_edits,
                                rerun_effects=rerun_effects)

    def fork(
        self, run_id: str, from_step: str, state_edits: Mapping[str, Any] | None = None,
        rerun_effects: bool = False,
    ) -> RunResult:
        """Synchronous wrapper around ``fork_async``."""
        return _run_sync(self.fork_async(run_id, from_step, state_edits, rerun_effects))

    def fork_preview(self, run_id: str, from_step: str, *,
                     rerun_effects: bool = False) -> dict[str, Any]:
        """Say which steps a fork would reuse and run, and which external calls would repeat."""
        from flowscope.engine.fork import plan_fork

        plan, _, _ = plan_fork(self, run_id, from_step, rerun_effects=rerun_effects)
        return plan.to_dict()

    def cancel(self, run_id: str, *, user: str | None = None) -> str:
        """Cancel a run, wherever it executes.

        A run live in this engine stops starting steps at once. A run owned by another
        live process gets a ``cancel`` command, which its owner carries out within about
        a second (``"requested"`` is returned). A stored unfinished run whose owner is gone
        is marked cancelled here, under a lease of its own (``"cancelled"``).

        Raises:
            RunStateError: the run already ended.
        """
        record = self.store.get_run(run_id)
        live = self.live.get(record.id)
        if live is not None and live.loop is not None:
            if live.loop.is_running() and _current_loop() is not live.loop:
                live.loop.call_soon_threadsafe(live.cancel)
            else:
                live.cancel()
            return "cancelled"
        if record.status.is_finished:
            raise RunStateError(
                f"run {record.id} already {record.status.value}; it cannot be cancelled",
            )
        root = record.root_run_id or record.id
        info = self.store.lease_info(root)
        if info.live and info.owner != self.owner and not owner_is_dead(info.owner or ""):
            self.store.send_command(root, "cancel", user=user)
            return "requested"
        try:
            lease = self.take_over(root)
        except RunOwnedError:  # an owner appeared meanwhile: ask it
            self.store.send_command(root, "cancel", user=user)
            return "requested"
        try:
            self._mark_cancelled(record, lease)
        finally:
            self.store.release_lease(lease)
        return "cancelled"

    def _mark_cancelled(self, record: RunRecord, lease: Lease) -> None:
        event = ev.RunCancelled(run_id=record.id, seq=self.store.last_seq(record.id) + 1,
                                ts=utcnow())
        self.store.update_run(record.id, status=RunStatus.CANCELLED, ended_at=event.ts,
                              events=[event], fence=lease.fence)
        for child in self.store.list_runs(parent_run_id=record.id, limit=None):
            if not child.status.is_finished:
                self._mark_cancelled(child, lease)

    def interrupt(self, run_id: str, reason: str = "interrupt") -> None:
        """Stop a run live in this engine resumably (Ctrl-C): see ``RunExecution.interrupt``."""
        live = self.live.get(run_id)
        if live is None or live.loop is None:
            raise RunStateError(f"run {run_id} is not executing in this process",
                                hint="interrupt works on runs this engine executes")
        if live.loop.is_running() and _current_loop() is not live.loop:
            live.loop.call_soon_threadsafe(live.interrupt, reason)
        else:
            live.interrupt(reason)


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    if _current_loop() is not None:
        coro.close()
        raise FlowscopeError(
            "Engine.run/resume was called from inside a running event loop",
            hint="use `await engine.execute(...)` or `await engine.resume_async(...)` there",
        )
    return asyncio.run(coro)


def _replace(record: RunRecord, **changes: Any) -> RunRecord:
    import dataclasses

    return dataclasses.replace(record, **changes)


__all__ = ["Engine", "RunHandle", "RunResult"]
