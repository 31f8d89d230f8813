"""Cohort retention against the plain reference: both cohort bases, both variants, a return
event, breakdowns, partial last periods and empty ranges."""

from __future__ import annotations

from datetime import date

import pytest

from tests.analytics import reference as ref
from tests.analytics.conftest import Loaded
from userops.analytics.filters import parse_by, parse_where
from userops.analytics.periods import Period
from userops.analytics.retention import CohortBasis, retention
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

COMBOS = [
    # case, period, periods, start, end, basis, return event, unbounded
    (ref.CASES[0], "day", 7, date(2026, 10, 28), date(2026, 11, 8), "first_activity", None, False),
    (ref.CASES[0], "week", 4, date(2026, 10, 1), date(2026, 11, 25), "first_activity", None, True),
    (ref.CASES[1], "week", 3, date(2026, 10, 7), date(2026, 11, 20), "signup", None, False),
    (ref.CASES[4], "month", 2, date(2026, 9, 20), date(2026, 11, 29), "signup", None, True),
    (ref.CASES[2], "day", 10, date(2026, 10, 20), date(2026, 11, 5), "signup", "purchase", False),
    (
        ref.CASES[3],
        "week",
        5,
        date(2026, 9, 28),
        date(2026, 11, 29),
        "first_activity",
        "view_item",
        True,
    ),
]
IDS = [f"{c[0].name}-{c[1]}-{c[5]}-{c[6]}-{'unbounded' if c[7] else 'on'}" for c in COMBOS]


@pytest.mark.parametrize(
    ("case", "period", "periods", "start", "end", "basis", "event", "unbounded"), COMBOS, ids=IDS
)
def test_retention_matches_reference(
    loaded: Loaded,
    case: ref.Case,
    period: Period,
    periods: int,
    start: date,
    end: date,
    basis: CohortBasis,
    event: str | None,
    unbounded: bool,
) -> None:
    got = retention(
        loaded.wh,
        period=period,
        periods=periods,
        start=start,
        end=end,
        basis=basis,
        return_event=event,
        unbounded=unbounded,
        filters=parse_where(case.where),
        by=parse_by(case.by),
    )
    want = ref.retention(
        loaded.world,
        case,
        period,
        periods,
        start,
        end,
        basis=basis,
        return_event=event,
        unbounded=unbounded,
    )
    assert got.as_json() == want
    assert sum(c.size for c in got.cohorts) > 0
    for c in got.cohorts:
        if basis == "first_activity" and event is None:
            assert c.retained[0] == c.size  # everyone is active in their first period
        if unbounded:
            assert list(c.retained) == sorted(c.retained, reverse=True)


def test_average_row_weights_cohorts_by_size(loaded: Loaded) -> None:
    got = retention(
        loaded.wh, period="week", periods=4, start=date(2026, 10, 5), end=date(2026, 11, 22)
    )
    average = got.average()
    assert len(average) == 5 and average[0] == 1.0
    for k in range(5):
        reached = [c for c in got.cohorts if len(c.retained) > k]
        total = sum(c.size for c in reached)
        assert average[k] == (
            round(sum(c.retained[k] for c in reached) / total, 4) if total else None
        )
    # the last cohort (the week holding the end) has reached only its own period
    assert len(got.cohorts[-1].retained) == 1


def test_group_average(loaded: Loaded) -> None:
    got = retention(
        loaded.wh,
        period="week",
        periods=2,
        start=date(2026, 10, 5),
        end=date(2026, 11, 22),
        by="channel",
    )
    referral = got.group_average("referral")
    mine = [c for c in got.cohorts if c.group == "referral"]
    assert referral[0] == round(sum(c.retained[0] for c in mine) / sum(c.size for c in mine), 4)


def test_empty_range_and_warehouse(loaded: Loaded, empty_wh: Warehouse) -> None:
    for wh in (loaded.wh, empty_wh):
        got = retention(wh, period="day", periods=3, start=date(2025, 3, 1), end=date(2025, 3, 2))
        assert got.as_json() == {
            "period": "day",
            "cohorts": [
                {"cohort": "2025-03-01", "size": 0, "retained": [0, 0]},  # reached day 1
                {"cohort": "2025-03-02", "size": 0, "retained": [0]},
            ],
        }
        assert got.average() == (None, None, None, None)


def test_periods_out_of_bounds(loaded: Loaded) -> None:
    with pytest.raises(InputError, match="periods -1 is not between 0 and 1000"):
        retention(
            loaded.wh, period="day", periods=-1, start=date(2026, 11, 1), end=date(2026, 11, 2)
        )
