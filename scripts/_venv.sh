# Shared by scripts/test.sh and scripts/demo.sh: create or reuse the repo's .venv and
# install Flowscope into it (editable). Sourced, not run; expects REPO_ROOT to be set.
#
# Usage: ensure_venv "<pip extras spec, e.g. .[test] or .>"

ensure_venv() {
    local spec="$1"
    local venv="$REPO_ROOT/.venv"
    local py="$venv/bin/python"

    if ! command -v python3 >/dev/null 2>&1; then
        echo "error: python3 (3.11 or newer) is required but was not found on PATH" >&2
        return 1
    fi
    if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
        echo "error: python3 is $(python3 --version 2>&1); Flowscope needs 3.11 or newer" >&2
        return 1
    fi

    # A venv whose interpreter no longer runs (e.g. python was upgraded) is rebuilt.
    if [[ -x "$py" ]] && ! "$py" -c 'import sys' >/dev/null 2>&1; then
        echo "==> .venv is broken; recreating it"
        rm -rf "$venv"
    fi
    if [[ ! -x "$py" ]]; then
        echo "==> creating virtual environment at .venv"
        python3 -m venv "$venv"
    fi

    # Reinstall only when the dependency spec or pyproject.toml changed: the install is
    # editable, so source edits are picked up without it, and skipping it keeps reruns fast.
    # -qq hides pip's warnings (noise from local index settings) but keeps its errors.
    local stamp="$venv/.flowscope-install-stamp-${spec//[^a-z]/_}"
    local want
    want="$spec $(cksum <"$REPO_ROOT/pyproject.toml")"
    if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$want" ]] \
        || ! "$py" -c 'import flowscope' >/dev/null 2>&1; then
        echo "==> installing flowscope ($spec) into .venv"
        "$py" -m pip install -qq -e "$REPO_ROOT/$spec"
        printf '%s' "$want" >"$stamp"
    fi
    export PATH="$venv/bin:$PATH"
}
