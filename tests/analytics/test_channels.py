"""Channel comparison against the plain reference: new users, activation, day-N retention,
paying, revenue, LTV to date by age, and cost, CAC and ROI from imported costs."""

from __future__ import annotations

from datetime import date

import pytest

from tests.analytics import reference as ref
from tests.analytics.conftest import Loaded
from userops.analytics.channels import channels
from userops.analytics.filters import parse_by, parse_where
from userops.warehouse.connection import Warehouse

COMBOS = [
    (ref.CASES[0], date(2026, 9, 28), date(2026, 11, 29), None),
    (ref.CASES[1], date(2026, 10, 5), date(2026, 11, 20), "purchase"),
    (ref.CASES[2], date(2026, 10, 1), date(2026, 11, 10), None),
]


@pytest.mark.parametrize(
    ("case", "start", "end", "activation"), COMBOS, ids=[c[0].name for c in COMBOS]
)
def test_channels_match_reference(
    loaded: Loaded, case: ref.Case, start: date, end: date, activation: str | None
) -> None:
    got = channels(
        loaded.wh,
        start=start,
        end=end,
        by=parse_by(case.by) or "channel",
        filters=parse_where(case.where),
        activation_event=activation,
    )
    want = ref.channels(loaded.world, case, start, end, activation_event=activation)
    assert got.as_json() == want
    assert got.total.new_users > 0 and got.total.paying > 0


def test_costs_give_cac_and_roi(loaded: Loaded) -> None:
    got = channels(loaded.wh, start=date(2026, 10, 1), end=date(2026, 11, 29))
    referral = got.row("referral")
    assert referral.cost is not None and referral.cac is not None and referral.roi is not None
    assert got.row("unknown").cost is None  # no costs imported for it
    assert got.total.cost is not None and got.total.cost >= referral.cost


def test_other_breakdowns_have_no_cost(loaded: Loaded) -> None:
    got = channels(loaded.wh, start=date(2026, 10, 1), end=date(2026, 11, 29), by="city")
    assert all(r.cost is None and r.roi is None for r in got.rows)
    assert got.as_json()["by"] == "city"


def test_channels_of_nothing(empty_wh: Warehouse) -> None:
    got = channels(empty_wh, start=date(2026, 1, 1), end=date(2026, 1, 31)).as_json()
    assert got["groups"] == []
    assert got["total"]["new_users"] == 0 and got["total"]["paying_rate"] is None
    assert got["total"]["cost"] is None
