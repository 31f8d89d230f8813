"""Active users, DAU/WAU/MAU with stickiness, and new users against the plain reference."""

from __future__ import annotations

from datetime import date

import pytest

from tests.analytics import reference as ref
from tests.analytics.conftest import Loaded
from userops.analytics.activity import active_users, new_users, stickiness
from userops.analytics.filters import parse_by, parse_where
from userops.analytics.periods import Period
from userops.warehouse.connection import Warehouse

# (case, period, start, end): ranges that start mid-week, cross months, the DST change of
# Los Angeles (2026-11-01), and reach past the data.
COMBOS = [
    (ref.CASES[0], "day", date(2026, 10, 29), date(2026, 11, 3)),
    (ref.CASES[1], "week", date(2026, 10, 7), date(2026, 11, 20)),
    (ref.CASES[2], "month", date(2026, 9, 15), date(2026, 12, 5)),
    (ref.CASES[3], "day", date(2026, 10, 25), date(2026, 11, 4)),
    (ref.CASES[4], "week", date(2026, 9, 28), date(2026, 11, 29)),
]
IDS = [f"{c.name}-{p}" for c, p, _, _ in COMBOS]


@pytest.mark.parametrize(("case", "period", "start", "end"), COMBOS, ids=IDS)
def test_active_users_match_reference(
    loaded: Loaded, case: ref.Case, period: Period, start: date, end: date
) -> None:
    got = active_users(
        loaded.wh,
        period=period,
        start=start,
        end=end,
        filters=parse_where(case.where),
        by=parse_by(case.by),
    )
    assert got.as_json() == ref.active(loaded.world, case, period, start, end)
    assert any(p.active for p in got.points)


@pytest.mark.parametrize("event", ["purchase", "view_item"])
def test_active_by_a_chosen_event(loaded: Loaded, event: str) -> None:
    start, end = date(2026, 10, 1), date(2026, 11, 29)
    got = active_users(loaded.wh, period="week", start=start, end=end, event=event)
    assert got.as_json() == ref.active(loaded.world, ref.CASES[0], "week", start, end, event)


@pytest.mark.parametrize("case", [ref.CASES[0], ref.CASES[4]], ids=lambda c: c.name)
def test_stickiness_matches_reference(loaded: Loaded, case: ref.Case) -> None:
    start, end = date(2026, 10, 25), date(2026, 11, 8)
    got = stickiness(
        loaded.wh, start=start, end=end, filters=parse_where(case.where), by=parse_by(case.by)
    )
    assert got.as_json() == ref.stickiness(loaded.world, case, start, end)
    assert all(p.dau <= p.wau <= p.mau for p in got.points)
    assert got.average() is None or 0 < got.average() <= 1  # type: ignore[operator]


@pytest.mark.parametrize(
    ("case", "period"), [(ref.CASES[0], "day"), (ref.CASES[4], "week"), (ref.CASES[2], "month")]
)
def test_new_users_match_reference(loaded: Loaded, case: ref.Case, period: Period) -> None:
    start, end = date(2026, 10, 3), date(2026, 11, 25)
    where = [w for w in case.where if not w.startswith("prop.")]
    plain = ref.Case(case.name, tuple(where), trait=case.trait, by=case.by)
    got = new_users(
        loaded.wh,
        period=period,
        start=start,
        end=end,
        filters=parse_where(where),
        by=parse_by(case.by),
    )
    assert got.as_json() == ref.new_users(loaded.world, plain, period, start, end)


def test_an_empty_range_is_all_zeros(loaded: Loaded) -> None:
    start, end = date(2025, 1, 1), date(2025, 1, 9)
    got = active_users(loaded.wh, period="week", start=start, end=end)
    assert got.as_json() == {
        "period": "week",
        "series": [{"date": d, "active": 0} for d in ("2024-12-30", "2025-01-06")],
    }
    assert active_users(loaded.wh, period="day", start=start, end=end, by="channel").points == ()
    assert all(p.mau == 0 for p in stickiness(loaded.wh, start=start, end=end).points)
    assert all(
        p.new_users == 0 for p in new_users(loaded.wh, period="month", start=start, end=end).points
    )


def test_empty_warehouse(empty_wh: Warehouse) -> None:
    got = active_users(empty_wh, period="month", start=date(2026, 1, 5), end=date(2026, 3, 1))
    assert [(p.date.isoformat(), p.active) for p in got.points] == [
        ("2026-01-01", 0),
        ("2026-02-01", 0),
        ("2026-03-01", 0),
    ]
