"""Small file helpers shared by the example actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def append_line(directory: str, name: str, record: dict[str, Any]) -> Path:
    """Append one JSON line to ``directory/name`` (creating the directory) and return the path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def bump_counter(directory: str, key: str) -> int:
    """Add one to the counter stored in ``directory/key.count`` and return the new value.

    The examples that simulate flaky services count their attempts here, keyed by run
    id, so that a run behaves the same way every time it runs (and two runs do not share
    a count).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.count"
    count = int(path.read_text(encoding="utf-8")) + 1 if path.exists() else 1
    path.write_text(str(count), encoding="utf-8")
    return count
