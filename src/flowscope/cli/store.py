"""Opening the store a command works on, and the engine that runs on it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flowscope.cli.options import db_url
from flowscope.engine.hooks import EngineHooks
from flowscope.engine.journal import Journal
from flowscope.engine.leases import DEFAULT_TTL
from flowscope.engine.runner import Engine
from flowscope.errors import FlowscopeError, StoreError
from flowscope.model.values import parse_seconds
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


def lease_ttl(config_path: str | None = None) -> float:
    """The run lease time from ``flowscope.yaml`` (``leases: {ttl: 30s}``; default 30 s).

    A ``config_path`` that does not exist means the default, as no file does.

    Raises:
        StoreError: the setting is not a positive duration.
    """
    from flowscope.diagnosis.config import read_config_file  # imported only when used

    if config_path is not None and not Path(config_path).is_file():
        return DEFAULT_TTL
    data, source = read_config_file(config_path)
    return lease_ttl_of(data, source)


def lease_ttl_of(data: Any, source: str | None) -> float:
    """The ``leases.ttl`` setting of parsed configuration ``data`` (default 30 s).

    Raises:
        StoreError: the setting is not a positive duration.
    """
    section = data.get("leases") if isinstance(data, dict) else None
    if section is None:
        return DEFAULT_TTL
    raw = section.get("ttl") if isinstance(section, dict) else section
    where = f"{source or 'the configuration'}: leases.ttl"
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise StoreError(f"{where} {raw!r} is not a positive duration",
                         hint="write e.g. leases: {ttl: 30s}")
    return parse_seconds(raw, where, error=StoreError)


@contextmanager
def engine_on(store: Journal, hooks: Sequence[EngineHooks] = ()) -> Iterator[Engine]:
    """Yield an engine on ``store`` and release its worker threads afterwards.

    Failures are classified with the user's rules from ``flowscope.yaml`` (or
    ``$FLOWSCOPE_CONFIG``) before the built-in ones; run leases last ``leases.ttl``.
    """
    from flowscope.diagnosis.config import DiagnosisConfig, config_from_dict, read_config_file

    # The file is read once for both of its sections.
    data, source = read_config_file()
    rules = config_from_dict(data, source=source).classifier() if source else \
        DiagnosisConfig().classifier()
    engine = Engine(store, hooks=hooks, classify=rules, lease_ttl=lease_ttl_of(data, source))
    try:
        yield engine
    finally:
        engine.close()
