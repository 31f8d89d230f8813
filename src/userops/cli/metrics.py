"""`userops metrics ...`: activity, retention, revenue, channels and lifecycle from the warehouse.

Every command reads a range of local days (`--from`/`--to`, default the last 30 days in
USEROPS_TIMEZONE), filters (`--where`, repeatable) and a breakdown by one trait (`--by`), and
prints a table, or with `--json` the same JSON as the API. The warehouse is opened read-only;
while the server holds the DuckDB file, ask the server's API instead (docs/decisions/0001).
docs/metrics.md defines every number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from userops.analytics import activity, channels, lifecycle, retention, revenue
from userops.analytics.filters import Filters, fields_help, parse_by, parse_where
from userops.analytics.periods import parse_day, parse_period, resolve_range
from userops.cli.catalog import help_of
from userops.cli.common import console, print_json
from userops.settings import get_settings
from userops.warehouse.connection import Warehouse, warehouse_session

app = typer.Typer(
    help=help_of("metrics"),
    no_args_is_help=True,
)

T = TypeVar("T")
_LTV_SHOWN = (7, 30)  # the table's LTV columns; --json has every age

FromOpt = Annotated[
    str | None,
    typer.Option("--from", help="First local day, YYYY-MM-DD (default: 29 days before --to)."),
]
ToOpt = Annotated[
    str | None, typer.Option("--to", help="Last local day, YYYY-MM-DD (default: today).")
]
PeriodOpt = Annotated[
    str, typer.Option("--period", "-p", help="day, week (Monday to Sunday) or month.")
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        "-w",
        help="Filter (repeatable): channel=referral, city!=北京,上海, gender is set, "
        "trait.KEY=V, prop.category=shoes, prop.price>=100.",
    ),
]
ByOpt = Annotated[
    str | None, typer.Option("--by", help=f"Break down by one trait: {fields_help()}.")
]
EventOpt = Annotated[
    str | None, typer.Option("--event", "-e", help="Count only this event (default: any event).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


class _Query:
    """What every command parses the same way."""

    def __init__(
        self, start: str | None, end: str | None, where: Sequence[str] | None, by: str | None
    ):
        settings = get_settings()
        self.settings = settings
        self.start, self.end = resolve_range(
            parse_day(start, "--from") if start else None,
            parse_day(end, "--to") if end else None,
            settings.tz,
        )
        self.filters: Filters = parse_where(where)
        self.by = parse_by(by)

    def run(self, metric: Callable[[Warehouse], T]) -> T:
        with warehouse_session(self.settings, read_only=True) as wh:
            return metric(wh)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _label(group: str | None) -> str:
    return "(not set)" if group is None else group


def _table(*columns: str, by: str | None) -> Table:
    head = [columns[0], *([by] if by else []), *columns[1:]]
    table = Table(*head)
    for column in table.columns[1 + (1 if by else 0) :]:
        column.justify = "right"
    return table


def _row(first: str, group: str | None, by: str | None, *rest: Any) -> list[str]:
    return [first, *([_label(group)] if by else []), *(str(r) for r in rest)]


@app.command("active")
def active(
    period: PeriodOpt = "day",
    start: FromOpt = None,
    end: ToOpt = None,
    event: EventOpt = None,
    where: WhereOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Active users per day (DAU), week (WAU) or month (MAU): users with at least one event,
    or with --event, in the period."""
    q, p = _Query(start, end, where, by), parse_period(period)
    result = q.run(
        lambda wh: activity.active_users(
            wh, period=p, start=q.start, end=q.end, event=event, filters=q.filters, by=q.by
        )
    )
    if as_json:
        print_json(result.as_json())
        return
    table = _table(period, "active users", by=q.by)
    for point in result.points:
        table.add_row(*_row(point.date.isoformat(), point.group, q.by, f"{point.active:,}"))
    console.print(table)


@app.command("stickiness")
def stickiness(
    start: FromOpt = None,
    end: ToOpt = None,
    event: EventOpt = None,
    where: WhereOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """DAU, WAU and MAU over rolling 7 and 30 local days, and stickiness DAU/MAU, per day."""
    q = _Query(start, end, where, by)
    result = q.run(
        lambda wh: activity.stickiness(
            wh, start=q.start, end=q.end, event=event, filters=q.filters, by=q.by
        )
    )
    if as_json:
        print_json(result.as_json())
        return
    table = _table("day", "DAU", "WAU", "MAU", "DAU/MAU", by=q.by)
    for p in result.points:
        table.add_row(
            *_row(p.date.isoformat(), p.group, q.by, p.dau, p.wau, p.mau, _pct(p.stickiness))
        )
    console.print(table)
    if not q.by:
        console.print(f"average DAU/MAU: {_pct(result.average())}")


@app.command("new")
def new(
    period: PeriodOpt = "day",
    start: FromOpt = None,
    end: ToOpt = None,
    where: WhereOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """New users per period by signup time (created_at); e.g. --by channel."""
    q, p = _Query(start, end, where, by), parse_period(period)
    result = q.run(
        lambda wh: activity.new_users(
            wh, period=p, start=q.start, end=q.end, filters=q.filters, by=q.by
        )
    )
    if as_json:
        print_json(result.as_json())
        return
    table = _table(period, "new users", by=q.by)
    for point in result.points:
        table.add_row(*_row(point.date.isoformat(), point.group, q.by, f"{point.new_users:,}"))
    console.print(table)


@app.command("retention")
def retention_command(
    period: PeriodOpt = "day",
    periods: Annotated[
        int, typer.Option("--periods", "-n", help="Follow each cohort N periods after its own.")
    ] = 7,
    start: FromOpt = None,
    end: ToOpt = None,
    cohort: Annotated[
        str,
        typer.Option("--cohort", help="first-activity (first event ever) or signup (created_at)."),
    ] = "first-activity",
    return_event: Annotated[
        str | None,
        typer.Option("--return-event", help="Count a return only for this event (default any)."),
    ] = None,
    unbounded: Annotated[
        bool,
        typer.Option(
            "--unbounded", help="Count users active in period k or any later one ('on or after')."
        ),
    ] = False,
    where: WhereOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cohort retention: of the users who started in each period, how many were active k
    periods later. The average row weights cohorts by size."""
    q, p = _Query(start, end, where, by), parse_period(period)
    basis = retention.parse_basis(cohort)
    result = q.run(
        lambda wh: retention.retention(
            wh,
            period=p,
            periods=periods,
            start=q.start,
            end=q.end,
            basis=basis,
            return_event=return_event,
            unbounded=unbounded,
            filters=q.filters,
            by=q.by,
        )
    )
    if as_json:
        print_json(result.as_json())
        return
    table = _table("cohort", "users", *[str(k) for k in range(periods + 1)], by=q.by)
    for c in result.cohorts:
        cells = [f"{n:,} {_pct(r)}" for n, r in zip(c.retained, c.rates, strict=True)]
        cells += [""] * (periods + 1 - len(cells))
        table.add_row(*_row(c.cohort.isoformat(), c.group, q.by, f"{c.size:,}", *cells))
    average = [_pct(r) for r in result.average()]
    table.add_row(*_row("average", None, q.by, "", *average), style="bold")
    console.print(table)


@app.command("revenue")
def revenue_command(
    period: PeriodOpt = "day",
    start: FromOpt = None,
    end: ToOpt = None,
    within: Annotated[
        int,
        typer.Option("--within", help="First-purchase conversion: days after signup."),
    ] = revenue.DEFAULT_WITHIN_DAYS,
    where: WhereOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Paying users, paying rate, revenue, ARPU, ARPPU, average order value, repurchase and
    churn per period, and first-purchase conversion of new users within --within days."""
    q, p = _Query(start, end, where, by), parse_period(period)
    result = q.run(
        lambda wh: revenue.revenue(
            wh,
            period=p,
            start=q.start,
            end=q.end,
            within_days=within,
            filters=q.filters,
            by=q.by,
        )
    )
    if as_json:
        print_json(result.as_json())
        return
    table = _table(
        period,
        "active",
        "paying",
        "paying rate",
        "revenue",
        "ARPU",
        "ARPPU",
        "AOV",
        "repurchase",
        "churn",
        by=q.by,
    )
    for pt in result.points:
        f = pt.figures
        table.add_row(
            *_row(
                pt.date.isoformat(),
                pt.group,
                q.by,
                f"{f.active:,}",
                f"{f.paying:,}",
                _pct(f.paying_rate),
                _money(f.revenue),
                _money(f.arpu),
                _money(f.arppu),
                _money(f.aov),
                _pct(f.repurchase_rate),
                _pct(pt.churn_rate),
            )
        )
    console.print(table)
    s = result.summary
    console.print(
        f"{result.start} to {result.end}: {s.figures.active:,} active, {s.figures.paying:,} "
        f"paying ({_pct(s.figures.paying_rate)}), revenue {_money(s.figures.revenue)}, "
        f"ARPU {_money(s.figures.arpu)}, ARPPU {_money(s.figures.arppu)}; "
        f"{s.new_users:,} new users, {_pct(s.conversion_rate)} bought within "
        f"{result.within_days} days"
    )


@app.command("channels")
def channels_command(
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[
        str, typer.Option("--by", help=f"Group new users by: {fields_help()}.")
    ] = "channel",
    activation_event: Annotated[
        str | None,
        typer.Option(
            "--activation-event",
            help="Activated = did this event within --activation-days of signup "
            "(default: any event but identify/alias).",
        ),
    ] = None,
    activation_days: Annotated[int, typer.Option("--activation-days")] = (
        channels.DEFAULT_ACTIVATION_DAYS
    ),
    where: WhereOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per acquisition channel, the users who signed up in the range: activation, day 1/7/30
    retention, paying rate, revenue per user, LTV to date, and cost, CAC and ROI when channel
    costs are imported (`userops import costs`)."""
    q = _Query(start, end, where, by)
    result = q.run(
        lambda wh: channels.channels(
            wh,
            start=q.start,
            end=q.end,
            by=q.by,
            filters=q.filters,
            activation_event=activation_event,
            activation_days=activation_days,
        )
    )
    if as_json:
        print_json(result.as_json())
        return
    table = Table(
        result.by,
        "new users",
        "activated",
        *[f"day {r.day}" for r in result.total.retention],
        "paying",
        "revenue/user",
        *[f"LTV d{p.age_days}" for p in result.total.ltv if p.age_days in _LTV_SHOWN],
        "cost",
        "CAC",
        "ROI",
    )
    for column in table.columns[1:]:
        column.justify = "right"
    for row in (*result.rows, result.total):
        table.add_row(
            "all" if row is result.total else _label(row.group),
            f"{row.new_users:,}",
            _pct(row.activation_rate),
            *[_pct(r.rate) for r in row.retention],
            _pct(row.paying_rate),
            _money(row.revenue_per_user),
            *[_money(p.revenue_per_user) for p in row.ltv if p.age_days in _LTV_SHOWN],
            _money(row.cost),
            _money(row.cac),
            _pct(row.roi),
            style="bold" if row is result.total else None,
        )
    console.print(table)


@app.command("lifecycle")
def lifecycle_command(
    period: PeriodOpt = "week",
    start: FromOpt = None,
    end: ToOpt = None,
    event: EventOpt = None,
    where: WhereOpt = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lifecycle mix per period: new, returning, resurrecting and dormant users."""
    q, p = _Query(start, end, where, by), parse_period(period)
    result = q.run(
        lambda wh: lifecycle.lifecycle(
            wh, period=p, start=q.start, end=q.end, event=event, filters=q.filters, by=q.by
        )
    )
    if as_json:
        print_json(result.as_json())
        return
    table = _table(period, "new", "returning", "resurrecting", "dormant", by=q.by)
    for pt in result.points:
        table.add_row(
            *_row(
                pt.date.isoformat(),
                pt.group,
                q.by,
                pt.new,
                pt.returning,
                pt.resurrecting,
                f"-{pt.dormant}" if pt.dormant else "0",
            )
        )
    console.print(table)
