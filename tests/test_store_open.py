"""open_store: URLs, defaults, errors; migrations on open."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowscope.errors import StoreError
from flowscope.store import MemoryStore, SQLStore, open_store
from flowscope.store import migrate as migrate_module
from flowscope.store.schema import VERSION_TABLE, metadata
from flowscope.store.testing import POSTGRES_ENV, make_store, postgres_url, store_params


def test_memory() -> None:
    store = open_store("memory")
    assert isinstance(store, MemoryStore) and store.dialect == "memory"


def test_plain_path_opens_a_sqlite_file_creating_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "x.db"
    with open_store(str(path)) as store:
        assert isinstance(store, SQLStore)
        assert store.dialect == "sqlite" and store.url == f"sqlite:///{path}"
    assert path.is_file()


def test_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "y.db"
    with open_store(f"sqlite:///{path}") as store:
        assert isinstance(store, SQLStore) and store.dialect == "sqlite"
        assert isinstance(store.engine, sa.Engine)
    assert path.is_file()


def test_in_memory_sqlite_url_keeps_its_data() -> None:
    from flowscope.engine.records import RunRecord
    from flowscope.engine.status import RunStatus

    with open_store("sqlite://") as store:
        store.create_run(RunRecord(id="r-1", workflow="w", version="1", definition_hash="h",
                                   status=RunStatus.PENDING))
        assert store.get_run("r-1").workflow == "w"


def test_default_is_dot_flowscope_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWSCOPE_DB", raising=False)
    with open_store() as store:
        assert store.dialect == "sqlite"
    assert (tmp_path / ".flowscope" / "flowscope.db").is_file()


def test_env_var_names_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSCOPE_DB", "memory")
    assert isinstance(open_store(), MemoryStore)
    monkeypatch.setenv("FLOWSCOPE_DB", str(tmp_path / "env.db"))
    with open_store():
        pass
    assert (tmp_path / "env.db").is_file()


@pytest.mark.parametrize(("url", "message"), [
    ("", "empty"),
    ("mysql://u@localhost/db", "unsupported database 'mysql'"),
    ("postgresql+asyncpg://u@localhost/db", "unsupported PostgreSQL driver 'asyncpg'"),
    ("not a url://x", "cannot parse"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        open_store(url)
    assert info.value.hint


def test_unreachable_postgres_is_a_store_error() -> None:
    # Port 1 on localhost: nothing listens there, so the connection is refused at once.
    with pytest.raises(StoreError, match="cannot connect to postgresql") as info:
        open_store("postgresql://nobody@127.0.0.1:1/none")
    assert "server is running" in str(info.value)


def test_unwritable_directory_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory"):
        open_store(str(blocker / "sub" / "x.db"))


def test_directory_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        open_store(str(tmp_path))


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"junk\.db"):
        open_store(str(junk))


def test_bad_synchronous_level(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="synchronous"):
        open_store(str(tmp_path / "x.db"), synchronous="SOMETIMES")


@pytest.mark.parametrize("level", ["NORMAL", "FULL"])
def test_sqlite_connection_settings(tmp_path: Path, level: str) -> None:
    with open_store(str(tmp_path / "x.db"), synchronous=level) as store:
        assert isinstance(store, SQLStore)
        with store.engine.connect() as conn:
            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == {"NORMAL": 1, "FULL": 2}[level]
            assert pragma("busy_timeout") == 5000
            assert pragma("foreign_keys") == 1


# -- migrations --------------------------------------------------------------------


def test_head_revisions_are_read_from_the_packaged_files() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrate_module.MIGRATIONS_DIR))
    # Our quick reader agrees with Alembic's own (which imports every migration).
    expected = frozenset(ScriptDirectory.from_config(config).get_heads())
    assert migrate_module.head_revisions() == expected
    assert expected and (migrate_module.MIGRATIONS_DIR / "env.py").is_file()


@pytest.fixture(params=store_params(("sqlite", "postgres")))
def sql_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    with make_store(request.param, tmp_path) as store:
        yield store


def test_open_applies_migrations(sql_store: SQLStore) -> None:
    with sql_store.engine.connect() as conn:
        assert migrate_module.current_revisions(conn) == migrate_module.head_revisions()
        tables = set(sa.inspect(conn).get_table_names())
    assert {"runs", "step_attempts", "events", VERSION_TABLE} <= tables


def test_reopen_skips_alembic(sql_store: SQLStore) -> None:
    assert migrate_module.upgrade(sql_store.engine) is False


def test_migrations_match_the_schema_module(sql_store: SQLStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with sql_store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": False, "version_table": VERSION_TABLE,
            "include_object": _only_this_schema_module})
        diff = compare_metadata(context, metadata)
    assert diff == []


def _only_this_schema_module(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # Other modules add tables and indexes in later migrations; judge only ours.
    if type_ == "table":
        return name in metadata.tables
    return not (reflected and compare_to is None)


def test_reopening_a_migrated_file_keeps_data_and_revision(tmp_path: Path) -> None:
    from flowscope.engine.records import RunRecord
    from flowscope.engine.status import RunStatus

    path = str(tmp_path / "x.db")
    with open_store(path) as store:
        store.create_run(RunRecord(id="r-1", workflow="w", version="1", definition_hash="h",
                                   status=RunStatus.PENDING))
    with open_store(path) as store:
        assert store.get_run("r-1").workflow == "w"
    rows = sqlite3.connect(path).execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    assert {row[0] for row in rows} == migrate_module.head_revisions()


def test_migrating_does_not_touch_logging(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    alembic_logger = logging.getLogger("alembic")
    alembic_handlers = list(alembic_logger.handlers)
    with open_store(str(tmp_path / "x.db")):
        pass
    assert root.handlers == handlers and root.level == level
    assert alembic_logger.handlers == alembic_handlers


def test_postgres_url_from_env_uses_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTGRES_ENV, "postgresql://u@h:5432/db")
    url = postgres_url()
    assert url is not None and url.drivername == "postgresql+psycopg"


@pytest.mark.postgres
def test_bare_postgresql_url_opens_with_psycopg3() -> None:
    url = postgres_url()
    if url is None:
        pytest.skip(f"set {POSTGRES_ENV}")
    schema = "flowscope_test_bare_url"
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        bare = url.set(drivername="postgresql", query={"options": f"-csearch_path={schema}"})
        with open_store(bare.render_as_string(hide_password=False)) as store:
            assert isinstance(store, SQLStore) and store.dialect == "postgresql"
            assert store.engine.dialect.driver == "psycopg"
            assert store.list_runs() == []
        with admin.connect() as conn:
            tables = sa.inspect(conn).get_table_names(schema=schema)
        assert "runs" in tables
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
