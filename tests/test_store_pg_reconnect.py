"""A PostgreSQL connection lost in the middle of a run is retried, not fatal to the run."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from flowscope.engine import Engine, RunStatus
from flowscope.engine.hooks import EngineHooks, PendingStep
from flowscope.engine.records import StepAttemptRecord
from flowscope.model import workflow_from_dict
from flowscope.store.testing import make_store, postgres_url

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(postgres_url() is None, reason="set FLOWSCOPE_TEST_POSTGRES")]

KILL_OTHERS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend' AND state = 'idle'
"""


class Terminator(EngineHooks):
    """After step ``b`` commits, kill every idle connection the run's store holds."""

    def __init__(self) -> None:
        self.killed = 0
        url = postgres_url()
        assert url is not None
        self.admin = sa.create_engine(url, poolclass=sa.pool.NullPool)

    async def after_step(self, *, pending: PendingStep, record: StepAttemptRecord) -> None:
        if pending.step_id == "b":
            with self.admin.begin() as conn:
                self.killed += int(conn.exec_driver_sql(KILL_OTHERS).scalar() or 0)


def test_terminated_connections_mid_run_are_retried(tmp_path: Any) -> None:
    wf = workflow_from_dict({"name": "pg", "steps": [
        {"id": s, "uses": "ok", **({"needs": [p]} if p else {})}
        for s, p in (("a", None), ("b", "a"), ("c", "b"), ("d", "c"))
    ]})
    hook = Terminator()
    with make_store("postgres", tmp_path) as store:
        # Warm the pool so there are idle connections to kill.
        store.list_runs(limit=1)
        engine = Engine(store, actions={"ok": lambda: 1}, hooks=[hook], max_concurrency=1)
        result = engine.run(wf)
        engine.close()
        assert hook.killed >= 1  # the test really cut connections
        assert result.status is RunStatus.COMPLETED
        assert [a.step_id for a in store.get_steps(result.id)] == ["a", "b", "c", "d"]
        seqs = [e.seq for e in store.get_events(result.id)]
        assert seqs == list(range(1, len(seqs) + 1))
    hook.admin.dispose()
