"""The ``flowscope`` console script.

Each command module adds its commands to :data:`flowscope.cli.app.app` when it is
imported (``@app.command(...)``), so registering a new command module is one import
line below.
"""

from __future__ import annotations

from flowscope.cli import (
    analytics_cmds,  # noqa: F401  registers: stats, top, trends, export
    debug_cmd,  # noqa: F401  registers: debug
    demo,  # noqa: F401  registers: demo
    diagnosis_cmds,  # noqa: F401  registers: why, errors, report-error
    inspect,  # noqa: F401  registers: runs, show
    run,  # noqa: F401  registers: run, validate, resume, cancel
)
from flowscope.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line (exit codes: 0 ok, 1 run failed or cancelled, 2 bad input)."""
    app(prog_name="flowscope")


if __name__ == "__main__":
    main()
