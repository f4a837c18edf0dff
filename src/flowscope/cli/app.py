"""The Typer application every command module adds its commands to.

Errors are handled once, here, for every command: a :class:`FlowscopeError` (bad file,
bad input, unknown run...) and a command-line usage error each become one red line on
stderr and exit code 2, never a traceback. Commands therefore just raise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from flowscope.errors import FlowscopeError

#: Exit codes shared by every command.
EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


#: Width of tables when stdout is not a terminal (logs and pipes have no width to fit).
PIPE_WIDTH = 160


def stdout_console() -> Console:
    """Return a console on the current stdout (looked up per call so test runners work).

    Off a terminal the width is :data:`PIPE_WIDTH` unless ``COLUMNS`` says otherwise, so
    that tables written to a log are not squeezed into 80 columns.
    """
    stream = sys.stdout
    width = None
    if not (hasattr(stream, "isatty") and stream.isatty()) and not os.environ.get("COLUMNS"):
        width = PIPE_WIDTH
    return Console(file=stream, highlight=False, width=width)


def stderr_console() -> Console:
    """Return a console on the current stderr."""
    return Console(file=sys.stderr, highlight=False)


def print_error(message: str) -> None:
    """Print one red ``error: ...`` line on stderr (never wrapped over several lines)."""
    line = " ".join(message.split())  # one line, whatever the message holds
    stderr_console().print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)


class FlowscopeGroup(TyperGroup):
    """The root command group: turns every deliberate error into one line and exit 2."""

    def invoke(self, ctx: Any) -> Any:
        """Run the chosen command; a ``FlowscopeError`` becomes a clean exit 2."""
        try:
            return super().invoke(ctx)
        except FlowscopeError as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; usage errors print one line instead of a boxed help panel."""
        try:
            result = super().main(
                args=args, prog_name=prog_name, complete_var=complete_var,
                standalone_mode=False, windows_expand_args=windows_expand_args, **extra,
            )
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        except typer.TyperException as exc:  # click's usage errors (bad option, missing arg)
            print_error(exc.format_message())
            code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
        except FlowscopeError as exc:  # raised while parsing, e.g. by a callback
            print_error(str(exc))
            code = EXIT_BAD_INPUT
        except typer.Abort:
            print_error("aborted")
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


def package_version() -> str:
    """Return the installed version of Flowscope (``unknown`` when run from a source tree)."""
    try:
        return metadata.version("flowscope")
    except metadata.PackageNotFoundError:
        return "unknown"


def _version_callback(value: bool) -> None:
    if value:
        stdout_console().print(f"flowscope {package_version()}")
        raise typer.Exit(EXIT_OK)


app = typer.Typer(
    cls=FlowscopeGroup,
    name="flowscope",
    help="Flowscope: run durable workflows and see into them.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """Flowscope: run durable workflows and see into them."""
    if ctx.invoked_subcommand is None:
        stdout_console().print(ctx.get_help(), markup=False)
        raise typer.Exit(EXIT_OK)
