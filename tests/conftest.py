"""Shared fixtures and test tiers.

Store fixtures come from the project's own helpers (:mod:`flowscope.store.testing`), so
the suite and any plugin author's tests make stores the same way: every store-backed test
runs on memory, a SQLite file and PostgreSQL (the last only when
``FLOWSCOPE_TEST_POSTGRES`` is set, and always carrying the ``postgres`` mark).

Tiers: ``slow`` marks tests that spawn processes (the CLI run as a subprocess,
``executor: process``, crash and kill tests, the benchmark smoke test); ``postgres`` marks
tests that need PostgreSQL. ``bash scripts/test.sh --fast`` leaves both out; the full
command runs everything. A module whose tests all spawn processes says so with a
module-level ``pytestmark``; :data:`MARKS_BY_TEST` below marks single tests in modules
that mix the two kinds. A test that starts a process without the ``slow`` mark fails (see
:func:`_processes_only_in_slow_tests`), so the fast tier stays free of them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# The fixtures module is a pytest plugin (it gives ``any_store``); registering it for
# assertion rewriting before importing it here keeps pytest from warning that the plugin
# was imported too early to be rewritten.
pytest.register_assert_rewrite("flowscope.store.testing")
pytest_plugins = ["flowscope.store.testing"]

from flowscope.store.testing import make_store  # noqa: E402

settings.register_profile(
    "ci", max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev", max_examples=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def store(any_store: Any) -> Any:
    """A fresh store of each kind (PostgreSQL only when FLOWSCOPE_TEST_POSTGRES is set)."""
    return any_store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    """A fresh SQLite file store."""
    with make_store("sqlite", tmp_path) as s:
        yield s


@pytest.fixture
def memory_store(tmp_path: Path) -> Iterator[Any]:
    """A fresh in-memory store."""
    with make_store("memory", tmp_path) as s:
        yield s


#: Marks for single tests in modules that mix in-process tests with tests that spawn
#: processes or need PostgreSQL, where a module-level ``pytestmark`` would take the fast
#: in-process tests out of the fast tier too. Keyed by module file name, then by test
#: function name (a parametrized test is listed once). A name that no longer exists in its
#: module is an error, so a rename cannot silently move a slow test into the fast tier.
MARKS_BY_TEST: dict[str, dict[str, str]] = {
    "test_cli_run.py": {
        "test_subprocess_run_example_and_failed_run": "slow",
        "test_subprocess_bad_input_exits_2_without_traceback": "slow",
        "test_version": "slow",
    },
    "test_engine_executors.py": {
        "test_process_step_measures_cpu_and_peak_memory": "slow",
        "test_process_step_failures_keep_their_names_and_categories": "slow",
        "test_process_step_timeout_kills_it": "slow",
    },
    "test_analytics_percentiles.py": {
        "test_sqlite_and_postgres_agree": "postgres",
    },
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply :data:`MARKS_BY_TEST`; ``tryfirst`` so the marks exist before ``-m`` deselects."""
    checked: set[str] = set()
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        module = item.path.name
        marks = MARKS_BY_TEST.get(module)
        if marks is None:
            continue
        if module not in checked:
            checked.add(module)
            missing = sorted(name for name in marks if not hasattr(item.module, name))
            if missing:
                raise pytest.UsageError(
                    f"tests/conftest.py MARKS_BY_TEST names {missing} in {module}, which has "
                    "no such tests; update the table to the tests' new names"
                )
        mark = marks.get(item.originalname)
        if mark is not None:
            item.add_marker(getattr(pytest.mark, mark))


#: The ways a test can start a process: ``subprocess`` (and asyncio's subprocesses, built on
#: it) ends in ``Popen._execute_child``; multiprocessing forks or spawns through ``os``.
_SPAWNERS: tuple[tuple[object, str], ...] = (
    (subprocess.Popen, "_execute_child"),
    (os, "fork"),
    (os, "posix_spawn"),
    (os, "posix_spawnp"),
)


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make a test that starts a process without the ``slow`` mark fail, naming the fix."""
    if request.node.get_closest_marker("slow") is not None:
        return
    nodeid = request.node.nodeid

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"{nodeid} starts a process but is not marked slow, so it would run in the fast "
            "tier; add `pytestmark = pytest.mark.slow` to its module, or list the test in "
            "MARKS_BY_TEST in tests/conftest.py"
        )

    for owner, name in _SPAWNERS:
        if hasattr(owner, name):
            monkeypatch.setattr(owner, name, refuse)
