"""Snapshots: the state of a run at a step boundary, and the bounded ring that keeps them."""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from flowscope.debugger.errors import SnapshotNotFoundError

if TYPE_CHECKING:
    from flowscope.engine.state import RunState


class Snapshot(Mapping[str, Any]):
    """A read-only mapping over a copy of a state, with ``id``, ``taken_at`` and ``label``.

    Snapshots the debugger takes before every step are *lazy*: they remember how many step
    results the run had (results are only ever appended, until a rewind, before which the
    debugger materialises them) and a copy of the variables, so taking one costs O(1).
    Reading an item returns a deep copy, so nobody can change a snapshot.
    """

    __slots__ = ("_data", "_lazy", "id", "label", "run_id", "seq", "step_id", "taken_at")

    def __init__(
        self,
        snapshot_id: int,
        data: Mapping[str, Any] | None = None,
        *,
        label: str | None = None,
        taken_at: datetime | None = None,
        run_id: str | None = None,
        step_id: str | None = None,
        seq: int | None = None,
        lazy: tuple[RunState, int, Mapping[str, Any]] | None = None,
        copy_data: bool = True,
    ) -> None:
        self.id = snapshot_id
        self.label = label
        self.taken_at = taken_at or datetime.now(UTC)
        self.run_id = run_id
        self.step_id = step_id
        self.seq = seq
        self._lazy = lazy
        self._data: dict[str, Any] | None = None
        if data is not None:
            self._data = copy.deepcopy(dict(data)) if copy_data else dict(data)

    def materialize(self) -> None:
        """Copy the state out of the live run now (before the run's results change)."""
        if self._data is None and self._lazy is not None:
            state, n_steps, vars_ = self._lazy
            self._data = {
                "inputs": copy.deepcopy(state.inputs),
                "steps": copy.deepcopy(dict(islice(state.steps.items(), n_steps))),
                "vars": copy.deepcopy(dict(vars_)),
            }
            self._lazy = None

    def parts(self, start: int) -> tuple[Mapping[str, Any], dict[str, Any], Mapping[str, Any]]:
        """Return (inputs, step results from position ``start`` on, vars), without copies."""
        if self._lazy is not None:
            state, n_steps, vars_ = self._lazy
            return state.inputs, dict(islice(state.steps.items(), start, n_steps)), vars_
        raw = self._raw()
        steps = raw.get("steps", {})
        return raw.get("inputs", {}), dict(islice(steps.items(), start, None)), \
            raw.get("vars", {})

    @property
    def is_lazy(self) -> bool:
        """Whether it still reads from the live run."""
        return self._data is None

    @property
    def n_steps(self) -> int:
        """How many step results the state holds."""
        if self._lazy is not None:
            return self._lazy[1]
        return len(self._raw().get("steps", {}))

    def _raw(self) -> dict[str, Any]:
        if self._data is None:
            self.materialize()
        return self._data or {}

    def __getitem__(self, key: str) -> Any:
        return copy.deepcopy(self._raw()[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw())

    def __len__(self) -> int:
        return len(self._raw())

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy of the state."""
        return copy.deepcopy(self._raw())

    def info(self) -> dict[str, Any]:
        """Return the snapshot's identity (no state) as JSON data."""
        return {"id": self.id, "label": self.label, "taken_at": self.taken_at.isoformat(),
                "run_id": self.run_id, "step_id": self.step_id, "seq": self.seq}

    def __repr__(self) -> str:
        return f"Snapshot(id={self.id}, step_id={self.step_id!r}, label={self.label!r})"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


class SnapshotRing:
    """The newest ``max_snapshots`` snapshots, oldest first (older ones are dropped)."""

    def __init__(self, max_snapshots: int) -> None:
        if isinstance(max_snapshots, bool) or not isinstance(max_snapshots, int) \
                or max_snapshots < 1:
            from flowscope.errors import DebuggerError

            raise DebuggerError(f"max_snapshots must be a positive integer, got "
                                f"{max_snapshots!r}", hint="pass e.g. max_snapshots=100")
        self.max_snapshots = max_snapshots
        self._ring: deque[Snapshot] = deque(maxlen=max_snapshots)
        self._lock = threading.Lock()
        self._next = 1

    def next_id(self) -> int:
        """Reserve the next snapshot id."""
        with self._lock:
            sid = self._next
            self._next += 1
            return sid

    def append(self, snapshot: Snapshot) -> Snapshot:
        """Keep a snapshot (dropping the oldest when full)."""
        self._ring.append(snapshot)
        return snapshot

    def get(self, snapshot_id: int) -> Snapshot:
        """Return the snapshot with this id (SnapshotNotFoundError if gone)."""
        for snap in reversed(self._ring):
            if snap.id == snapshot_id:
                return snap
        raise SnapshotNotFoundError(snapshot_id)

    def materialize_run(self, run_id: str) -> None:
        """Copy out every lazy snapshot of ``run_id`` (before its results change)."""
        for snap in list(self._ring):
            if snap.run_id == run_id:
                snap.materialize()

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(list(self._ring))

    def __len__(self) -> int:
        return len(self._ring)

    def clear(self) -> None:
        """Drop every snapshot."""
        self._ring.clear()
