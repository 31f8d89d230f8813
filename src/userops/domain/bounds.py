"""The ranges every input of userops is held to, so that no typed number or date reaches the
database or the calendar arithmetic out of their range (a 500 instead of a clear refusal).

- Days and times: 1970-01-01 through 2200-12-31, the range ingestion accepts for event times.
  Outside it the period arithmetic overflows (year 0 and year 10000 do not exist) and nothing
  real happened or will happen there.
- Page offsets: 0 to 10^9 rows (SQLite and PostgreSQL take at most 2^63 - 1).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from userops.errors import InputError

FIRST_DAY: Final = date(1970, 1, 1)
LAST_DAY: Final = date(2200, 12, 31)
DAY_RANGE: Final = f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
_FIRST_INSTANT: Final = datetime.combine(FIRST_DAY, time.min, tzinfo=UTC)
_END_INSTANT: Final = datetime.combine(LAST_DAY + timedelta(days=1), time.min, tzinfo=UTC)

MAX_OFFSET: Final = 10**9


def day_in_range(day: date) -> bool:
    """True when `day` (a date, or the date of a datetime) is within FIRST_DAY..LAST_DAY."""
    if isinstance(day, datetime):
        day = day.date()
    return FIRST_DAY <= day <= LAST_DAY


def check_day(day: date, what: str = "day") -> date:
    """`day` itself, or an InputError naming `what` when it is outside 1970-01-01..2200-12-31."""
    if not day_in_range(day):
        raise InputError(f"{what} {day.isoformat()} is out of range ({DAY_RANGE})")
    return day


def check_instant(at: datetime, what: str = "time") -> datetime:
    """`at` itself, or an InputError naming `what` when it has no UTC offset or falls outside
    1970-01-01..2200-12-31 (UTC)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(
            f"{what} {at.isoformat()} has no time zone: add one (2026-05-01T10:00:00+08:00 or Z)"
        )
    if not _FIRST_INSTANT <= at < _END_INSTANT:
        raise InputError(f"{what} {at.isoformat()} is out of range ({DAY_RANGE})")
    return at


def check_offset(offset: int, what: str = "offset") -> int:
    """A page offset: 0 to MAX_OFFSET rows."""
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InputError(f"{what} must be 0 to {MAX_OFFSET:,}, not {offset!r}")
    return offset
