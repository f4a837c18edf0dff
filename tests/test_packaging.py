"""The package's public surface: the export list and the console script."""

from __future__ import annotations

import importlib
import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import flowscope

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_all_is_a_sorted_list_of_unique_strings() -> None:
    exported = getattr(flowscope, "__all__", None)
    assert isinstance(exported, list | tuple), "flowscope/__init__.py must define __all__"
    assert all(isinstance(name, str) for name in exported)
    assert len(set(exported)) == len(exported), "__all__ has duplicates"
    assert list(exported) == sorted(exported), "__all__ must be sorted"


def test_every_exported_name_is_importable() -> None:
    missing = [name for name in flowscope.__all__ if not hasattr(flowscope, name)]
    assert not missing, f"names in flowscope.__all__ that do not exist: {missing}"


def _resolve(target: str) -> object:
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def test_console_script_in_pyproject_resolves_to_a_callable() -> None:
    scripts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["scripts"]
    assert "flowscope" in scripts
    assert callable(_resolve(scripts["flowscope"]))


def test_installed_console_script_matches_pyproject() -> None:
    found = importlib.metadata.entry_points(group="console_scripts", name="flowscope")
    if not found:
        pytest.skip("flowscope is not installed (run through scripts/test.sh to check this)")
    (entry,) = found
    scripts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["scripts"]
    assert entry.value == scripts["flowscope"]
    assert callable(entry.load())
