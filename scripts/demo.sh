#!/usr/bin/env bash
# The demo: install Flowscope into .venv and run the example workflows in examples/.
#
# Usage: bash scripts/demo.sh
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/_venv.sh
source "$REPO_ROOT/scripts/_venv.sh"

ensure_venv "."

echo "==> flowscope demo examples"
exec flowscope demo examples
