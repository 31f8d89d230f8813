"""The `userops` command line: thin commands over the services, one clear line on error."""

from __future__ import annotations

import sys
import traceback

import typer

from userops.cli import (
    demo,
    funnel,
    imports,
    keys,
    membership,
    metrics,
    profile,
    segments,
    server,
    setup,
    tags,
    users,
)
from userops.cli.common import console_err, state
from userops.errors import UseropsError

app = typer.Typer(
    name="userops",
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


setup.register(app)
server.register(app)
app.add_typer(imports.app, name="import")
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
membership.register(app)
app.add_typer(metrics.app, name="metrics")
funnel.register(metrics.app)
app.add_typer(demo.app, name="demo")
app.add_typer(segments.app, name="segment")
app.add_typer(tags.app, name="tags")
segments.register_tag_import(tags.app)  # `userops tags import CODE FILE`
app.add_typer(profile.app, name="profile")


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
