"""The snapshot history: a snapshot at every step boundary, and its on-disk delta form.

Snapshots go to the session's bounded in-memory ring and, when history is recorded, to
the store. Stored rows hold a delta against the previous row of the same run and
session: ``{"base": true, "inputs", "steps", "vars"}`` for the first (or the first after
a restore), then ``{"steps": {results added since}, "vars": ...}`` with ``vars`` only
when they changed. :func:`encode` writes that form and :func:`decode` reads it back; the
two live here together so the format has one home.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from flowscope.debugger.persistence import SnapshotRow
from flowscope.debugger.snapshots import Snapshot, SnapshotRing
from flowscope.debugger.tree import RunTree
from flowscope.engine.hooks import PendingStep
from flowscope.store import NotPlainJSON, copy_json_fast


def take_snapshot(ring: SnapshotRing, tree: RunTree, pending: PendingStep,
                  record_history: bool) -> Snapshot:
    """Keep a lazy snapshot of the state before ``pending`` (O(1) unless vars changed)."""
    state = pending.state
    run_id = pending.run_id
    last = tree.last_vars.get(run_id)
    if last is None or state.vars != last:
        # Snapshots share one copy of the vars until they change.
        last = copy.deepcopy(state.vars)
        tree.last_vars[run_id] = last
    snap = Snapshot(ring.next_id(), run_id=run_id, step_id=pending.step.id,
                    lazy=(state, len(state.steps), last))
    snap.seq = snap.id
    ring.append(snap)
    if record_history:
        tree.history.append(snap)
    return snap


def encode(session_id: str, tree: RunTree) -> list[SnapshotRow]:
    """Turn the snapshots taken since the last call into delta rows (and forget them)."""
    rows: list[SnapshotRow] = []
    for snap in tree.history:
        run_id = snap.run_id or ""
        start = tree.stored_steps.get(run_id)
        inputs, steps, vars_ = snap.parts(0 if start is None else start)
        delta: dict[str, Any] = {"steps": steps}
        if start is None:
            delta.update(base=True, inputs=inputs, vars=vars_)
        elif tree.stored_vars.get(run_id) is not vars_:
            delta["vars"] = vars_
        tree.stored_steps[run_id] = (start or 0) + len(steps)
        tree.stored_vars[run_id] = vars_
        rows.append(SnapshotRow(session_id, snap.id, run_id, snap.seq or snap.id, snap.step_id,
                                snap.label, _copy_plain(delta), snap.taken_at))
    tree.history = []
    return rows


def forget_run(tree: RunTree, run_id: str) -> None:
    """After a restore: the next stored row of the run is a full (base) one again."""
    tree.last_vars.pop(run_id, None)
    tree.stored_steps.pop(run_id, None)
    tree.stored_vars.pop(run_id, None)


def decode(rows: Iterable[SnapshotRow]) -> list[dict[str, Any]]:
    """Rebuild the full state of each stored row of one run, oldest first.

    Each item: ``{"id", "run_id", "seq", "step_id", "label", "taken_at", "state"}``.
    """
    out: list[dict[str, Any]] = []
    state: dict[str, Any] = {"inputs": {}, "steps": {}, "vars": {}}
    for row in rows:
        delta = row.state
        if delta.get("base"):
            state = {"inputs": copy.deepcopy(delta.get("inputs", {})),
                     "steps": copy.deepcopy(dict(delta.get("steps", {}))),
                     "vars": copy.deepcopy(delta.get("vars", {}))}
        else:
            state["steps"].update(copy.deepcopy(dict(delta.get("steps", {}))))
            if "vars" in delta:
                state["vars"] = copy.deepcopy(delta["vars"])
        out.append({"id": row.id, "run_id": row.run_id, "seq": row.seq,
                    "step_id": row.step_id, "label": row.label,
                    "taken_at": row.taken_at, "state": copy.deepcopy(state)})
    return out


def _copy_plain(value: dict[str, Any]) -> dict[str, Any]:
    # Run state is plain JSON data (the engine checks outputs), so the fast copier almost
    # always applies; anything else still gets a faithful deep copy.
    try:
        copied: dict[str, Any] = copy_json_fast(value)
    except NotPlainJSON:
        copied = copy.deepcopy(value)
    return copied
