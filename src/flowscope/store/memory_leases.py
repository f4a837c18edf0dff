"""Run leases, fencing and run commands for the in-memory store (same rules as SQL).

The clock is this process's (``time.time()``): a memory store lives in one process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from flowscope.engine.leases import COMMAND_KINDS, Fence, Lease, LeaseInfo, RunCommand
from flowscope.errors import LeaseLostError, RunNotFoundError, RunOwnedError, StoreError


@dataclass(slots=True)
class _Held:
    owner: str | None = None
    epoch: int = 0
    acquired: float | None = None
    expires: float | None = None


class MemoryLeases:
    """The ownership half of ``MemoryStore`` (mixed in; shares its lock)."""

    _lock: threading.RLock
    _leases_state: tuple[dict[str, _Held], list[list[object]]]

    def _init_leases(self) -> None:
        self._leases_state = ({}, [])

    def _lease_state(self) -> tuple[dict[str, _Held], list[list[object]]]:
        return self._leases_state

    def _known(self, run_id: str) -> bool:
        raise NotImplementedError

    def check_fence(self, fence: Fence | None) -> None:
        """Refuse the write in progress if ``fence`` is stale (call under the lock)."""
        if fence is None:
            return
        held = self._leases_state[0].get(fence.run_id)
        epoch = held.epoch if held else 0
        if epoch != fence.epoch:
            raise LeaseLostError(fence.run_id, epoch=fence.epoch)

    def _held(self, run_id: str) -> _Held:
        if not self._known(run_id):
            raise RunNotFoundError(run_id)
        return self._lease_state()[0].setdefault(run_id, _Held())

    def acquire_lease(self, run_id: str, owner: str, *, ttl: float,
                      force: bool = False) -> Lease:
        """Take the run's lease with a new epoch."""
        with self._lock:
            held = self._held(run_id)
            now = time.time()
            info = LeaseInfo(run_id, held.owner, held.epoch, held.acquired, held.expires, now)
            if info.live and held.owner != owner and not force:
                assert held.owner is not None and held.expires is not None
                raise RunOwnedError(run_id, held.owner, since=info.since_text(),
                                    expires_in=held.expires - now)
            held.owner, held.epoch = owner, held.epoch + 1
            held.acquired, held.expires = now, now + ttl
            return Lease(run_id, owner, held.epoch, held.expires)

    def renew_lease(self, lease: Lease, *, ttl: float) -> Lease:
        """Push the lease's expiry ``ttl`` seconds past now."""
        with self._lock:
            held = self._held(lease.run_id)
            if held.epoch != lease.epoch or held.owner != lease.owner:
                raise LeaseLostError(lease.run_id, epoch=lease.epoch)
            held.expires = time.time() + ttl
            return Lease(lease.run_id, lease.owner, lease.epoch, held.expires)

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up; the epoch stays."""
        with self._lock:
            held = self._lease_state()[0].get(lease.run_id)
            if held is not None and held.epoch == lease.epoch:
                held.owner, held.expires = None, None

    def lease_info(self, run_id: str) -> LeaseInfo:
        """Who holds the run's lease."""
        with self._lock:
            held = self._held(run_id)
            return LeaseInfo(run_id, held.owner, held.epoch, held.acquired, held.expires,
                             time.time())

    def send_command(self, run_id: str, kind: str, *, user: str | None = None) -> None:
        """Queue a command for the run's owner."""
        if kind not in COMMAND_KINDS:
            raise StoreError(f"unknown run command {kind!r}",
                             hint="use one of: " + ", ".join(COMMAND_KINDS))
        with self._lock:
            if not self._known(run_id):
                raise RunNotFoundError(run_id)
            commands = self._lease_state()[1]
            commands.append([len(commands) + 1, run_id, kind, user, False])

    def take_commands(self, run_ids: list[str]) -> list[RunCommand]:
        """Return the commands not yet taken for these runs, and mark them taken."""
        wanted = set(run_ids)
        out: list[RunCommand] = []
        with self._lock:
            for cmd in self._lease_state()[1]:
                if not cmd[4] and cmd[1] in wanted:
                    cmd[4] = True
                    out.append(RunCommand(int(str(cmd[0])), str(cmd[1]), str(cmd[2]),
                                          None if cmd[3] is None else str(cmd[3])))
        return out
