"""Storage: the SQL journal (SQLite, PostgreSQL), the in-memory journal, migrations.

``open_store()`` is the one way in; the schema's tables are in
``flowscope.store.schema`` for modules that query them with SQLAlchemy Core.
"""

from flowscope.store.memory import MemoryStore
from flowscope.store.open import open_store, sqlite_engine
from flowscope.store.sql import SQLStore

__all__ = ["MemoryStore", "SQLStore", "open_store", "sqlite_engine"]
