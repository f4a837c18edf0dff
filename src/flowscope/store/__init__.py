"""Storage: the SQL journal (SQLite, PostgreSQL), the in-memory journal, migrations."""
