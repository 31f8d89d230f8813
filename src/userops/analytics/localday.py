"""The local day of an instant, without converting every row's time zone.

Taking the date of a TIMESTAMPTZ on DuckDB goes through ICU for each row (about half a
microsecond: the largest cost of a metric over millions of events). A zone's UTC offset changes
only a few times a year, so within a range of days the local day is plain integer arithmetic:
`(epoch microseconds + offset) // one day`, with the offset picked from the few constant-offset
segments Python's zoneinfo finds for that range. Rows outside the range (possible only when a
metric reads all history) fall back to the engine's own conversion.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from userops.analytics.base import Source, day_start, epoch_micros, local_date

DAY_US: Final = 86_400_000_000
HISTORY_DAYS: Final = 3660  # without a first day, the fast path covers ten years back
_STEP: Final = 6 * 3600  # seconds between probes: far less than between two offset changes
_DAY: Final = timedelta(days=1)


@lru_cache(maxsize=128)
def offset_segments(timezone: str, first: date, last: date) -> tuple[tuple[int, int, int], ...]:
    """(start, end, offset) in microseconds: the zone's UTC offset is `offset` for every
    instant in [start, end), and the segments cover local days first..last."""
    tz = ZoneInfo(timezone)

    def offset(second: int) -> int:
        """The zone's UTC offset, in seconds, at an instant given in seconds since 1970."""
        value = datetime.fromtimestamp(second, UTC).astimezone(tz).utcoffset()
        assert value is not None
        return int(value.total_seconds())

    lo, hi = _seconds(day_start(timezone, first)), _seconds(day_start(timezone, last + _DAY))
    segments = []
    start, current = lo, offset(lo)
    probe = lo
    while probe < hi:
        step_to = min(probe + _STEP, hi)
        if step_to < hi and offset(step_to) != current:
            # The change is at a whole second in (probe, step_to]: find the first one.
            a, b = probe, step_to
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == current else (a, mid)
            segments.append((start, b, current))
            start, current = b, offset(b)
        probe = step_to
    segments.append((start, hi, current))
    return tuple((s * 1_000_000, e * 1_000_000, o * 1_000_000) for s, e, o in segments)


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def local_day(
    source: Source, ts: ir.TimestampValue, *, since: date | None, until: date | None
) -> ir.DateValue:
    """The local day of `ts`, exact for every instant; fast for instants of days since..until.

    With `since`, callers keep only instants of those days (the fallback is never needed).
    """
    if until is None:
        return local_date(source, ts)
    first = since if since is not None else until - timedelta(days=HISTORY_DAYS)
    segments = offset_segments(source.timezone, first, until)
    micros = epoch_micros(source, ts)
    if since is not None and len(segments) == 1:
        number: ir.IntegerValue = (micros + segments[0][2]) // DAY_US
    else:
        number = ibis.cases(
            *[((micros >= s) & (micros < e), (micros + off) // DAY_US) for s, e, off in segments],
            else_=ibis.null(dt.int64),
        )
    if source.engine == "clickhouse":
        fast: ir.DateValue = ibis.date(1970, 1, 1) + number.as_interval("D")
    else:
        # DATE + INTEGER stays a DATE on DuckDB; + INTERVAL would make a TIMESTAMP (3x slower).
        fast = _duckdb_add_days(ibis.date(1970, 1, 1), number.cast(dt.int32))
    if since is not None:
        return fast
    return ibis.ifelse(number.notnull(), fast, local_date(source, ts))


@ibis.udf.scalar.builtin(name="add")  # type: ignore[untyped-decorator]
def _duckdb_add_days(day: dt.date, days: dt.int32) -> dt.date:
    """DuckDB: `day + days` (the function behind the + operator)."""
