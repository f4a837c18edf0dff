"""Opening the store a command works on, and the engine that runs on it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from flowscope.cli.options import db_url
from flowscope.engine.hooks import EngineHooks
from flowscope.engine.journal import Journal
from flowscope.engine.runner import Engine
from flowscope.errors import FlowscopeError, StoreError
from flowscope.store import open_store


@contextmanager
def opened_store(db: str | None) -> Iterator[Journal]:
    """Open the store named by ``--db`` (else ``$FLOWSCOPE_DB``, else the default file).

    Raises:
        StoreError: The URL is malformed or the database cannot be opened.
    """
    url = db_url(db)
    try:
        store = open_store(url)
    except FlowscopeError:
        raise
    except Exception as exc:  # e.g. a database driver that is not installed
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(
            f"cannot open the store {url!r}: {detail}",
            hint="pass --db with a SQLite file path or a sqlite:/// or postgresql:// URL",
        ) from None
    try:
        yield store
    finally:
        store.close()


@contextmanager
def engine_on(store: Journal, hooks: Sequence[EngineHooks] = ()) -> Iterator[Engine]:
    """Yield an engine on ``store`` and release its worker threads afterwards.

    Failures are classified with the user's rules from ``flowscope.yaml`` (or
    ``$FLOWSCOPE_CONFIG``) before the built-in ones.
    """
    from flowscope.diagnosis.config import load_config

    engine = Engine(store, hooks=hooks, classify=load_config().classifier())
    try:
        yield engine
    finally:
        engine.close()
