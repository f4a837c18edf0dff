"""The benchmark's own environment: ``bench/.env``, a venv holding the peers.

Peers are never runtime dependencies of Flowscope, so they live here: Prefect 3 and
DBOS Transact, DuckDB for the analytics comparison, and Flowscope itself installed
editable from this checkout. Each group is installed on its own, so that one that cannot
be installed is reported (with pip's last lines) while the rest still run.

A stamp file records what was installed; a later run with the same pins skips pip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
ENV_DIR = BENCH_DIR / ".env"
STAMP = ENV_DIR / "bench-installed.json"

#: What each group installs. Pins are what installs and runs here: Prefect 3.9 wants a
#: newer certifi than the registry offers, and Prefect 3.8's server needs FastAPI < 0.150.
GROUPS: dict[str, tuple[str, ...]] = {
    "flowscope": ("-e", str(REPO_ROOT)),
    "duckdb": ("duckdb==2.0.0",),
    "prefect": ("prefect==3.8.8", "fastapi<0.150"),
    "dbos": ("dbos==3.4.0",),
}

#: Groups the peer comparisons need; ``--no-peers`` installs none of these.
PEER_GROUPS = ("prefect", "dbos")


@dataclass
class Environment:
    """The Python the contenders run with, and what could not be installed in it."""

    python: str
    """The interpreter to run contenders with."""
    failed: dict[str, str] = field(default_factory=dict)
    """Group name -> why it is missing (pip's last lines)."""
    venv: bool = True
    """Whether this is ``bench/.env`` (False: the current interpreter, no peers)."""

    def has(self, group: str) -> bool:
        """Whether ``group`` was installed (or is importable, outside the venv)."""
        if group in self.failed:
            return False
        if self.venv:
            return True
        module = {"flowscope": "flowscope"}.get(group, group)
        probe = subprocess.run(
            [self.python, "-c", f"import {module}"], capture_output=True, check=False,
            env=_env_with_src(),
        )
        return probe.returncode == 0

    def why_missing(self, group: str) -> str:
        """Return why ``group`` is not there."""
        if group in self.failed:
            return self.failed[group]
        return f"{group} not installed (run without --no-peers to install it in bench/.env)"


def _env_with_src() -> dict[str, str]:
    import os

    env = dict(os.environ)
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def env_python() -> Path:
    """Return the venv's interpreter path."""
    return ENV_DIR / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def current() -> Environment:
    """Return the environment of the running interpreter (``--no-peers``)."""
    return Environment(python=sys.executable, venv=False)


def ensure(groups: tuple[str, ...], log: Path) -> Environment:
    """Create ``bench/.env`` if needed and install ``groups`` in it.

    Args:
        groups: Names from :data:`GROUPS`.
        log: File that receives pip's full output.

    Returns:
        The environment, with the groups that failed and why.
    """
    if not env_python().exists():
        print(f"creating {ENV_DIR} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(ENV_DIR)
    stamp = _read_stamp()
    env = Environment(python=str(env_python()))
    log.parent.mkdir(parents=True, exist_ok=True)
    for group in groups:
        spec = list(GROUPS[group])
        if stamp.get(group) == spec:
            continue
        print(f"installing {group} into {ENV_DIR} ({' '.join(spec)}) ...", flush=True)
        proc = subprocess.run(
            [env.python, "-m", "pip", "install", "--disable-pip-version-check", *spec],
            capture_output=True, text=True, check=False,
        )
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"### {group}: {' '.join(spec)}\n{proc.stdout}\n{proc.stderr}\n")
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines()
                     if ln.strip() and "is ignored: it is neither" not in ln]
            env.failed[group] = "pip install failed: " + " / ".join(lines[-2:])[-400:]
            print(f"  {group}: FAILED ({env.failed[group]})", flush=True)
            stamp.pop(group, None)
            continue
        stamp[group] = spec
    STAMP.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    return env


def _read_stamp() -> dict[str, list[str]]:
    try:
        data = json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
