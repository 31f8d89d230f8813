"""`userops import events|users|items PATH...`: bulk import with quarantine and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from userops.cli.catalog import help_of
from userops.cli.common import console, print_json, stage_progress
from userops.domain.contract import RECORD_FIELDS, RecordKind
from userops.domain.imports import ImportSummary, parse_mapping
from userops.ingest.service import import_paths
from userops.settings import get_settings

app = typer.Typer(
    help=help_of("import"),
    no_args_is_help=True,
)

PathsArg = Annotated[
    list[Path], typer.Argument(help="Files to import (.csv, .jsonl/.ndjson, .parquet).")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        "-m",
        help="Read a field from another column: FIELD=COLUMN (repeatable), e.g. "
        "--map timestamp=event_time --map user_id=uid.",
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Reject the whole import on the first bad row.")
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print {"accepted", "rejected", "duplicates", "quarantine"} as one JSON object.',
    ),
]


def _run(
    kind: RecordKind, paths: list[Path], mapping: list[str] | None, strict: bool, as_json: bool
) -> None:
    fields = parse_mapping(mapping or [], set(RECORD_FIELDS[kind]))
    with stage_progress(f"importing {kind}", enabled=not as_json) as step:
        summary = import_paths(
            get_settings(), kind, paths, mapping=fields, strict=strict, progress=step
        )
    _report(summary, as_json)


def _report(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_json())
        return
    console.print(
        f"[bold]{summary.kind}[/]: [green]{summary.accepted:,} accepted[/], "
        f"[red]{summary.rejected:,} rejected[/], {summary.duplicates:,} duplicates"
    )
    if summary.quarantine:
        console.print(f"bad rows and their reasons: {summary.quarantine}", highlight=False)


@app.command("events")
def import_events(
    paths: PathsArg, map_: MapOpt = None, strict: StrictOpt = False, as_json: JsonOpt = False
) -> None:
    """Import events (Segment-shaped: message_id, type, event, user_id, anonymous_id,
    timestamp, properties, context). Unknown columns go into properties."""
    _run("events", paths, map_, strict, as_json)


@app.command("users")
def import_users(
    paths: PathsArg, map_: MapOpt = None, strict: StrictOpt = False, as_json: JsonOpt = False
) -> None:
    """Import or update user traits (user_id, created_at, channel, gender, birthday, province,
    city, occupation, phone, email). Unknown columns become custom traits."""
    _run("users", paths, map_, strict, as_json)


@app.command("items")
def import_items(
    paths: PathsArg, map_: MapOpt = None, strict: StrictOpt = False, as_json: JsonOpt = False
) -> None:
    """Import or update the item catalogue (item_id, name, category, price, properties)."""
    _run("items", paths, map_, strict, as_json)


@app.command("costs")
def import_costs(
    path: Annotated[Path, typer.Argument(help="A .csv or .parquet file: date, channel, amount.")],
    as_json: Annotated[
        bool,
        typer.Option("--json", help='Print {"source", "rows", "added", "replaced", "total"}.'),
    ] = False,
) -> None:
    """Import channel costs (date YYYY-MM-DD, channel, amount, optional currency) for CAC and
    ROI. Rows of one date and channel are added up; a re-import replaces those days."""
    from userops.analytics.costs import import_costs_file

    result = import_costs_file(get_settings(), path)
    if as_json:
        print_json(result.as_json())
        return
    console.print(
        f"[bold]costs[/]: {result.rows:,} rows, {result.added:,} new days, "
        f"{result.replaced:,} replaced, total {result.total:,.2f}"
    )
