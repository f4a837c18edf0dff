#!/usr/bin/env bash
# The test command: lint, type-check and run the test suite with branch coverage.
#
# Usage: bash scripts/test.sh [extra pytest arguments...]
# Needs only python3 (3.11+) and access to PyPI; creates or reuses .venv in the repo.
# Every check runs even when an earlier one fails (so one run shows every problem);
# the exit code is non-zero when any of them failed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/_venv.sh
source "$REPO_ROOT/scripts/_venv.sh"

ensure_venv ".[test]"

failed=()

echo "==> ruff check src tests bench"
ruff check src tests bench || failed+=("ruff")

echo "==> mypy --strict (src, configured in pyproject.toml)"
mypy --strict || failed+=("mypy")

echo "==> pytest with branch coverage"
rc=0
python -m pytest --cov=flowscope --cov-branch --cov-report=term:skip-covered "$@" || rc=$?
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
echo "OK: ruff, mypy and pytest passed"
