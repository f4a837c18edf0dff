"""Run leases, fencing and run commands on SQL (see ``engine/leases.py`` for the design).

Times are read from the database's clock, never the caller's: every owner then agrees
on when a lease expires, whatever its own clock says. The fence check is one indexed
read of the root run's row inside the write's own transaction: on SQLite that
transaction holds the write lock (``BEGIN IMMEDIATE``), on PostgreSQL the row is read
``FOR SHARE``, so a takeover (an ``UPDATE`` of that row) waits for the write to commit
and the write sees the epoch that is current when it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from flowscope.engine.leases import COMMAND_KINDS, Fence, Lease, LeaseInfo, RunCommand
from flowscope.errors import LeaseLostError, RunNotFoundError, RunOwnedError, StoreError
from flowscope.store.schema import run_commands, runs

_NOW = {
    "sqlite": "(julianday('now') - 2440587.5) * 86400.0",
    "postgresql": "extract(epoch from clock_timestamp())::double precision",
}


class SQLLeases:
    """The ownership half of ``SQLStore`` (mixed in; uses its connection and SQL style)."""

    dialect: str
    _write: Callable[[Callable[[Any], None], str], None]
    _rows: Callable[[sa.Select[Any]], list[sa.Row[Any]]]

    def _mark(self, name: str) -> str:
        return f":{name}" if self.dialect == "sqlite" else f"%({name})s"

    def _now_sql(self) -> str:
        return _NOW[self.dialect]

    def check_fence(self, cur: Any, fence: Fence | None) -> None:
        """Refuse the write in progress if ``fence`` is stale (call inside the write)."""
        if fence is None:
            return
        lock = "" if self.dialect == "sqlite" else " FOR SHARE"
        cur.execute(f"SELECT lease_epoch FROM runs WHERE id = {self._mark('id')}{lock}",
                    {"id": fence.run_id})
        row = cur.fetchone()
        if row is None:
            raise RunNotFoundError(fence.run_id)
        if int(row[0]) != fence.epoch:
            raise LeaseLostError(fence.run_id, epoch=fence.epoch)

    def _lease_row(self, cur: Any, run_id: str, *, lock: bool) -> tuple[Any, ...]:
        m = self._mark
        tail = " FOR UPDATE" if lock and self.dialect != "sqlite" else ""
        cur.execute(
            "SELECT owner_id, lease_epoch, lease_acquired_epoch, lease_expires_epoch, "
            f"{self._now_sql()} FROM runs WHERE id = {m('id')}{tail}", {"id": run_id})
        row = cur.fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        return tuple(row)

    def acquire_lease(self, run_id: str, owner: str, *, ttl: float,
                      force: bool = False) -> Lease:
        """Take the run's lease with a new epoch (see the Journal protocol)."""
        m = self._mark
        out: list[Lease] = []

        def write(cur: Any) -> None:
            holder, epoch, acquired, expires, now = self._lease_row(cur, run_id, lock=True)
            info = LeaseInfo(run_id, holder, int(epoch), acquired, expires, float(now))
            if info.live and holder != owner and not force:
                raise RunOwnedError(run_id, holder, since=info.since_text(),
                                    expires_in=float(expires) - float(now))
            new_epoch = int(epoch) + 1
            cur.execute(
                f"UPDATE runs SET owner_id = {m('owner')}, lease_epoch = {m('epoch')}, "
                f"lease_acquired_epoch = {m('now')}, lease_expires_epoch = {m('expires')} "
                f"WHERE id = {m('id')}",
                {"owner": owner, "epoch": new_epoch, "now": float(now),
                 "expires": float(now) + ttl, "id": run_id})
            out.append(Lease(run_id, owner, new_epoch, float(now) + ttl))

        self._write(write, f"take the lease of run {run_id}")
        return out[0]

    def renew_lease(self, lease: Lease, *, ttl: float) -> Lease:
        """Push the lease's expiry ``ttl`` seconds past the database's now."""
        m = self._mark
        out: list[Lease] = []

        def write(cur: Any) -> None:
            cur.execute(
                f"UPDATE runs SET lease_expires_epoch = {self._now_sql()} + {m('ttl')} "
                f"WHERE id = {m('id')} AND lease_epoch = {m('epoch')} "
                f"AND owner_id = {m('owner')}",
                {"ttl": ttl, "id": lease.run_id, "epoch": lease.epoch, "owner": lease.owner})
            if cur.rowcount == 0:
                raise LeaseLostError(lease.run_id, epoch=lease.epoch)
            cur.execute(f"SELECT lease_expires_epoch FROM runs WHERE id = {m('id')}",
                        {"id": lease.run_id})
            out.append(Lease(lease.run_id, lease.owner, lease.epoch, float(cur.fetchone()[0])))

        self._write(write, f"renew the lease of run {lease.run_id}")
        return out[0]

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up; the epoch stays, so the old holder stays fenced out."""
        m = self._mark

        def write(cur: Any) -> None:
            cur.execute(
                "UPDATE runs SET owner_id = NULL, lease_expires_epoch = NULL "
                f"WHERE id = {m('id')} AND lease_epoch = {m('epoch')}",
                {"id": lease.run_id, "epoch": lease.epoch})

        self._write(write, f"release the lease of run {lease.run_id}")

    def lease_info(self, run_id: str) -> LeaseInfo:
        """Who holds the run's lease, read against the database clock.

        A plain read on the pool: on SQLite a write transaction would take the write lock.
        """
        r = runs.c
        rows = self._rows(sa.select(
            r.owner_id, r.lease_epoch, r.lease_acquired_epoch, r.lease_expires_epoch,
            sa.literal_column(self._now_sql())).where(r.id == run_id))
        if not rows:
            raise RunNotFoundError(run_id)
        holder, epoch, acquired, expires, now = tuple(rows[0])
        return LeaseInfo(run_id, holder, int(epoch), acquired, expires, float(now))

    def send_command(self, run_id: str, kind: str, *, user: str | None = None) -> None:
        """Queue a command for the run's owner."""
        if kind not in COMMAND_KINDS:
            raise StoreError(f"unknown run command {kind!r}",
                             hint="use one of: " + ", ".join(COMMAND_KINDS))
        m = self._mark

        def write(cur: Any) -> None:
            cur.execute(
                "INSERT INTO run_commands (run_id, kind, user_id, created_at_epoch) "
                f"VALUES ({m('run_id')}, {m('kind')}, {m('user')}, {self._now_sql()})",
                {"run_id": run_id, "kind": kind, "user": user})

        self._write(write, f"send {kind} to run {run_id}")

    def take_commands(self, run_ids: list[str]) -> list[RunCommand]:
        """Return the commands not yet taken for these runs, and mark them taken."""
        if not run_ids:
            return []
        m = self._mark
        wanted = set(run_ids)
        out: list[RunCommand] = []
        # The untaken rows are few (each is taken within a poll): read them all through
        # the (taken_at_epoch, run_id) index and keep ours, rather than bind a long IN list.
        # A plain read on the pool, and a write only when there is something to take: on
        # SQLite a write transaction per poll would take the write lock twice a second.
        c = run_commands.c
        rows = [tuple(r) for r in self._rows(sa.select(c.id, c.run_id, c.kind, c.user_id)
                                             .where(c.taken_at_epoch.is_(None))
                                             .order_by(c.id)) if r.run_id in wanted]
        if not rows:
            return out

        def write(cur: Any) -> None:
            for row in rows:
                cur.execute(
                    f"UPDATE run_commands SET taken_at_epoch = {self._now_sql()} "
                    f"WHERE id = {m('id')} AND taken_at_epoch IS NULL", {"id": row[0]})
                if cur.rowcount:
                    out.append(RunCommand(int(row[0]), row[1], row[2], row[3]))

        self._write(write, "take run commands")
        return out

