"""`userops keys create|list|revoke`: write keys for the ingestion API (/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from userops.cli.catalog import help_of
from userops.cli.common import console, print_json
from userops.services import keys
from userops.settings import get_settings
from userops.store.audit import ACTOR_CLI

app = typer.Typer(
    help=help_of("keys"),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@app.command("create")
def create(
    name: Annotated[
        str, typer.Option("--name", "-n", help="What the key is for, e.g. 'web shop (prod)'.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Create a write key and print it once."""
    with keys.open_database(get_settings()) as engine:
        created = keys.create_write_key(engine, name=name, actor=ACTOR_CLI)
    if as_json:
        print_json(created.as_json())
        return
    info = created.info
    console.print(
        f"write key [bold]{info.name}[/] created (id {info.id}, prefix {info.shown_prefix}). "
        "It is shown only now; store it where your producers read their settings:",
        highlight=False,
        soft_wrap=True,
    )
    # The key alone on its line, without markup, so it can be selected or piped.
    print(created.secret)


@app.command("list")
def list_(
    active: Annotated[bool, typer.Option("--active", help="Leave out revoked keys.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List write keys (oldest first): id, name, prefix, when created and last used."""
    with keys.open_database(get_settings()) as engine:
        found = keys.list_write_keys(engine, include_revoked=not active)
    if as_json:
        print_json([key.as_json() for key in found])
        return
    if not found:
        console.print("no write keys yet: create one with `userops keys create --name NAME`")
        return
    table = Table("id", "name", "prefix", "created", "last used", "status")
    for key in found:
        status = "[green]active[/]" if key.active else f"revoked {_when(key.revoked_at)}"
        table.add_row(
            str(key.id),
            key.name,
            key.shown_prefix,
            _when(key.created_at),
            _when(key.last_used_at),
            status,
        )
    console.print(table)


@app.command("revoke")
def revoke(
    key: Annotated[
        str, typer.Argument(help="The key's id or prefix (uo_wk_XXXXXXXX), as `keys list` shows.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a write key: the server refuses it within a few seconds."""
    key_id, prefix = keys.parse_key_ref(key)
    with keys.open_database(get_settings()) as engine:
        revoked = keys.revoke_write_key(engine, actor=ACTOR_CLI, key_id=key_id, prefix=prefix)
    if as_json:
        print_json(revoked.as_json())
        return
    console.print(
        f"write key [bold]{revoked.name}[/] ({revoked.shown_prefix}, id {revoked.id}) revoked "
        f"at {_when(revoked.revoked_at)}; a running server refuses it within a few seconds",
        highlight=False,
        soft_wrap=True,
    )
