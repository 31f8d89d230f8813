"""The `userops` command line: thin commands over the services, one clear line on error.

The commands are listed in `cli.catalog`; a command's module is imported only when it is used.
"""

from __future__ import annotations

import sys
import traceback

import typer

from userops.cli.catalog import LazyGroup
from userops.cli.common import console_err, state
from userops.errors import UseropsError

app = typer.Typer(
    name="userops",
    cls=LazyGroup,
    help="userops: user operations platform (用户运营平台). Ingest events and user traits, "
    "compute metrics and profiles, run the growth system and the console.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    state.debug = debug


def main() -> None:
    try:
        app()
    except UseropsError as exc:
        if state.debug:
            traceback.print_exc()
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console_err.print("[bold red]interrupted[/]: nothing half-written was kept")
        sys.exit(130)
