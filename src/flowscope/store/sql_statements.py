"""The SQL store's write statements, rendered once per DBAPI parameter style."""

from __future__ import annotations

from collections.abc import Callable

from flowscope.store.failures_sql import insert_fingerprint_sql
from flowscope.store.schema import events as events_table
from flowscope.store.schema import runs as runs_table
from flowscope.store.schema import step_attempts

_DENORMALISED = ("workflow", "version", "user_id", "workflow_type")
_STEP_COLUMNS = tuple(
    c.name for c in step_attempts.columns if c.name != "id" and c.name not in _DENORMALISED
)
_RUN_COLUMNS = tuple(c.name for c in runs_table.columns)
_EVENT_COLUMNS = tuple(c.name for c in events_table.columns)


class _Sql:
    """The write statements, rendered for one DBAPI parameter style."""

    def __init__(self, mark: Callable[[str], str]) -> None:
        self.mark = mark
        # The run facts copied onto each attempt come from the caller (the store
        # remembers them per run), so the insert needs no sub-select of ``runs``.
        step_values = [mark(c) for c in _STEP_COLUMNS + _DENORMALISED]
        self.insert_step = (
            f"INSERT INTO step_attempts ({', '.join(_STEP_COLUMNS + _DENORMALISED)}) "
            f"VALUES ({', '.join(step_values)})"
        )
        # PostgreSQL has no lastrowid: a failed attempt's insert returns its id for the
        # fingerprint row (successful steps keep the plain insert).
        self.insert_step_returning = self.insert_step + " RETURNING id"
        self.insert_fingerprint = insert_fingerprint_sql(mark)
        self.run_facts = (
            f"SELECT {', '.join(_DENORMALISED)}, definition_hash FROM runs "
            f"WHERE id = {mark('run_id')}"
        )
        self.insert_run = (
            f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) "
            f"VALUES ({', '.join(mark(c) for c in _RUN_COLUMNS)})"
        )
        self.insert_event = (
            f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
            f"VALUES ({', '.join(mark(c) for c in _EVENT_COLUMNS)})"
        )
        self.set_vars = f"UPDATE runs SET vars = {mark('vars')} WHERE id = {mark('run_id')}"
        self.insert_definition = (
            f"INSERT INTO definitions (key, definition) VALUES ({mark('key')}, "
            f"{mark('definition')}) ON CONFLICT (key) DO NOTHING"
        )


_SQLITE_SQL = _Sql(lambda name: f":{name}")
_PYFORMAT_SQL = _Sql(lambda name: f"%({name})s")
