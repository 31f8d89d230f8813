"""Badges, leaderboards, benefits and the economy formulas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from userops.domain.membership import badges as bd
from userops.domain.membership import benefits as bf
from userops.domain.membership import economy as ec
from userops.domain.membership import leaderboards as lb
from userops.domain.membership import periods as pr
from userops.errors import InputError

T = datetime(2026, 1, 1, tzinfo=UTC)
ORDERS = bd.check_tiers(
    "event_count", [bd.Tier(10, "silver"), bd.Tier(1, "bronze"), bd.Tier(50, "gold")]
)


def test_count_tiers_are_earned_at_the_nth_event() -> None:
    times = [T + timedelta(days=d) for d in range(12)]
    earned = bd.count_tiers(ORDERS, reversed(times))
    assert earned == (bd.Earned(1, "bronze", times[0]), bd.Earned(2, "silver", times[9]))
    assert bd.count_tiers(ORDERS, []) == ()


def test_streaks_count_consecutive_local_days() -> None:
    tiers = bd.check_tiers("streak", [bd.Tier(3, "3 days"), bd.Tier(5, "5 days")])
    start = date(2026, 1, 1)
    days = [start + timedelta(days=d) for d in (0, 1, 3, 4, 5, 5, 6, 7, 8, 20)]
    assert bd.streak_tiers(tiers, days) == (
        (1, "3 days", date(2026, 1, 6)),
        (2, "5 days", date(2026, 1, 8)),
    )
    assert bd.streak_tiers(tiers, [start, start + timedelta(days=2)]) == ()


def test_rank_tiers_smaller_is_better() -> None:
    tiers = bd.check_tiers("top_rank", [bd.Tier(1, "champion"), bd.Tier(10, "top 10")])
    assert [t.name for t in tiers] == ["top 10", "champion"]
    assert bd.rank_tiers(tiers, 1) == ((1, "top 10"), (2, "champion"))
    assert bd.rank_tiers(tiers, 7) == ((1, "top 10"),)
    assert bd.rank_tiers(tiers, 11) == ()


@pytest.mark.parametrize("tiers", [[], [bd.Tier(0, "zero")], [bd.Tier(2, "a"), bd.Tier(2, "b")]])
def test_bad_tiers(tiers: list[bd.Tier]) -> None:
    with pytest.raises(InputError):
        bd.check_tiers("event_count", tiers)


def test_competition_ranking_with_ties_at_the_edge() -> None:
    values = [("d", 5), ("a", 9), ("b", 7), ("c", 7), ("e", 0), ("f", 5), ("g", 1)]
    board = lb.rank(values, 4)
    assert [(r.rank, r.user_id, r.value) for r in board] == [
        (1, "a", 9),
        (2, "b", 7),
        (2, "c", 7),
        (4, "d", 5),
        (4, "f", 5),
    ]
    assert lb.rank(values, 1) == (lb.Ranked(1, "a", 9),)
    assert lb.rank([], 3) == ()


def test_benefit_quota_and_multiplier() -> None:
    shipping = bf.Grant("ship", "free_shipping", quota=2, period="month")
    assert bf.Entitlement(shipping, used=1).remaining == 1
    bf.check_use(bf.Entitlement(shipping, used=1), 1, "u1")
    with pytest.raises(InputError, match="1 of 2 uses"):
        bf.check_use(bf.Entitlement(shipping, used=1), 2, "u1")
    assert bf.Entitlement(bf.Grant("vip", "priority_service"), used=99).remaining is None
    grants = [bf.Grant("x2", "points_multiplier", 200), bf.Grant("x1.5", "points_multiplier", 150)]
    assert bf.multiplier_percent(grants) == 200
    assert bf.multiplier_percent([shipping]) == 100
    with pytest.raises(InputError):
        bf.Grant("bad", "free_shipping", quota=3)
    with pytest.raises(InputError):
        bf.Grant("bad", "points_multiplier", 0)


@pytest.mark.parametrize(
    ("day", "period", "start"),
    [
        (date(2026, 5, 7), "week", date(2026, 5, 4)),
        (date(2026, 5, 7), "month", date(2026, 5, 1)),
        (date(2026, 5, 7), "year", date(2026, 1, 1)),
        (date(2026, 5, 7), "lifetime", None),
    ],
)
def test_quota_periods(day: date, period: bf.QuotaPeriod, start: date | None) -> None:
    assert bf.quota_start(day, period) == start


@pytest.mark.parametrize(
    ("day", "kind", "end"),
    [
        (date(2026, 12, 31), "day", date(2027, 1, 1)),
        (date(2026, 12, 31), "week", date(2027, 1, 4)),
        (date(2026, 1, 31), "month", date(2026, 2, 1)),
        (date(2026, 6, 1), "year", date(2027, 1, 1)),
    ],
)
def test_period_ends(day: date, kind: pr.PeriodKind, end: date) -> None:
    assert pr.period_end(day, kind) == end


def test_add_months_clamps_to_short_months() -> None:
    assert pr.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert pr.add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert pr.add_months(date(2026, 11, 30), 14) == date(2028, 1, 30)


@pytest.mark.parametrize(
    ("kind", "amount", "restore", "flows"),
    [
        ("earn", 100, False, ec.Flows(issued=100)),
        ("adjust", 30, False, ec.Flows(issued=30)),
        ("adjust", -30, False, ec.Flows(redeemed=30)),
        ("spend", -40, False, ec.Flows(redeemed=40)),
        ("expire", -7, False, ec.Flows(expired=7)),
        ("reverse", -60, False, ec.Flows(reversed=60)),
        ("reverse", 25, True, ec.Flows(redeemed=-25)),
    ],
)
def test_entry_flows(kind: str, amount: int, restore: bool, flows: ec.Flows) -> None:
    found = ec.classify(kind, amount, restore=restore)
    assert found == flows and found.net == amount


def test_rates() -> None:
    flows = ec.Flows(issued=1000, redeemed=400, expired=150, reversed=50)
    assert flows.net == 400
    assert flows.redemption_rate == Decimal("0.4000") and flows.breakage == Decimal("0.1500")
    assert ec.Flows().redemption_rate is None
    assert (flows + flows).issued == 2000


def test_tiers_grants_and_uses_have_a_documented_maximum() -> None:
    big = 2**70  # beyond a 64-bit integer column: a 500 before
    with pytest.raises(InputError, match="tier thresholds must be at most 1000000000000"):
        bd.check_tiers("event_count", [bd.Tier(1, "first"), bd.Tier(big, "forever")])
    bf.check_grant_numbers("ship", 0, None)
    bf.check_grant_numbers("ship", 10**12, 10**12)
    with pytest.raises(InputError, match="'ship': the value must be 0 to 1000000000000, not -5"):
        bf.check_grant_numbers("ship", -5, None)
    with pytest.raises(InputError, match="'ship': the value must be 0 to 1000000000000"):
        bf.check_grant_numbers("ship", big, None)
    with pytest.raises(InputError, match="'ship': the quota must be 0 to 1000000000000 uses"):
        bf.check_grant_numbers("ship", 1, big)
    vip = bf.Entitlement(bf.Grant("vip", "priority_service"), used=0)
    with pytest.raises(InputError, match="a benefit is used 1 to 1000000000000 times at once"):
        bf.check_use(vip, big, "u1")
