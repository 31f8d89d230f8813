"""`userops tags ...`: the tag taxonomy, computed tags' parameters, refresh and migrations.

Thin commands over `userops.profiles` (docs/profiles.md, docs/models.md): parse, call one
service, print a table or `--json`. `refresh` takes the warehouse for itself (the server must
not be running: ask it with POST /api/tags/refresh instead), shows a progress bar, and may be
stopped with Ctrl-C at any moment: each tag keeps its old values or gets its new ones.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from sqlalchemy import Engine

from userops.cli.catalog import help_of
from userops.cli.common import console, console_err, print_json
from userops.errors import InputError, StoreBusyError
from userops.profiles import computed, history, refresh, tagvalues, taxonomy
from userops.settings import Settings, get_settings
from userops.store.db import make_engine
from userops.store.migrate import upgrade
from userops.warehouse.connection import init_warehouse, warehouse_session

app = typer.Typer(
    help=help_of("tags"),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CodeArg = Annotated[str, typer.Argument(help="The tag's code, e.g. rfm_group.")]


@contextmanager
def profile_database() -> Iterator[tuple[Settings, Engine]]:
    """The application database at the current schema, with the built-in taxonomy."""
    settings = get_settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        taxonomy.seed_builtins(engine)
        yield settings, engine
    finally:
        engine.dispose()


def _day(text: str | None, option: str, settings: Settings) -> date:
    if text is None:
        return datetime.now(settings.tz).date()
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from exc


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@app.command("categories")
def categories(as_json: JsonOpt = False) -> None:
    """The categories (first level, then their sub-categories)."""
    with profile_database() as (_, engine):
        found = taxonomy.list_categories(engine)
    if as_json:
        print_json([c.as_json() for c in found])
        return
    table = Table("code", "name", "English", "tags")
    for c in found:
        indent = "  " if c.parent else ""
        table.add_row(indent + c.code, c.name, c.name_en or "", str(c.tags))
    console.print(table)


@app.command("list")
def list_command(
    category: Annotated[
        str | None, typer.Option("--category", help="Only this category (with its subs).")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="computed, rule or imported.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every tag: category, value type, kind, schedule, last refresh and users tagged."""
    with profile_database() as (_, engine):
        found = taxonomy.list_tags(engine, category=category, kind=kind)
    if as_json:
        print_json([t.as_json() for t in found])
        return
    table = Table(
        Column("code", no_wrap=True), "name", "category", "type", "kind", "schedule",
        "refreshed", "users",
    )  # fmt: skip
    for t in found:
        style = None if t.is_active else "dim"
        users = f"{t.tagged_users:,}" if t.tagged_users is not None else "-"
        table.add_row(
            t.code,
            t.name,
            t.category,
            t.value_type,
            t.kind,
            t.schedule if t.is_active else "off",
            _when(t.refreshed_at),
            users,
            style=style,
        )
    console.print(table)


@app.command("show")
def show(code: CodeArg, as_json: JsonOpt = False) -> None:
    """One tag: what it is, its parameters, its values and how many users hold each."""
    with profile_database() as (settings, engine):
        info = taxonomy.get_tag(engine, code)
        params = taxonomy.resolved_params(engine, code) if info.kind == "computed" else None
        counts: list[dict[str, Any]] | None = None
        try:
            with warehouse_session(settings, read_only=True) as wh:
                counts = tagvalues.distribution(wh, code)
        except StoreBusyError:
            console_err.print("the server holds the warehouse: ask GET /api/tags/CODE instead")
    if as_json:
        print_json({**info.as_json(), "params": params, "distribution": counts})
        return
    console.print(f"[bold]{info.code}[/] {info.name} ({info.name_en or '-'}): {info.kind} "
                  f"{info.value_type} tag in {info.category}, schedule {info.schedule}"
                  f"{'' if info.is_active else ', switched off'}")  # fmt: skip
    for text in dict.fromkeys((info.description, info.description_en)):
        if text:
            console.print(text)
    if params is not None:
        console.print(f"model {info.model} output {info.output}; parameters:")
        console.print_json(orjson.dumps(params).decode())
    if counts:
        table = Table("value", "name", "users")
        for row in counts:
            label = info.label(row["value"])
            name = f"{label.name} / {label.name_en}" if label else ""
            table.add_row(row["value"], name, f"{row['users']:,}")
        console.print(table)


def _param_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _params(pairs: list[str] | None, file: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = orjson.loads(file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InputError(f"--file {file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InputError(f"--file {file}: the parameters must be a JSON object")
        out.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param {pair!r} is not KEY=VALUE")
        out[key.strip()] = _param_value(value)
    if not out:
        raise InputError("give parameters with --param KEY=VALUE or --file params.json")
    return out


@app.command("set-params")
def set_params(
    code: CodeArg,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="KEY=VALUE (repeatable); VALUE is JSON or text: lookback_days=180, "
            'scoring=threshold, recency_edges=30,60,90,180, mapping=\'{"ads":"strong"}\'.',
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A JSON object of parameters.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace all parameters (others back to defaults).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Change a computed tag's parameters (checked as a whole: nothing changes on an error).
    The next refresh uses them."""
    values = _params(param, file)
    with profile_database() as (_, engine):
        info = taxonomy.set_params(engine, code=code, params=values, replace=replace, actor="cli")
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"[bold]{code}[/] parameters now:")
    console.print_json(orjson.dumps(info.definition.get("params", {})).decode())


def _definition(text: str | None) -> dict[str, Any]:
    """A definition given inline as JSON, or as @file.json."""
    if text is None:
        return {}
    raw = text
    if text.startswith("@"):
        try:
            raw = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--definition {text}: {exc.strerror or exc}") from exc
    try:
        loaded = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"--definition is not JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise InputError("--definition must be a JSON object")
    return loaded


@app.command("set-rule")
def set_rule(
    code: CodeArg,
    definition: Annotated[
        str,
        typer.Option(
            "--definition",
            help='The new rule, as JSON or @file.json: {"when": RULE} for a boolean tag, '
            '{"cases": [{"when": RULE, "then": "A"}, ...], "else": "B"} for an enum tag.',
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Change a rule tag's rule (checked whole: nothing changes on an error). A boolean tag
    stays boolean, an enum tag stays an enum. The next refresh recomputes it."""
    with profile_database() as (_, engine):
        info = taxonomy.set_rule(engine, code=code, definition=_definition(definition), actor="cli")
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"[bold]{code}[/] rule now:")
    console.print_json(orjson.dumps(info.definition).decode())


@app.command("create")
def create(
    code: CodeArg,
    name: Annotated[str, typer.Option("--name", help="The name operators read (中文).")],
    category: Annotated[str, typer.Option("--category", help="The category's code.")],
    value_type: Annotated[
        str, typer.Option("--type", help="boolean, enum, number or date.")
    ] = "enum",
    kind: Annotated[str, typer.Option("--kind", help="computed, rule or imported.")] = "rule",
    definition: Annotated[
        str | None,
        typer.Option(
            "--definition",
            help='JSON or @file.json: {"model": ..., "params": ...} (computed), {"when": RULE} '
            "(rule, docs/segments.md), or {} / the allowed values (imported).",
        ),
    ] = None,
    name_en: Annotated[str | None, typer.Option("--name-en")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    description_en: Annotated[str | None, typer.Option("--description-en")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    schedule: Annotated[str, typer.Option("--schedule", help="daily or manual.")] = "daily",
    as_json: JsonOpt = False,
) -> None:
    """Add a tag: a rule tag, an imported tag, or another computed one."""
    with profile_database() as (_, engine):
        info = taxonomy.create_tag(
            engine,
            code=code,
            name=name,
            name_en=name_en,
            category=category,
            value_type=value_type,
            kind=kind,
            definition=_definition(definition),
            description=description,
            description_en=description_en,
            owner=owner,
            schedule=schedule,
            actor="cli",
        )
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"tag [bold]{info.code}[/] created ({info.kind} {info.value_type})")


@app.command("update")
def update(
    code: CodeArg,
    name: Annotated[str | None, typer.Option("--name")] = None,
    name_en: Annotated[str | None, typer.Option("--name-en", help="'' clears it.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="'' clears it.")] = None,
    description_en: Annotated[
        str | None, typer.Option("--description-en", help="'' clears it.")
    ] = None,
    category: Annotated[str | None, typer.Option("--category")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="daily or manual.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Switch the tag on or off.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename, describe, move, give an owner, reschedule, or switch a tag on or off."""
    fields: dict[str, Any] = {"name": name, "category": category, "schedule": schedule}
    texts = {
        "name_en": name_en,
        "description": description,
        "description_en": description_en,
        "owner": owner,
    }
    fields.update({key: text or None for key, text in texts.items() if text is not None})
    with profile_database() as (_, engine):
        info = taxonomy.update_tag(engine, code=code, **fields, is_active=active, actor="cli")
    if as_json:
        print_json(info.as_json())
        return
    console.print(f"tag [bold]{info.code}[/] updated")


@app.command("delete")
def delete(code: CodeArg) -> None:
    """Remove a tag an operator made, with its values and history."""
    with profile_database() as (settings, engine), warehouse_session(settings) as wh:
        taxonomy.delete_tag(engine, code=code, actor="cli")
        tagvalues.drop_tag(wh, code)
    console.print(f"tag [bold]{code}[/] removed")


@app.command("add-category")
def add_category(
    code: Annotated[str, typer.Argument(help="The category's code (a slug).")],
    name: Annotated[str, typer.Option("--name")],
    name_en: Annotated[str | None, typer.Option("--name-en")] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Make it a sub-category of this one.")
    ] = None,
) -> None:
    """Add a first-level category or a sub-category."""
    with profile_database() as (_, engine):
        made = taxonomy.create_category(
            engine, code=code, name=name, name_en=name_en, parent=parent, actor="cli"
        )
    console.print(f"category [bold]{made.code}[/] added" + (f" under {parent}" if parent else ""))


@app.command("refresh")
def refresh_command(
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Only this tag (repeatable).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Recompute even the tags whose inputs did not change.")
    ] = False,
    on: Annotated[
        str | None, typer.Option("--date", help="The local day to compute as of (default today).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the tags (and then the dynamic segments): tags whose inputs did not change are
    skipped unless --force; each tag is written whole or not at all, so Ctrl-C is safe."""
    with profile_database() as (settings, engine):
        day = _day(on, "--date", settings)
        with warehouse_session(settings) as wh, _terminate_as_interrupt():
            init_warehouse(wh)
            if as_json:
                run = refresh.refresh_tags(
                    engine, lambda: refresh.lend(wh), today=day, tz=settings.tz, tags=tag,
                    force=force,
                )  # fmt: skip
            else:
                run = _with_progress(engine, wh, day, settings, tag, force)
    if as_json:
        print_json(run.as_json())
        return
    data = run.as_json()
    table = Table(Column("tag", no_wrap=True), "status", "users", "seconds")
    for code, outcome in data["tags"].items():
        users = outcome.get("users")
        status = outcome["status"] + (f": {outcome['error']}" if outcome.get("error") else "")
        table.add_row(
            code, status, f"{users:,}" if users is not None else "", f"{outcome['seconds']}"
        )
    console.print(table)
    color = "green" if run.status == "succeeded" else "red"
    console.print(
        f"run {run.id} [{color}]{run.status}[/] as of {day}: {data['refreshed']} refreshed, "
        f"{data['skipped']} unchanged, {data['failed']} failed"
        + (f"; {len(data['segments'])} segments" if data.get("segments") else "")
    )
    if run.status != "succeeded":
        raise typer.Exit(1)


def _with_progress(
    engine: Engine,
    wh: Any,
    day: date,
    settings: Settings,
    tags: list[str] | None,
    force: bool,
) -> refresh.RunInfo:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console_err,
    ) as bar:
        task = bar.add_task("refreshing tags", total=None)

        def step(done: int, total: int, code: str, status: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{code}: {status}")

        return refresh.refresh_tags(
            engine,
            lambda: refresh.lend(wh),
            today=day,
            tz=settings.tz,
            tags=tags,
            force=force,
            progress=step,
        )


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run like Ctrl-C: the tag being written is rolled back, the run is
    recorded as interrupted."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command("runs")
def runs(
    limit: Annotated[int, typer.Option("--limit", help="How many runs, newest first.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The latest refresh runs."""
    with profile_database() as (_, engine):
        found = refresh.list_runs(engine, limit=limit)
    if as_json:
        print_json([r.as_json() for r in found])
        return
    table = Table(
        "run", "status", "trigger", "as of", "started", "refreshed", "unchanged", "failed"
    )
    for r in found:
        d = r.as_json()
        table.add_row(
            str(r.id),
            r.status,
            r.trigger,
            str(r.snapshot_date or "-"),
            _when(r.started_at),
            str(d["refreshed"]),
            str(d["skipped"]),
            str(d["failed"]),
        )
    console.print(table)


@app.command("migration")
def migration(
    tag: Annotated[str, typer.Option("--tag", help="The tag, e.g. rfm_group, lifecycle_stage.")],
    start: Annotated[str, typer.Option("--from", help="First day (its latest snapshot).")],
    end: Annotated[str, typer.Option("--to", help="Second day (its latest snapshot).")],
    as_json: JsonOpt = False,
) -> None:
    """How users moved between a tag's values from one day's snapshot to another's."""
    with profile_database() as (settings, engine):
        first, last = _day(start, "--from", settings), _day(end, "--to", settings)
        with warehouse_session(settings, read_only=True) as wh:
            result = history.migration(engine, wh, tag=tag, start=first, end=last)
    if as_json:
        print_json(result.as_json())
        return
    values = result.values
    table = Table(f"{result.start} \\ {result.end}", *[result.label(v) for v in values], "total")
    for row in result.matrix():
        cells = [f"{c['users']:,}" if c["users"] else "" for c in row["to"]]
        table.add_row(result.label(row["from"]), *cells, f"{row['total']:,}")
    console.print(table)
    data = result.as_json()
    console.print(f"{data['users']:,} users, {data['moved']:,} changed value")


@app.command("models")
def models(as_json: JsonOpt = False) -> None:
    """The computed models and their default parameters (docs/models.md defines them)."""
    found = {
        name: {
            "title": computed.title(name)[0],
            "title_en": computed.title(name)[1],
            "outputs": list(computed.outputs(name)),
            "defaults": computed.parse_params(name, None),
        }
        for name in computed.MODEL_NAMES
    }
    if as_json:
        print_json(found)
        return
    for name, data in found.items():
        defaults = orjson.dumps(data["defaults"]).decode()
        outputs = ", ".join(data["outputs"])
        console.print(
            f"[bold]{name}[/] {data['title']} ({data['title_en']}): outputs {outputs}; "
            f"defaults {defaults}",
            soft_wrap=True,
        )
