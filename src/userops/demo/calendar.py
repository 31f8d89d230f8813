"""The demo window in local days: where each day starts, weekends, and the one big sale.

Metrics count local days (Asia/Shanghai by default), so the simulation decides everything per
local day and converts to UTC only through each day's exact start, which keeps daylight-saving
zones right too. The sale is a 双11 when 11 November falls inside the window, a 618 when 18 June
does, and otherwise an anniversary sale two thirds of the way through, so every window of a few
days or more has one peak to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

MS_PER_DAY: Final = 86_400_000

# Monday .. Sunday. Weekends are busier for a shopping app, Friday evening a little too.
WEEKDAY_ACTIVITY: Final = np.array([0.95, 0.93, 0.95, 0.97, 1.04, 1.20, 1.16])
WEEKDAY_SIGNUPS: Final = np.array([0.95, 0.95, 0.95, 0.97, 1.05, 1.30, 1.25])

# Hour-of-day weights of app sessions: asleep at 3 a.m., lunch break, evening peak at 21h.
# fmt: off
HOURLY_SESSIONS: Final = np.array([
    1.6, 0.9, 0.5, 0.3, 0.3, 0.4, 1.0, 2.2, 3.4, 3.6, 3.8, 4.2,  # 0-11h
    5.2, 4.8, 3.9, 3.8, 3.9, 4.2, 4.6, 5.4, 6.8, 7.8, 7.0, 4.0,  # 12-23h
])
# fmt: on


@dataclass(frozen=True, slots=True)
class SaleEffect:
    """Multipliers on the sale day and the days around it (pre-sale carts, post-sale lull)."""

    activity: npt.NDArray[np.float64]
    dormant_return: npt.NDArray[np.float64]
    views: npt.NDArray[np.float64]
    cart: npt.NDArray[np.float64]
    purchase: npt.NDArray[np.float64]
    signups: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Window:
    """`days` local days ending on `end`; index 0 is the first day."""

    start: date
    end: date
    days: int
    tz: ZoneInfo
    day_start_ms: npt.NDArray[np.int64]  # UTC epoch ms of each local midnight, plus the end
    weekday: npt.NDArray[np.int64]  # 0 = Monday
    sale_day: int
    sale_name: str
    sale: SaleEffect
    transitions_ms: npt.NDArray[np.int64]  # UTC instants where the zone's offset changes
    offsets_min: npt.NDArray[np.int64]  # offset before the first transition, then after each

    @property
    def start_ms(self) -> int:
        return int(self.day_start_ms[0])

    @property
    def end_ms(self) -> int:
        """Exclusive: local midnight after the last day."""
        return int(self.day_start_ms[-1])

    @property
    def day_length_ms(self) -> npt.NDArray[np.int64]:
        return np.diff(self.day_start_ms)

    def day_of(self, ts_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Local day index of UTC instants inside the window."""
        return (np.searchsorted(self.day_start_ms, ts_ms, side="right") - 1).astype(np.int64)

    def offset_minutes(self, ts_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The zone's UTC offset in minutes at each instant."""
        return self.offsets_min[np.searchsorted(self.transitions_ms, ts_ms, side="right")]


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _local_midnight_ms(day: date, tz: ZoneInfo) -> int:
    return _epoch_ms(datetime.combine(day, time(0), tzinfo=tz))


def _offset_min(ms: int, tz: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(ms / 1000, tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds()) // 60


def _transitions(day_start_ms: npt.NDArray[np.int64], tz: ZoneInfo) -> tuple[list[int], list[int]]:
    """Offset changes inside the window, each found to the second by bisection."""
    instants: list[int] = []
    offsets = [_offset_min(int(day_start_ms[0]), tz)]
    for lo0, hi0 in zip(day_start_ms[:-1].tolist(), day_start_ms[1:].tolist(), strict=True):
        if _offset_min(hi0, tz) == _offset_min(lo0, tz):
            continue
        lo, hi = lo0, hi0
        before = _offset_min(lo, tz)
        while hi - lo > 1000:
            mid = (lo + hi) // 2 // 1000 * 1000
            if mid <= lo:
                break
            if _offset_min(mid, tz) == before:
                lo = mid
            else:
                hi = mid
        instants.append(hi)
        offsets.append(_offset_min(hi, tz))
    return instants, offsets


def _choose_sale(start: date, days: int) -> tuple[int, str]:
    for offset in range(days - 1, -1, -1):
        day = start + timedelta(days=offset)
        if (day.month, day.day) == (11, 11):
            return offset, "双11"
    for offset in range(days - 1, -1, -1):
        day = start + timedelta(days=offset)
        if (day.month, day.day) == (6, 18):
            return offset, "618"
    return (days * 2) // 3, "周年庆"


def _sale_effect(days: int, sale_day: int) -> SaleEffect:
    idx = np.arange(days)
    rel = idx - sale_day
    pre = (rel >= -3) & (rel <= -1)
    post = (rel >= 1) & (rel <= 2)
    on = rel == 0
    one = np.ones(days)
    return SaleEffect(
        activity=np.where(on, 1.5, np.where(pre, 1.1, np.where(post, 0.9, one))),
        dormant_return=np.where(on, 8.0, np.where(pre, 2.0, one)),
        views=np.where(on, 1.25, np.where(pre, 1.15, one)),
        cart=np.where(on, 1.3, np.where(pre, 1.6, one)),
        purchase=np.where(on, 2.6, np.where(pre, 0.6, np.where(post, 0.75, one))),
        signups=np.where(on, 2.6, np.where(pre, 1.4, one)),
    )


def build_window(end: date, days: int, tz: ZoneInfo) -> Window:
    start = end - timedelta(days=days - 1)
    day_start = np.array(
        [_local_midnight_ms(start + timedelta(days=i), tz) for i in range(days + 1)],
        dtype=np.int64,
    )
    weekday = (np.arange(days) + start.weekday()) % 7
    sale_day, sale_name = _choose_sale(start, days)
    instants, offsets = _transitions(day_start, tz)
    return Window(
        start=start,
        end=end,
        days=days,
        tz=tz,
        day_start_ms=day_start,
        weekday=weekday.astype(np.int64),
        sale_day=sale_day,
        sale_name=sale_name,
        sale=_sale_effect(days, sale_day),
        transitions_ms=np.asarray(instants, dtype=np.int64),
        offsets_min=np.asarray(offsets, dtype=np.int64),
    )


def time_of_day_ms(
    rng: np.random.Generator, n: int, usable_ms: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Session start times after local midnight, following HOURLY_SESSIONS, squeezed into
    `usable_ms` (the day minus the longest session) so no session runs into the next day."""
    cdf = np.cumsum(HOURLY_SESSIONS) / HOURLY_SESSIONS.sum()
    hour = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), 23)
    frac = (hour + rng.random(n)) / 24.0
    return np.floor(frac * usable_ms).astype(np.int64)
