"""`userops init`: create or upgrade both stores; safe to run any number of times."""

from __future__ import annotations

from typing import Annotated

import typer

from userops.cli.catalog import help_of
from userops.cli.common import console, print_json
from userops.services.setup import initialise
from userops.settings import get_settings


def register(app: typer.Typer) -> None:
    @app.command("init", help=help_of("init"))
    def init(
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        result = initialise(get_settings())
        if as_json:
            print_json(result)
            return
        console.print(
            f"warehouse [bold]{result['warehouse']}[/] at schema v{result['warehouse_version']}"
        )
        console.print(
            f"application database [bold]{result['database']}[/] at revision "
            f"{result['database_revision']}"
        )
