"""Conversion and revenue against the plain reference: paying users and rate, revenue, ARPU,
ARPPU, AOV, repurchase and churn per period, first-purchase conversion of new users."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.analytics import reference as ref
from tests.analytics.conftest import Loaded
from userops.analytics.filters import parse_by, parse_where
from userops.analytics.periods import Period
from userops.analytics.revenue import Figures, revenue
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

COMBOS = [
    (ref.CASES[0], "week", date(2026, 10, 7), date(2026, 11, 29), 7),
    (ref.CASES[1], "day", date(2026, 10, 15), date(2026, 11, 12), 3),
    (ref.CASES[4], "month", date(2026, 9, 28), date(2026, 11, 29), 30),
    (ref.CASES[2], "week", date(2026, 10, 26), date(2026, 11, 15), 1),
]


@pytest.mark.parametrize(
    ("case", "period", "start", "end", "within"),
    COMBOS,
    ids=[f"{c[0].name}-{c[1]}" for c in COMBOS],
)
def test_revenue_matches_reference(
    loaded: Loaded, case: ref.Case, period: Period, start: date, end: date, within: int
) -> None:
    got = revenue(
        loaded.wh,
        period=period,
        start=start,
        end=end,
        within_days=within,
        filters=parse_where(case.where),
        by=parse_by(case.by),
    )
    assert got.as_json() == ref.revenue(loaded.world, case, period, start, end, within)
    assert got.summary.figures.paying > 0
    assert any(p.churned for p in got.points)


def test_refunds_are_not_revenue_and_do_not_make_payers(loaded: Loaded) -> None:
    start, end = date(2026, 9, 28), date(2026, 11, 29)
    got = revenue(loaded.wh, period="month", start=start, end=end)
    events = loaded.world.events
    paid = events[[r is not None and r > 0 for r in events.revenue]]
    paid = paid[(paid.day >= start) & (paid.day <= end)]
    assert got.summary.figures.revenue == sum(paid.revenue, Decimal("0.00"))
    assert got.summary.figures.orders == len(paid)
    assert got.summary.figures.paying == paid.uid.nunique()


def test_figures_of_nobody_are_none_not_zero() -> None:
    nobody = Figures()
    assert (nobody.paying_rate, nobody.arpu, nobody.arppu, nobody.aov) == (None, None, None, None)
    assert nobody.as_json()["revenue"] == "0.00"


def test_empty_range_and_warehouse(loaded: Loaded, empty_wh: Warehouse) -> None:
    for wh in (loaded.wh, empty_wh):
        got = revenue(wh, period="week", start=date(2025, 6, 2), end=date(2025, 6, 8)).as_json()
        assert got["summary"]["active_users"] == 0 and got["summary"]["first_purchase_rate"] is None
        assert [r["date"] for r in got["series"]] == ["2025-06-02"]
        assert got["series"][0]["churn_rate"] is None


def test_within_days_is_checked(loaded: Loaded) -> None:
    with pytest.raises(InputError, match="within 0 days"):
        revenue(
            loaded.wh, period="day", start=date(2026, 11, 1), end=date(2026, 11, 1), within_days=0
        )
