"""`userops segment ...`: audiences (人群) from the command line, and `import_tag_command` for
imported tags (mounted by the tags command group: `register_tag_import(tags_app)`).

Thin commands over `userops.profiles.segments`: a rule is a JSON file (docs/segments.md; `-`
reads standard input); `--json` prints what the JSON API returns. Writes take the warehouse
file, so they refuse while the server holds it (send them through the API then).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from userops.cli.catalog import help_of
from userops.cli.common import console, print_json
from userops.errors import InputError
from userops.membership import open_database
from userops.profiles import imported, segments
from userops.settings import Settings, get_settings
from userops.store.audit import ACTOR_CLI
from userops.warehouse.connection import Warehouse, init_warehouse, warehouse_session

app = typer.Typer(
    help=help_of("segment"),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CodeArg = Annotated[str, typer.Argument(help="The segment's code.")]
RuleOpt = Annotated[
    str,
    typer.Option("--rule", "-r", help="A JSON rule file (docs/segments.md); - reads stdin."),
]
TodayOpt = Annotated[
    str | None,
    typer.Option("--today", help="Evaluate as on this local day, YYYY-MM-DD (default: today)."),
]


def read_json(path: str, what: str = "--rule") -> Any:
    """A JSON document from a file (or stdin for `-`); InputError says what is wrong."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path}: not UTF-8 text") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    except RecursionError as exc:
        raise InputError(f"{what} {path}: the JSON nests too deeply") from exc


def _today(text: str | None, settings: Settings) -> date:
    if text is None:
        return datetime.now(settings.tz).date()
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--today {text!r} is not a date (YYYY-MM-DD)") from exc


@contextmanager
def _stores(*, write: bool) -> Iterator[tuple[Settings, Engine, Warehouse]]:
    settings = get_settings()
    with open_database(settings) as engine, warehouse_session(settings, read_only=not write) as wh:
        if write:
            init_warehouse(wh)
        yield settings, engine, wh


def _print_segment(info: segments.SegmentInfo) -> None:
    console.print(
        f"[bold]{info.code}[/] {info.name} ({info.kind}): {info.size or 0:,} users",
        highlight=False,
        soft_wrap=True,
    )
    if info.rule is not None:
        console.print(json.dumps(info.rule, ensure_ascii=False), highlight=False, soft_wrap=True)
    if info.source:
        console.print(f"source: {info.source}", highlight=False, soft_wrap=True)


@app.command("preview")
def preview(
    rule: RuleOpt,
    sample: Annotated[int, typer.Option("--sample", help="How many user ids to show.")] = 20,
    today: TodayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Count the users a rule selects and show a sample of their ids."""
    document = read_json(rule)
    with _stores(write=False) as (settings, engine, wh):
        result = segments.preview(
            wh, document, today=_today(today, settings), engine=engine, sample=sample
        )
    if as_json:
        print_json(result.as_json())
        return
    console.print(f"[bold]{result.count:,}[/] users", highlight=False)
    for uid in result.sample:
        console.print(uid, highlight=False)


@app.command("create")
def create(
    code: Annotated[str, typer.Option("--code", help="A code: ASCII letters, digits, _ and -.")],
    name: Annotated[str, typer.Option("--name", help="A name operators read (中文 welcome).")],
    rule: Annotated[
        str | None, typer.Option("--rule", "-r", help="A JSON rule file; - reads stdin.")
    ] = None,
    static: Annotated[
        bool, typer.Option("--static", help="Freeze the rule's audience of today.")
    ] = False,
    users: Annotated[
        str | None,
        typer.Option("--users", help="A CSV file with a user_id column: a static list."),
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    today: TodayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a segment: dynamic from --rule, static with --static, or a list with --users."""
    if (rule is None) == (users is None):
        raise InputError("give either --rule FILE or --users FILE")
    if users is not None and static:
        raise InputError("--users makes a static segment already; leave out --static")
    document = read_json(rule) if rule is not None else None
    ids = None
    if users is not None:
        try:
            with Path(users).open(encoding="utf-8-sig", newline="") as handle:
                ids = segments.read_user_ids(handle, name=users)
        except OSError as exc:
            raise InputError(f"--users {users}: {exc.strerror or exc}") from exc
    with _stores(write=True) as (settings, engine, wh):
        if ids is not None:
            info = segments.create_static_segment(
                engine,
                wh,
                code=code,
                name=name,
                user_ids=ids,
                source=f"upload: {Path(users or '').name}",
                description=description,
                actor=ACTOR_CLI,
            )
        else:
            info = segments.create_segment(
                engine,
                wh,
                code=code,
                name=name,
                rule=document,
                static=static,
                description=description,
                actor=ACTOR_CLI,
                today=_today(today, settings),
            )
    if as_json:
        print_json(info.as_json())
        return
    _print_segment(info)


@app.command("list")
def list_command(as_json: JsonOpt = False) -> None:
    """Every segment with its kind and size."""
    settings = get_settings()
    with open_database(settings) as engine:
        rows = segments.list_segments(engine)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    table = Table("code", "name", "kind", "users", "refreshed")
    table.columns[3].justify = "right"
    for r in rows:
        refreshed = (
            r.refreshed_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            if r.refreshed_at
            else "-"
        )
        table.add_row(r.code, r.name, r.kind, f"{r.size or 0:,}", refreshed)
    console.print(table)


@app.command("show")
def show(code: CodeArg, as_json: JsonOpt = False) -> None:
    """One segment: its rule or source, size and times."""
    with open_database(get_settings()) as engine:
        info = segments.get_segment(engine, code)
    if as_json:
        print_json(info.as_json())
        return
    _print_segment(info)


@app.command("update")
def update(code: CodeArg, rule: RuleOpt, today: TodayOpt = None, as_json: JsonOpt = False) -> None:
    """Change a dynamic segment's rule and evaluate it now."""
    document = read_json(rule)
    with _stores(write=True) as (settings, engine, wh):
        info = segments.update_rule(
            engine, wh, code, document, actor=ACTOR_CLI, today=_today(today, settings)
        )
    if as_json:
        print_json(info.as_json())
        return
    _print_segment(info)


@app.command("export")
def export(
    code: CodeArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """The members' user ids as CSV (a user_id column)."""
    with _stores(write=False) as (_settings, engine, wh):
        segments.get_segment(engine, code)
        ids = segments.members(wh, code)
    if out is None:
        for chunk in segments.csv_lines(ids):
            sys.stdout.write(chunk)
        return
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        for chunk in segments.csv_lines(ids):
            handle.write(chunk)
    partial.replace(out)
    console.print(f"{len(ids):,} user ids written to {out}", highlight=False)


@app.command("delete")
def delete(code: CodeArg) -> None:
    """Delete a segment and its members (refused while another segment or tag uses it)."""
    with _stores(write=True) as (_settings, engine, wh):
        segments.delete_segment(engine, wh, code, actor=ACTOR_CLI)
    console.print(f"segment {code} deleted", highlight=False)


@app.command("refresh")
def refresh(today: TodayOpt = None, as_json: JsonOpt = False) -> None:
    """Re-evaluate every dynamic segment now (the tag refresh does it too)."""
    with _stores(write=True) as (settings, engine, wh):
        sizes = segments.refresh_dynamic_segments(engine, wh, today=_today(today, settings))
    if as_json:
        print_json(sizes)
        return
    for code, size in sizes.items():
        console.print(f"{code}: {size:,} users", highlight=False)


# --- imported tags: mounted by the `tags` group ------------------------------------------------


def import_tag_command(
    code: Annotated[str, typer.Argument(help="The imported tag's code.")],
    file: Annotated[Path, typer.Argument(help="CSV with user_id,value columns (UTF-8).")],
    as_json: JsonOpt = False,
) -> None:
    """Replace an imported tag's values with a CSV file's (all rows or none)."""
    settings = get_settings()
    try:
        handle = file.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{file}: {exc.strerror or exc}") from exc
    with handle, open_database(settings) as engine, warehouse_session(settings) as wh:
        init_warehouse(wh)
        try:
            result = imported.import_tag_values(
                engine, wh, code=code, lines=handle, name=file.name, actor=ACTOR_CLI
            )
        except UnicodeDecodeError as exc:
            raise InputError(f"{file}: not UTF-8 text") from exc
    if as_json:
        print_json(result.as_json())
        return
    console.print(
        f"tag {result.tag}: {result.rows:,} values imported"
        f" ({result.unknown_users:,} for users not seen yet)",
        highlight=False,
    )


def register_tag_import(tags_app: typer.Typer) -> None:
    """Add `import CODE FILE` to the `userops tags` group."""
    tags_app.command("import")(import_tag_command)
