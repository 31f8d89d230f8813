"""Periods of local days: a day, a week starting on Monday, a calendar month.

Every metric with a period works on whole periods: a range is widened to the first day of the
period holding `start` and the last day of the period holding `end`, so a row dated by a
period's first day always covers that whole period. The same rules exist twice, as Python on
`date` values (to lay out rows) and as Ibis expressions (to group events); tests hold them equal.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from userops.domain.bounds import check_day
from userops.errors import InputError

Period = Literal["day", "week", "month"]
PERIODS: Final[tuple[Period, ...]] = get_args(Period)
MAX_DAYS: Final = 3660  # ten years of local days: the longest range a metric accepts
DEFAULT_DAYS: Final = 30

_MONDAY_EPOCH: Final = date(1970, 1, 5)  # the first Monday after 1970-01-01


def parse_period(value: str) -> Period:
    for period in PERIODS:
        if value == period:
            return period
    raise InputError(f"period {value!r} is not one of {', '.join(PERIODS)}")


def period_start(day: date, period: Period) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def shift(start: date, period: Period, k: int) -> date:
    """The first day of the k-th period after the one starting on `start` (k may be negative)."""
    if period == "day":
        return start + timedelta(days=k)
    if period == "week":
        return start + timedelta(weeks=k)
    months = start.year * 12 + start.month - 1 + k
    return date(months // 12, months % 12 + 1, 1)


def period_end(day: date, period: Period) -> date:
    """The last day of the period holding `day`."""
    return shift(period_start(day, period), period, 1) - timedelta(days=1)


def widen(start: date, end: date, period: Period) -> tuple[date, date]:
    return period_start(start, period), period_end(end, period)


def period_starts(start: date, end: date, period: Period) -> tuple[date, ...]:
    """The first days of every period touching [start, end], in order."""
    first, last = period_start(start, period), period_start(end, period)
    out = []
    while first <= last:
        out.append(first)
        first = shift(first, period, 1)
    return tuple(out)


def index_of(day: date, period: Period) -> int:
    """A number per period, consecutive periods getting consecutive numbers."""
    if period == "week":
        return (period_start(day, "week") - _MONDAY_EPOCH).days // 7
    if period == "month":
        return day.year * 12 + day.month - 1
    return (day - date(1970, 1, 1)).days


def truncate(day: ir.DateValue, period: Period) -> ir.DateValue:
    """The first day of the period holding `day` (weeks start on Monday, on both engines)."""
    if period == "week":
        return day.truncate("W")
    if period == "month":
        return day.truncate("M")
    return day


def index(day: ir.DateValue, period: Period) -> ir.IntegerValue:
    """`index_of` as an expression."""
    if period == "week":
        days = day.truncate("W").delta(ibis.date(_MONDAY_EPOCH), unit="day")
        return days // 7
    if period == "month":
        return day.year() * 12 + day.month() - 1
    return day.delta(ibis.date(1970, 1, 1), unit="day")


def today(tz: ZoneInfo) -> date:
    return datetime.now(tz).date()


def resolve_range(start: date | None, end: date | None, tz: ZoneInfo) -> tuple[date, date]:
    """The range a command or request asked for; default the last 30 local days."""
    last = check_day(end, "the range's last day") if end else today(tz)
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    check_range(first, last)
    return first, last


def check_range(start: date, end: date) -> None:
    """A range of local days within 1970-01-01..2200-12-31, at most MAX_DAYS long."""
    check_day(start, "the range's first day")
    check_day(end, "the range's last day")
    if start > end:
        raise InputError(f"the range starts ({start}) after it ends ({end})")
    if (end - start).days >= MAX_DAYS:
        raise InputError(f"the range {start} to {end} is longer than {MAX_DAYS} days")


def parse_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None
