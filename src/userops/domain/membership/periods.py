"""Local calendar periods: days, weeks, months and years of the operator's time zone.

Every cap, expiry date, leaderboard and level window counts in local days (USEROPS_TIMEZONE),
so the instants that bound them are local midnights converted to UTC.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Literal, get_args

PeriodKind = Literal["day", "week", "month", "year"]
PERIOD_KINDS: Final[tuple[str, ...]] = get_args(PeriodKind)


def check_aware(at: datetime, what: str = "time") -> datetime:
    """`at` itself, refusing a naive datetime (the domain cannot guess its clock)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} {at.isoformat()} is naive; pass an aware datetime")
    return at


def local_day(at: datetime, tz: tzinfo) -> date:
    """The local calendar day an instant falls on."""
    return check_aware(at).astimezone(tz).date()


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant (UTC) at which local `day` begins."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the last day of a shorter month (Jan 31 + 1 ->
    Feb 28/29)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def period_start(day: date, kind: PeriodKind) -> date:
    """The first local day of the period containing `day` (weeks start on Monday)."""
    if kind == "day":
        return day
    if kind == "week":
        return day - timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    return date(day.year, 1, 1)


def period_end(day: date, kind: PeriodKind) -> date:
    """The first local day after the period containing `day` (exclusive bound)."""
    start = period_start(day, kind)
    if kind == "day":
        return start + timedelta(days=1)
    if kind == "week":
        return start + timedelta(days=7)
    if kind == "month":
        return add_months(start, 1)
    return date(start.year + 1, 1, 1)


def period_bounds(day: date, kind: PeriodKind, tz: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the local period containing `day`."""
    return local_midnight(period_start(day, kind), tz), local_midnight(period_end(day, kind), tz)
