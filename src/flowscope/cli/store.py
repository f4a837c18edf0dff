"""Opening the store a command works on, and the engine that runs on it."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

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

    Raises:
        StoreError: the setting is not a positive duration.
    """
    path = Path(config_path or os.environ.get("FLOWSCOPE_CONFIG", "").strip()
                or "flowscope.yaml")
    if not path.is_file():
        return DEFAULT_TTL
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return DEFAULT_TTL  # the diagnosis settings reader reports a broken file
    section = data.get("leases") if isinstance(data, dict) else None
    if section is None:
        return DEFAULT_TTL
    raw = section.get("ttl") if isinstance(section, dict) else section
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise StoreError(f"{path}: leases.ttl {raw!r} is not a positive duration",
                         hint="write e.g. leases: {ttl: 30s}")
    return parse_seconds(raw, f"{path}: leases.ttl", error=StoreError)


@contextmanager
def engine_on(store: Journal, hooks: Sequence[EngineHooks] = ()) -> Iterator[Engine]:
    """Yield an engine on ``store`` and release its worker threads afterwards.

    Failures are classified with the user's rules from ``flowscope.yaml`` (or
    ``$FLOWSCOPE_CONFIG``) before the built-in ones; run leases last ``leases.ttl``.
    """
    from flowscope.diagnosis.config import load_config

    engine = Engine(store, hooks=hooks, classify=load_config().classifier(),
                    lease_ttl=lease_ttl())
    try:
        yield engine
    finally:
        engine.close()
