"""Lifecycle states (new, returning, resurrecting, dormant) against the plain reference."""

from __future__ import annotations

from datetime import date

import pytest

from tests.analytics import reference as ref
from tests.analytics.conftest import Loaded
from userops.analytics.filters import parse_by, parse_where
from userops.analytics.lifecycle import lifecycle
from userops.analytics.periods import Period
from userops.warehouse.connection import Warehouse

COMBOS = [
    (ref.CASES[0], "day", date(2026, 10, 28), date(2026, 11, 6), None),
    (ref.CASES[1], "week", date(2026, 10, 7), date(2026, 11, 29), None),
    (ref.CASES[2], "month", date(2026, 9, 1), date(2026, 11, 30), None),
    (ref.CASES[4], "week", date(2026, 10, 1), date(2026, 11, 29), "view_item"),
]


@pytest.mark.parametrize(
    ("case", "period", "start", "end", "event"), COMBOS, ids=[f"{c[0].name}-{c[1]}" for c in COMBOS]
)
def test_lifecycle_matches_reference(
    loaded: Loaded, case: ref.Case, period: Period, start: date, end: date, event: str | None
) -> None:
    got = lifecycle(
        loaded.wh,
        period=period,
        start=start,
        end=end,
        event=event,
        filters=parse_where(case.where),
        by=parse_by(case.by),
    )
    assert got.as_json() == ref.lifecycle(loaded.world, case, period, start, end, event)
    assert sum(p.resurrecting for p in got.points) > 0 or period == "month"
    assert sum(p.dormant for p in got.points) > 0


def test_lifecycle_adds_up_to_active_users(loaded: Loaded) -> None:
    from userops.analytics.activity import active_users

    start, end = date(2026, 10, 12), date(2026, 11, 22)
    states = lifecycle(loaded.wh, period="week", start=start, end=end)
    active = active_users(loaded.wh, period="week", start=start, end=end)
    assert [p.active for p in states.points] == [p.active for p in active.points]


def test_lifecycle_of_nothing(empty_wh: Warehouse) -> None:
    got = lifecycle(empty_wh, period="month", start=date(2026, 1, 1), end=date(2026, 1, 31))
    assert got.as_json() == {
        "period": "month",
        "series": [
            {"date": "2026-01-01", "new": 0, "returning": 0, "resurrecting": 0, "dormant": 0}
        ],
    }
