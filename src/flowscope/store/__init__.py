"""Storage: the SQL journal (SQLite, PostgreSQL), the in-memory journal, migrations.

``open_store()`` is the one way in; the schema's tables are in
``flowscope.store.schema`` for modules that query them with SQLAlchemy Core.
``copy_json_fast`` (and its ``NotPlainJSON``) copies plain JSON data for any room that
keeps private copies of run state.
"""

from flowscope.store._codec import NotPlainJSON, copy_json_fast
from flowscope.store.memory import MemoryStore
from flowscope.store.open import open_store, sqlite_engine
from flowscope.store.sql import SQLStore

__all__ = [
    "MemoryStore", "NotPlainJSON", "SQLStore", "copy_json_fast", "open_store", "sqlite_engine",
]
