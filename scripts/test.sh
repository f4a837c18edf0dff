#!/usr/bin/env bash
# The test command: lint, type-check and run the test suite with branch coverage.
#
# Usage: bash scripts/test.sh [--fast] [extra pytest arguments...]
#   --fast  the quick tier for local work: ruff, mypy, and pytest without the tests marked
#           `slow` (they spawn processes: CLI subprocesses, executor: process, crash and
#           kill tests, the benchmark smoke test) or `postgres`, and without coverage.
#           The full command (no --fast) is what CI runs.
# Needs only python3 (3.11+) and access to PyPI; creates or reuses .venv in the repo.
# Every check runs even when an earlier one fails (so one run shows every problem);
# the exit code is non-zero when any of them failed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/_venv.sh
source "$REPO_ROOT/scripts/_venv.sh"

fast=0
pytest_args=()
for arg in "$@"; do
    if [[ "$arg" == "--fast" ]]; then
        fast=1
    else
        pytest_args+=("$arg")
    fi
done

ensure_venv ".[test]"

failed=()

echo "==> ruff check src tests bench"
ruff check src tests bench || failed+=("ruff")

echo "==> mypy --strict (src, configured in pyproject.toml)"
mypy --strict || failed+=("mypy")

rc=0
if [[ $fast -eq 1 ]]; then
    # Coverage is left out: a total over part of the suite would only mislead. A later
    # -m among the extra arguments replaces this one (pytest keeps the last -m).
    echo "==> pytest, fast tier: not slow, not postgres (no coverage; the full run has both)"
    python -m pytest -m "not slow and not postgres" ${pytest_args[@]+"${pytest_args[@]}"} || rc=$?
else
    echo "==> pytest with branch coverage"
    python -m pytest --cov=flowscope --cov-branch --cov-report=term:skip-covered \
        ${pytest_args[@]+"${pytest_args[@]}"} || rc=$?
fi
if [[ $rc -eq 5 ]]; then
    echo "error: pytest collected no tests; a test run that runs nothing is a failure" >&2
    failed+=("pytest (no tests ran)")
elif [[ $rc -ne 0 ]]; then
    failed+=("pytest (exit $rc)")
fi

echo
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
if [[ $fast -eq 1 ]]; then
    echo "OK: ruff, mypy and pytest (fast tier) passed; the full run is bash scripts/test.sh"
else
    echo "OK: ruff, mypy and pytest passed"
fi
