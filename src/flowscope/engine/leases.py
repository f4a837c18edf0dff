"""Run ownership: one owner per run, held by a lease in the store.

Whoever executes a run (a CLI process, a server, a worker) holds its lease: the owner's
id, an expiry on the *database's* clock (so owners on machines whose clocks disagree
still agree on expiry) and a fencing epoch that grows at every takeover. Every journal
write of a run carries the epoch it was acquired with (a :class:`Fence`); the store
refuses a write whose epoch is stale with ``LeaseLostError``, so an owner that was paused
past its lease and wakes up cannot commit anything after another owner took over.

A root run's lease covers its whole tree: sub-workflow runs are fenced by the root's.

Commands from other processes (cancel, later pause) are rows the owner polls (see
:class:`LeaseKeeper`): a command reaches the owner; it is never acted on behind its back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from flowscope.errors import LeaseLostError, StoreError

log = logging.getLogger("flowscope.engine")

DEFAULT_TTL = 30.0
"""Seconds a lease lives without renewal (``leases: {ttl: 30s}`` in ``flowscope.yaml``)."""

COMMAND_POLL = 0.4
"""Seconds between two looks for commands from other processes (cancel within 1 s)."""


def new_owner_id() -> str:
    """An owner id that says where the owner runs: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` is a process on this machine that no longer exists.

    A lease outlives its owner by up to its TTL; when the owner ran here and its process
    is gone, there is no need to wait that long.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A killed child that its parent has not reaped yet still answers kill(pid, 0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True, slots=True)
class Fence:
    """What every journal write of a run carries: the root run and the epoch held."""

    run_id: str
    """The root run whose lease fences the write."""
    epoch: int
    """The epoch the writer acquired; a write with a stale one is refused."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease held on a run."""

    run_id: str
    """The (root) run."""
    owner: str
    """Who holds it."""
    epoch: int
    """The fencing epoch (grows at every acquisition)."""
    expires_at: float
    """When it expires, in seconds since the Unix epoch on the database clock."""

    @property
    def fence(self) -> Fence:
        """The fence the holder's writes carry."""
        return Fence(self.run_id, self.epoch)


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """Who owns a run, as the store sees it now."""

    run_id: str
    owner: str | None
    """The holder (``None``: nobody; released or never taken)."""
    epoch: int
    acquired_at: float | None
    """When the holder took it (Unix seconds, database clock)."""
    expires_at: float | None
    """When it expires unless renewed (Unix seconds, database clock)."""
    now: float
    """The database clock when this was read."""

    @property
    def live(self) -> bool:
        """Whether an owner holds the lease and it has not expired."""
        return self.owner is not None and self.expires_at is not None \
            and self.expires_at > self.now

    @property
    def gone(self) -> bool:
        """Whether an owner took the lease and let it expire (it died, or hangs)."""
        return self.owner is not None and not self.live

    def since_text(self) -> str:
        """When the lease was acquired, as ISO-8601 UTC text."""
        if self.acquired_at is None:
            return "an unknown time"
        return datetime.fromtimestamp(self.acquired_at, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class RunCommand:
    """A request from another process to the owner of a run."""

    id: int
    run_id: str
    kind: str
    """``cancel`` (more kinds come with the API)."""
    user: str | None = None


COMMAND_KINDS = ("cancel",)


class Controlled(Protocol):
    """What the keeper needs from a live root run."""

    run_id: str

    def cancel(self) -> None:
        """Cancel the run."""
        ...

    def lose(self, exc: LeaseLostError) -> None:
        """Stop the run locally: another owner took it over."""
        ...


class LeaseStore(Protocol):
    """The part of the journal the keeper uses."""

    def renew_lease(self, lease: Lease, *, ttl: float) -> Lease:
        """Renew a lease."""
        ...

    def take_commands(self, run_ids: list[str]) -> list[RunCommand]:
        """Take the pending commands of these runs."""
        ...


class LeaseKeeper:
    """Renews the leases of one engine's live root runs on one event loop; polls commands.

    One task per loop, whatever the number of runs: every ``COMMAND_POLL`` seconds it asks
    the store for commands addressed to its runs (one query), and every third of the TTL
    it renews their leases. The task ends when its last run ends.
    """

    def __init__(self, journal: LeaseStore, *, ttl: float,
                 on_empty: Callable[[LeaseKeeper], None]) -> None:
        self.journal = journal
        self.ttl = ttl
        self._runs: dict[str, tuple[Lease, Controlled]] = {}
        self._task: asyncio.Task[None] | None = None
        self._on_empty = on_empty

    def add(self, lease: Lease, run: Controlled) -> None:
        """Keep ``lease`` alive while ``run`` executes."""
        self._runs[lease.run_id] = (lease, run)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="flowscope-leases")

    def lease(self, run_id: str) -> Lease | None:
        """The lease held on ``run_id`` (``None`` if this keeper holds none)."""
        found = self._runs.get(run_id)
        return found[0] if found else None

    def remove(self, run_id: str) -> Lease | None:
        """Stop keeping the run's lease; return it."""
        found = self._runs.pop(run_id, None)
        if not self._runs and self._task is not None:
            self._task.cancel()
            self._task = None
            self._on_empty(self)
        return found[0] if found else None

    async def _loop(self) -> None:
        renew_every = max(0.05, self.ttl / 3.0)
        next_renew = time.monotonic() + renew_every
        while self._runs:
            await asyncio.sleep(min(COMMAND_POLL, renew_every))
            try:
                self._poll()
                if time.monotonic() >= next_renew:
                    self._renew()
                    next_renew = time.monotonic() + renew_every
            except StoreError:
                # A store that is briefly unreachable: try again at the next tick; a
                # lease that lapses meanwhile is caught by the fence on the next write.
                log.warning("cannot reach the store to keep run leases", exc_info=True)

    def _poll(self) -> None:
        if not self._runs:
            return
        for cmd in self.journal.take_commands(list(self._runs)):
            found = self._runs.get(cmd.run_id)
            if found is not None and cmd.kind == "cancel":
                log.info("run %s cancelled by %s from another process", cmd.run_id,
                         cmd.user or "someone")
                found[1].cancel()

    def _renew(self) -> None:
        for run_id, (lease, run) in list(self._runs.items()):
            try:
                renewed = self.journal.renew_lease(lease, ttl=self.ttl)
            except LeaseLostError as exc:
                self._runs.pop(run_id, None)
                run.lose(exc)
                continue
            if run_id in self._runs:
                self._runs[run_id] = (renewed, run)
