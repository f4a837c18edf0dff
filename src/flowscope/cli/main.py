"""The ``flowscope`` console script.

Each command module adds its commands to :data:`flowscope.cli.app.app` when it is
imported, so adding a command is one more import line below.
"""

from __future__ import annotations

from flowscope.cli import demo as _demo
from flowscope.cli import inspect as _inspect
from flowscope.cli import run as _run
from flowscope.cli.app import app

#: The command modules registered with the app (kept referenced so the imports stay).
COMMAND_MODULES = (_run, _inspect, _demo)

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line (exit codes: 0 ok, 1 run failed or cancelled, 2 bad input)."""
    app(prog_name="flowscope")


if __name__ == "__main__":
    main()
