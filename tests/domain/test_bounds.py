"""The ranges every typed number and date is held to (userops.domain.bounds)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from userops.domain import bounds
from userops.errors import InputError


@pytest.mark.parametrize("day", [date(1970, 1, 1), date(2026, 2, 28), date(2200, 12, 31)])
def test_days_from_1970_to_2200_pass(day: date) -> None:
    assert bounds.check_day(day) == day


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1969, 12, 31), date(2201, 1, 1), date.max])
def test_days_outside_are_refused_naming_what(day: date) -> None:
    with pytest.raises(InputError, match=rf"^the to day {day.isoformat()} is out of range "):
        bounds.check_day(day, "the to day")


def test_instants_need_a_zone_and_the_range() -> None:
    start = datetime(1970, 1, 1, tzinfo=UTC)
    assert bounds.check_instant(start) == start
    last = datetime(2201, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
    assert bounds.check_instant(last) == last
    with pytest.raises(InputError, match="out of range"):
        bounds.check_instant(start - timedelta(microseconds=1))
    east = timezone(timedelta(hours=8))  # compared as instants: 07:00 there is 23:00 UTC
    assert bounds.check_instant(datetime(2201, 1, 1, 7, tzinfo=east))
    with pytest.raises(InputError, match="out of range"):
        bounds.check_instant(datetime(2201, 1, 1, 8, tzinfo=east))
    with pytest.raises(InputError, match="starts_at 2026-01-01T00:00:00 has no time zone"):
        bounds.check_instant(datetime(2026, 1, 1), "starts_at")


@pytest.mark.parametrize("offset", [-1, bounds.MAX_OFFSET + 1, 10**20, True, 1.0])
def test_offsets_past_a_billion_are_refused(offset: object) -> None:
    with pytest.raises(InputError, match="offset must be 0 to 1,000,000,000"):
        bounds.check_offset(offset)  # type: ignore[arg-type]
    assert bounds.check_offset(bounds.MAX_OFFSET) == bounds.MAX_OFFSET
