"""`userops demo generate`: write the synthetic demo data set (users, events, items files)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from userops.cli.catalog import help_of
from userops.cli.common import console, console_err, print_json
from userops.demo import DemoFiles, generate_files
from userops.errors import InputError
from userops.settings import get_settings

app = typer.Typer(
    help=help_of("demo"),
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Keeps `demo` a command group (generate, and load beside it) even with one command."""


# Below this many users a run takes about a second: no progress bar.
_PROGRESS_FROM_USERS = 50_000


def _parse_end(value: str | None) -> date:
    """--end as a date; without it, today in the configured time zone (USEROPS_TIMEZONE)."""
    if value is None:
        return datetime.now(get_settings().tz).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--end {value!r}: expected a date as YYYY-MM-DD, e.g. 2025-11-30"
        ) from None


@contextmanager
def _progress(enabled: bool) -> Iterator[object]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("[bold]simulating people"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    ) as bar:
        task = bar.add_task("demo", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _summary(files: DemoFiles, seconds: float) -> str:
    return (
        f"wrote {files.users:,} users, {files.events:,} events, {files.items:,} items in "
        f"{seconds:.1f} s: {files.users_path}, {files.events_path}, {files.items_path}"
    )


@app.command("generate")
def generate(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write users.*, events.* and items.* to.")
    ] = Path("demo-data"),
    users: Annotated[int, typer.Option("--users", "-u", help="Registered users to simulate.")] = (
        20_000
    ),
    days: Annotated[int, typer.Option("--days", "-d", help="Length of the window in days.")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same files.")] = 42,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            help="Last day of the window, YYYY-MM-DD. Default: today in USEROPS_TIMEZONE "
            "(pass it for reproducible files).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="File format: parquet, csv or jsonl.")
    ] = "parquet",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"users_path", "events_path", "items_path", "users", "events", '
            '"items"} as one JSON object.',
        ),
    ] = False,
) -> None:
    """Simulate USERS users over DAYS days ending on END and write their files to OUT.

    Same --seed and --end give byte-identical files."""
    end_day = _parse_end(end)
    started = time.perf_counter()
    with _progress(not as_json and users >= _PROGRESS_FROM_USERS) as update:
        files = generate_files(
            out,
            users=users,
            days=days,
            seed=seed,
            end=end_day,
            fmt=fmt,  # type: ignore[arg-type]  # validated by generate_files
            tz=get_settings().tz,
            progress=update,  # type: ignore[arg-type]
        )
    if as_json:
        print_json(files.as_json())
    else:
        console.print(
            _summary(files, time.perf_counter() - started), highlight=False, soft_wrap=True
        )


@app.command("load")
def load(
    users: Annotated[int, typer.Option("--users", "-u", help="Registered users to simulate.")] = (
        20_000
    ),
    days: Annotated[int, typer.Option("--days", "-d", help="Length of the window in days.")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same data.")] = 42,
    end: Annotated[
        str | None,
        typer.Option("--end", help="Last day, YYYY-MM-DD (default today).", show_default=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the three import summaries as JSON.")
    ] = False,
) -> None:
    """Generate the demo data into <data dir>/demo and import it into the configured stores
    (users, items, then events). Loading it twice stores nothing twice."""
    from userops.cli.common import stage_progress
    from userops.services.demo import load_demo
    from userops.services.setup import initialise

    settings = get_settings()
    initialise(settings)
    with stage_progress("loading the demo dataset", enabled=not as_json) as step:
        loaded = load_demo(
            settings, users=users, days=days, seed=seed, end=_parse_end(end), progress=step
        )
    if as_json:
        print_json(loaded.as_json())
        return
    for name in ("users", "items", "events"):
        s = getattr(loaded, name)
        console.print(
            f"{name}: {s.accepted:,} accepted, {s.rejected:,} rejected, {s.duplicates:,} duplicates"
        )
