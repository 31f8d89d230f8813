"""`userops profile ...`: one user's 360 view, their event timeline, and finding users.

Phone numbers and emails are masked unless `--reveal` (whoever runs the command line holds the
data files, but a screen or a pasted output should not show them by accident).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Column, Table

from userops.cli.catalog import help_of
from userops.cli.common import console, print_json
from userops.cli.tags import profile_database
from userops.profiles import user360
from userops.warehouse.connection import warehouse_session

app = typer.Typer(
    help=help_of("profile"),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
RevealOpt = Annotated[
    bool, typer.Option("--reveal", help="Show phone numbers and emails unmasked.")
]
UserArg = Annotated[str, typer.Argument(help="The user's id.")]


def _value(tag: dict[str, Any]) -> str:
    label = tag.get("label")
    return f"{tag['value']} ({label})" if label else str(tag["value"])


@app.command("show")
def show(
    user: UserArg,
    events: Annotated[int, typer.Option("--events", help="Newest events to list.")] = 20,
    reveal: RevealOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Everything known about one user (用户360)."""
    with (
        profile_database() as (settings, engine),
        warehouse_session(settings, read_only=True) as wh,
    ):
        found = user360.profile(engine, wh, user, limit=events)
    data = found.as_json(reveal=reveal)
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{data['user_id']}[/]")
    for key, value in (data["traits"] or {}).items():
        if key != "user_id" and value is not None:
            console.print(f"  {key}: {value}")
    for key, value in data["custom_traits"].items():
        console.print(f"  {key}: {value}")
    if data["rfm"]:
        r = data["rfm"]
        console.print(f"RFM: {r['label']} ({r['group']}), R {r['r']} F {r['f']} M {r['m']}")
    tags = Table(Column("tag", no_wrap=True), "name", "value")
    for tag in data["tags"]:
        tags.add_row(tag["code"], tag["name"], _value(tag))
    console.print(tags)
    for code, changes in data["history"].items():
        if changes:
            steps = " -> ".join(f"{c['label'] or c['value']} ({c['since']})" for c in changes)
            console.print(f"{code}: {steps}")
    membership = data["membership"]
    if membership:
        levels = ", ".join(f"{lv['scheme']} {lv['level'] or '-'}" for lv in membership["levels"])
        console.print(
            f"points {membership['points']['available']:,} available"
            + (f"; levels {levels}" if levels else "")
        )
    _print_events(data["timeline"])


def _print_events(timeline: dict[str, Any]) -> None:
    table = Table("time", "type", "event", "revenue")
    for e in timeline["events"]:
        table.add_row(e["timestamp"], e["type"], e["event"] or "", e["revenue"] or "")
    console.print(table)
    if timeline["has_more"]:
        nxt = timeline["offset"] + timeline["limit"]
        console.print(f"more: userops profile timeline {timeline['user_id']} --offset {nxt}")


@app.command("timeline")
def timeline(
    user: UserArg,
    limit: Annotated[int, typer.Option("--limit", help="Events per page.")] = 50,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many (newest first).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """A page of the user's events, newest first."""
    with profile_database() as (settings, _), warehouse_session(settings, read_only=True) as wh:
        page = user360.timeline(wh, user, limit=limit, offset=offset)
    if as_json:
        print_json(page.as_json())
        return
    _print_events(page.as_json())


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="A user id (or its start), phone or email.")],
    reveal: RevealOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Find users by user id (prefix), phone or email (whole; by prefix with --reveal)."""
    with profile_database() as (settings, _), warehouse_session(settings, read_only=True) as wh:
        found = user360.search(wh, query, reveal=reveal)
    if as_json:
        print_json(found)
        return
    table = Table("user", "phone", "email", "channel", "city", "signed up")
    for row in found:
        table.add_row(*[str(row.get(k) or "") for k in ("user_id", "phone", "email", "channel",
                                                          "city", "created_at")])  # fmt: skip
    console.print(table)
