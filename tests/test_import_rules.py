"""The import rules of ARCHITECTURE.md §8, read from the source with ``ast``.

Every ``import`` and ``from ... import`` under ``src/flowscope`` counts: at module level,
inside functions, and inside ``if TYPE_CHECKING:`` blocks (a type-only edge still ties
two rooms together). The allowed edges are the table ``ALLOWED`` below.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "flowscope"
SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE_DIR = SRC / PACKAGE

# The top-level package ``flowscope/__init__.py`` re-exports the public API, so a room that
# imports ``flowscope`` itself (or a name from it that is not a submodule) pulls in every
# room. It gets its own pseudo-room name, allowed for nobody but the package root.
ROOT = "<flowscope>"

_CORE = frozenset({"errors", "expressions", "model", "engine", "store"})

# room -> rooms it may import (a room may always import itself).
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "expressions": frozenset({"errors"}),
    "model": frozenset({"errors", "expressions"}),
    "engine": frozenset({"model", "expressions", "errors"}),
    "store": frozenset({"engine", "model", "expressions", "errors"}),
    "analytics": _CORE,
    # diagnosis reads the per-step statistics of analytics; never the debugger.
    "diagnosis": _CORE | {"analytics"},
    # The debugger facade exposes diagnose_error, so it may call into diagnosis.
    "debugger": _CORE | {"diagnosis"},
    # Front ends wire everything together; api serves cli, never the other way round.
    "api": _CORE | {"analytics", "diagnosis", "debugger"},
    "dap": _CORE | {"analytics", "diagnosis", "debugger"},
    "cli": _CORE | {"analytics", "diagnosis", "debugger", "api", "dap"},
    "__main__": _CORE | {"analytics", "diagnosis", "debugger", "api", "dap", "cli", ROOT},
    # Static web assets only: no Python logic, so no imports of flowscope.
    "ui": frozenset(),
}
ALL_ROOMS = frozenset(ALLOWED) | {ROOT}


@dataclass(frozen=True)
class Edge:
    """One import from a module of one room into another room."""

    module: str
    room: str
    imported: str
    imported_room: str
    line: int

    def __str__(self) -> str:
        return f"{self.module} -> {self.imported_room} (line {self.line}: imports {self.imported})"


def module_name(path: Path) -> tuple[str, bool]:
    """Return the dotted module name of a file under SRC and whether it is a package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def room_of(module: str) -> str:
    """Return the room a dotted ``flowscope...`` module belongs to."""
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT
    return parts[1]


def _is_submodule(dotted: str, package_dir: Path) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (package_dir / rel).is_dir() or (package_dir / rel).with_suffix(".py").is_file()


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(base) - 1:
        raise ValueError(f"{module}: relative import beyond the top-level package")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def imports_of(
    module: str, is_package: bool, source: str, package_dir: Path = PACKAGE_DIR
) -> list[tuple[str, int]]:
    """List the flowscope modules a source imports, as (dotted name, line) pairs.

    ``from flowscope import x`` counts as importing ``flowscope.x`` when ``x`` is a
    submodule, and as importing the package root otherwise.
    """
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve_relative(module, is_package, node.level, node.module)
            else:
                target = node.module or ""
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if alias.name != "*" and _is_submodule(candidate, package_dir):
                    found.append((candidate, node.lineno))
                else:
                    found.append((target, node.lineno))
    return found


def forbidden_edges(
    module: str, is_package: bool, source: str, package_dir: Path = PACKAGE_DIR
) -> list[Edge]:
    """Return the imports of one module that the table forbids."""
    room = room_of(module)
    if room == ROOT:
        return []  # the package root re-exports the public API: it may import anything
    if room not in ALLOWED:
        return [Edge(module, room, "<unknown room>", f"<room {room!r} not in ALLOWED>", 0)]
    bad = []
    for imported, line in imports_of(module, is_package, source, package_dir):
        target_room = room_of(imported)
        if target_room == room or target_room in ALLOWED[room]:
            continue
        bad.append(Edge(module, room, imported, target_room, line))
    return bad


def _source_files() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def test_sources_are_found() -> None:
    modules = {module_name(path)[0] for path in _source_files()}
    assert {"flowscope", "flowscope.errors", "flowscope.engine"} <= modules


def test_no_module_imports_across_a_forbidden_edge() -> None:
    offending: list[Edge] = []
    for path in _source_files():
        name, is_package = module_name(path)
        offending.extend(forbidden_edges(name, is_package, path.read_text(encoding="utf-8")))
    assert not offending, "imports that ARCHITECTURE.md §8 forbids:\n" + "\n".join(
        f"  {edge}" for edge in offending
    )


# The checker must be able to fail: synthetic modules with forbidden edges.


@pytest.mark.parametrize(
    ("module", "is_package", "source", "expected_room"),
    [
        ("flowscope.engine.runner", False, "import flowscope.store.sql\n", "store"),
        ("flowscope.engine.runner", False, "from flowscope.debugger import x\n", "debugger"),
        ("flowscope.engine.runner", False, "from ..store import open_store\n", "store"),
        ("flowscope.engine", True, "from ..analytics import tracker\n", "analytics"),
        ("flowscope.engine.runner", False, "from flowscope import Engine\n", ROOT),
        ("flowscope.engine.runner", False, "from flowscope import store\n", "store"),
        ("flowscope.errors", False, "from flowscope.model import Workflow\n", "model"),
        ("flowscope.expressions", False, "from .model import Workflow\n", "model"),
        ("flowscope.model.loader", False, "from ..engine import events\n", "engine"),
        ("flowscope.store.sql", False, "from flowscope.analytics import q\n", "analytics"),
        ("flowscope.analytics.q", False, "from flowscope.debugger import s\n", "debugger"),
        ("flowscope.analytics.q", False, "from flowscope.diagnosis import s\n", "diagnosis"),
        ("flowscope.diagnosis.c", False, "from flowscope.debugger import s\n", "debugger"),
        ("flowscope.debugger.s", False, "from flowscope.cli import main\n", "cli"),
        ("flowscope.api.app", False, "from flowscope.cli import main\n", "cli"),
        ("flowscope.api.app", False, "from flowscope.dap import server\n", "dap"),
        ("flowscope.dap.server", False, "from flowscope.api import app\n", "api"),
        (
            "flowscope.engine.runner",
            False,
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from flowscope.store.memory import MemoryStore\n",
            "store",
        ),
        (
            "flowscope.engine.runner",
            False,
            "def later():\n    from flowscope.debugger.session import Session\n",
            "debugger",
        ),
    ],
)
def test_checker_catches_forbidden_edge(
    module: str, is_package: bool, source: str, expected_room: str, tmp_path: Path
) -> None:
    package_dir = _fake_package(tmp_path)
    edges = forbidden_edges(module, is_package, source, package_dir)
    assert [edge.imported_room for edge in edges] == [expected_room]
    assert str(edges[0]).startswith(f"{module} -> {expected_room}")


@pytest.mark.parametrize(
    ("module", "is_package", "source"),
    [
        ("flowscope.engine.runner", False, "from flowscope.model import Workflow\n"),
        ("flowscope.engine.runner", False, "from . import events\nfrom .. import errors\n"),
        ("flowscope.engine", True, "from .runner import Engine\n"),
        ("flowscope.store.sql", False, "from ..engine.journal import Journal\n"),
        ("flowscope.diagnosis.c", False, "from flowscope.analytics import q\n"),
        ("flowscope.debugger.s", False, "from flowscope.diagnosis import c\n"),
        ("flowscope.cli.main", False, "from flowscope.api import app\nimport flowscope.dap\n"),
        ("flowscope", True, "from flowscope.cli import main\nfrom .api import app\n"),
        ("flowscope.errors", False, "import os\nfrom typing import Any\n"),
    ],
)
def test_checker_allows_permitted_edges(
    module: str, is_package: bool, source: str, tmp_path: Path
) -> None:
    assert forbidden_edges(module, is_package, source, _fake_package(tmp_path)) == []


def test_checker_flags_a_module_outside_every_room(tmp_path: Path) -> None:
    edges = forbidden_edges("flowscope.newroom", False, "", _fake_package(tmp_path))
    assert len(edges) == 1
    assert "newroom" in str(edges[0])


def test_relative_import_beyond_the_package_is_an_error() -> None:
    with pytest.raises(ValueError, match="beyond the top-level package"):
        imports_of("flowscope.errors", False, "from ... import x\n")


def test_table_covers_every_room_on_disk() -> None:
    on_disk = {room_of(module_name(path)[0]) for path in _source_files()}
    assert on_disk <= ALL_ROOMS, f"rooms missing from ALLOWED: {sorted(on_disk - ALL_ROOMS)}"


def _fake_package(tmp_path: Path) -> Path:
    """Lay out a package tree with every room, so ``from flowscope import x`` resolves."""
    root = tmp_path / PACKAGE
    for room in ALLOWED:
        if room in {"errors", "expressions", "__main__"}:
            root.mkdir(parents=True, exist_ok=True)
            (root / f"{room}.py").write_text("")
        else:
            (root / room).mkdir(parents=True, exist_ok=True)
            (root / room / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    return root


# The debugger gets its storage only through the store's ``debug_storage()``: it never asks
# which kind of store it has, nor runs SQL itself (ARCHITECTURE.md §8; issue 9, "Store").

_STORE_KIND_NAMES = frozenset({"dialect", "SQLStore", "MemoryStore"})
_STORE_IMPLEMENTATIONS = frozenset({
    "flowscope.store.sql", "flowscope.store.memory", "flowscope.store.schema",
    "flowscope.store.debug_sql", "flowscope.store.debug_memory",
})


def store_kind_questions(source: str) -> list[str]:
    """Where a module asks which kind of store it has, or talks SQL itself.

    Counted: any import of ``sqlalchemy``; any import of the store's implementation
    modules; any name, attribute or string ``dialect`` / ``SQLStore`` / ``MemoryStore``.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        imported: list[str] = []
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            imported += [a.name for a in node.names if a.name in _STORE_KIND_NAMES]
        for name in imported:
            if (name == "sqlalchemy" or name.startswith("sqlalchemy.")
                    or name in _STORE_IMPLEMENTATIONS or name in _STORE_KIND_NAMES):
                found.append(f"line {node.lineno}: imports {name}")
        text = None
        if isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        if text in _STORE_KIND_NAMES:
            found.append(f"line {node.lineno}: mentions {text!r}")
    return sorted(set(found))


def test_the_debugger_never_asks_which_kind_of_store_it_has() -> None:
    offending = [
        f"{path.relative_to(SRC)} {where}"
        for path in sorted((PACKAGE_DIR / "debugger").rglob("*.py"))
        for where in store_kind_questions(path.read_text(encoding="utf-8"))
    ]
    assert not offending, "the debugger asks which store it has:\n" + "\n".join(offending)


@pytest.mark.parametrize("source", [
    "import sqlalchemy as sa\n",
    "from sqlalchemy import select\n",
    "def f(store):\n    return getattr(store, 'dialect', 'memory')\n",
    "def f(store):\n    return store.dialect == 'sqlite'\n",
    "from flowscope.store.sql import SQLStore\n",
    "from flowscope.store import SQLStore\n",
    "def f(store):\n    return isinstance(store, MemoryStore)\n",
    "from flowscope.store import schema\n",
    "from flowscope.store.debug_memory import MemoryDebugStorage\n",
])
def test_the_store_kind_check_can_fail(source: str) -> None:
    assert store_kind_questions(source)


def test_the_store_kind_check_allows_the_contract() -> None:
    source = ("from flowscope.store import copy_json_fast\n"
              "def f(store):\n    return store.debug_storage()\n")
    assert store_kind_questions(source) == []


def private_imports_across_rooms(module: str, is_package: bool, source: str,
                                 package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The ``_private`` modules of other rooms that a module imports (§8 forbids them)."""
    room = room_of(module)
    return sorted({
        f"{module} -> {imported} (line {line})"
        for imported, line in imports_of(module, is_package, source, package_dir)
        if room_of(imported) != room
        and any(part.startswith("_") for part in imported.split(".")[2:])
    })


def test_no_module_imports_a_private_module_of_another_room() -> None:
    offending: list[str] = []
    for path in _source_files():
        name, is_package = module_name(path)
        offending.extend(private_imports_across_rooms(
            name, is_package, path.read_text(encoding="utf-8")))
    assert not offending, "private modules imported from another room:\n" + "\n".join(
        f"  {edge}" for edge in offending)


def test_the_private_module_check_can_fail(tmp_path: Path) -> None:
    package_dir = _fake_package(tmp_path)
    (package_dir / "store" / "_codec.py").write_text("")
    source = "from flowscope.store._codec import copy_json_fast\n"
    assert private_imports_across_rooms("flowscope.debugger.history", False, source,
                                        package_dir) == [
        "flowscope.debugger.history -> flowscope.store._codec (line 1)"]
    assert private_imports_across_rooms("flowscope.store.memory", False, source,
                                        package_dir) == []
