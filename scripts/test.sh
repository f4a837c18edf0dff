#!/usr/bin/env bash
# The test command: lint, type-check and run the test suite with branch coverage.
#
# Usage: bash scripts/test.sh [extra pytest arguments...]
# Needs only python3 (3.11+) and access to PyPI; creates or reuses .venv in the repo.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/_venv.sh
source "$REPO_ROOT/scripts/_venv.sh"

ensure_venv ".[test]"

echo "==> ruff check src tests bench"
ruff check src tests bench

echo "==> mypy --strict (src)"
mypy --strict

echo "==> pytest (branch coverage)"
set +e
python -m pytest --cov=flowscope --cov-branch --cov-report=term:skip-covered "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
    echo "error: pytest collected no tests; a test run that runs nothing is a failure" >&2
    exit 1
fi
if [[ $rc -ne 0 ]]; then
    echo "error: pytest failed (exit code $rc)" >&2
    exit "$rc"
fi
echo "==> all checks passed"
