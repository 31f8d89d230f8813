"""`userops metrics funnel`: how many users go through 2 to 20 steps within a conversion window.

Self-contained, to mount either way: `register(metrics_app)` adds `funnel` as a plain command
(the cleaner usage line), or `metrics_app.add_typer(funnel.app, name="funnel")` mounts `app`,
whose callback is the command itself. docs/funnels.md defines the numbers.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from userops.analytics.filters import fields_help, parse_by
from userops.analytics.funnels import (
    ORDERS,
    Funnel,
    FunnelSpec,
    FunnelStep,
    funnel,
    parse_funnel_where,
    parse_steps,
)
from userops.analytics.periods import parse_day, resolve_range
from userops.cli.common import console, print_json
from userops.settings import get_settings
from userops.warehouse.connection import warehouse_session

app = typer.Typer(
    help="Funnel: users who did the steps in order within the window, from the users who did "
    "step 1 on a local day of the range. docs/funnels.md defines every number.",
)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print(result: Funnel) -> None:
    table = Table("step", "event", "users", "of step 1", "of previous", "median time")
    for column in table.columns[2:]:
        column.justify = "right"
    for step in result.steps:
        table.add_row(
            str(step.step),
            step.label,
            f"{step.count:,}",
            _pct(step.conversion),
            _pct(step.step_conversion),
            _duration(step.median_seconds),
        )
    console.print(table)
    if result.spec.by is None:
        return
    groups = Table(result.spec.by, *[f"{s.step}. {s.event}" for s in result.steps])
    for column in groups.columns[1:]:
        column.justify = "right"
    for group in result.breakdown:
        groups.add_row(
            "(not set)" if group.key is None else group.key,
            *[f"{s.count:,} ({_pct(s.conversion)})" for s in group.steps],
        )
    console.print(groups)


def funnel_command(
    steps: Annotated[
        str,
        typer.Option(
            "--steps",
            "-s",
            help="Event names in order, comma-separated (2 to 20): view_item,add_to_cart,purchase.",
            show_default=False,
        ),
    ],
    window: Annotated[
        str,
        typer.Option("--window", help="Conversion window from step 1: 30m, 24h, 7d (max 366d)."),
    ] = "7d",
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help=f"{', '.join(ORDERS)}: later steps at or after the previous one (others may "
            "happen between); the very next event; or steps 2..n in any order.",
        ),
    ] = "ordered",
    by: Annotated[
        str | None, typer.Option("--by", help=f"Break down by one trait: {fields_help()}.")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="First local day of step 1, YYYY-MM-DD (default: 29 days before --to)."
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last local day of step 1 (default: today).")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            "-w",
            help="Filter (repeatable): a trait (channel=referral) chooses users, a property "
            "(prop.platform=ios) every step's events, N:CONDITION step N's events only "
            "(2:category=手机, 3:price>=100).",
        ),
    ] = None,
    dropped_at: Annotated[
        int | None,
        typer.Option(
            "--dropped-at",
            help="Also list the users who reached step N-1 but not step N (for a segment).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Count the users reaching each step, conversions and median times between steps."""
    settings = get_settings()
    names = parse_steps(steps)
    first, last = resolve_range(
        parse_day(start, "--from") if start else None,
        parse_day(end, "--to") if end else None,
        settings.tz,
    )
    filters, per_step = parse_funnel_where(where, len(names))
    spec = FunnelSpec.of(
        [FunnelStep(name, per_step.get(k, ())) for k, name in enumerate(names, 1)],
        start=first,
        end=last,
        window=window,
        order=order,
        by=parse_by(by),
        filters=filters,
    )
    with warehouse_session(settings, read_only=True) as wh:
        result = funnel(wh, spec)
    dropped = result.dropped_users(dropped_at) if dropped_at is not None else None
    if as_json:
        body = result.as_json()
        if dropped is not None:
            body["dropped_users"] = dropped
        print_json(body)
        return
    _print(result)
    if dropped is not None:
        console.print(f"[bold]dropped at step {dropped_at}[/]: {len(dropped):,} users")
        for uid in dropped:
            console.print(uid, highlight=False)


app.callback(invoke_without_command=True)(funnel_command)


def register(metrics_app: typer.Typer) -> None:
    """Add `funnel` to the `userops metrics` group as a command."""
    metrics_app.command("funnel")(funnel_command)
