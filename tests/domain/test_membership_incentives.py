"""Incentive rules: filters, amounts, multipliers, caps, and order-independent totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from userops.domain.membership import incentives as inc
from userops.errors import InputError

SH = ZoneInfo("Asia/Shanghai")
PROPS: dict[str, Any] = {
    "order_id": "o-1",
    "revenue": "128.50",
    "category": "美妆个护",
    "quantity": 3,
    "vip": True,
    "items": [{"item_id": "SKU1", "category": "图书文娱"}],
    "tags": ["new", "gift"],
}


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("category=美妆个护", True),
        ("category!=美妆个护", False),
        ("revenue>=128.5", True),
        ("revenue>128.5", False),
        ("revenue<200", True),
        ("quantity=3", True),
        ("quantity<=2", False),
        ("category in 图书文娱,美妆个护", True),
        ("category not in 图书文娱", True),
        ("items.0.category=图书文娱", True),
        ("order_id?", True),
        ("coupon?", False),
        ("coupon!=x", True),  # absent is "not equal"
        ("coupon>1", False),
        ("vip=true", True),
        ("category>5", False),  # text is not a number: never greater
    ],
)
def test_text_filters(text: str, passes: bool) -> None:
    assert inc.Filter.parse(text).passes(PROPS) is passes


def test_json_filters_and_contains() -> None:
    doc = {"property": "tags", "op": "contains", "value": "gift"}
    assert inc.Filter.from_json(doc).passes(PROPS)
    assert inc.Filter.from_json(doc).as_json() == doc
    assert inc.matches([], {})
    with pytest.raises(InputError):
        inc.Filter.from_json({"op": "eq"})
    with pytest.raises(InputError):
        inc.Filter("x", "in", "not-a-list")
    with pytest.raises(InputError):
        inc.Filter.parse("just words")


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("128.50", 12850),
        (Decimal("0.01"), 1),
        (99, 9900),
        (12.345, 1234),
        ("-5", -500),
        (None, None),
        ("ten", None),
        (True, None),
    ],
)
def test_money_to_cents(value: object, cents: int | None) -> None:
    assert inc.to_cents(value) == cents


@pytest.mark.parametrize(
    ("formula", "revenue", "amount"),
    [
        (inc.AwardFormula("fixed", 5), None, 5),
        (inc.AwardFormula("per_amount", 1), 12850, 128),  # 1 point per whole yuan
        (inc.AwardFormula("per_amount", 2, unit_cents=1000), 12850, 24),  # 2 per 10 yuan
        (inc.AwardFormula("per_amount", 1), -500, 0),  # a refund earns nothing
        (inc.AwardFormula("per_amount", 1), None, 0),
        (inc.AwardFormula(), 12850, 0),
    ],
)
def test_award_formulas(formula: inc.AwardFormula, revenue: int | None, amount: int) -> None:
    assert formula.base(revenue) == amount


@pytest.mark.parametrize(
    ("proposed", "caps", "used", "granted"),
    [
        (10, inc.Caps(), inc.Used(), 10),
        (10, inc.Caps(day=25), inc.Used(day=20), 5),
        (10, inc.Caps(day=25, period=100), inc.Used(day=0, period=97), 3),
        (10, inc.Caps(lifetime=50), inc.Used(lifetime=50), 0),
        (10, inc.Caps(day=5), inc.Used(day=9), 0),  # already over (cap lowered): nothing more
        (0, inc.Caps(day=5), inc.Used(), 0),
    ],
)
def test_cap_arithmetic(proposed: int, caps: inc.Caps, used: inc.Used, granted: int) -> None:
    assert inc.capped(proposed, caps, used) == granted


@pytest.mark.parametrize(
    ("amount", "percent", "result"), [(128, 150, 192), (7, 150, 10), (100, 100, 100), (3, 33, 0)]
)
def test_multiplier_rounds_down(amount: int, percent: int, result: int) -> None:
    assert inc.multiplied(amount, percent) == result


def event(
    i: int,
    at: datetime,
    user: str = "u1",
    name: str = "purchase",
    revenue: str | None = "10.00",
    **props: Any,
) -> inc.RuleEvent:
    return inc.RuleEvent.of(
        {
            "message_id": f"m{i:04d}",
            "user_id": user,
            "event": name,
            "timestamp": at,
            "revenue": revenue,
            "properties": {"order_id": f"o{i}", **props},
        }
    )


DAY = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday


def test_plan_awards_caps_per_local_day_and_lifetime() -> None:
    login = inc.IncentiveRule(
        1,
        "login",
        "app_open",
        points=inc.AwardFormula("fixed", 5),
        growth=inc.AwardFormula("fixed", 1),
        points_caps=inc.Caps(day=5, lifetime=15),
    )
    events = [
        event(i, DAY + timedelta(hours=h), name="app_open")
        for i, h in enumerate([0, 1, 15, 16, 40, 64, 88])
    ]
    # Local days: 0h,1h -> May 4; 15h,16h -> May 5 (01:00 local is after midnight); ...
    grants, counters = inc.plan_awards([login], events, tz=SH)
    assert [g.points for g in grants] == [5, 0, 5, 0, 5, 0, 0]
    assert [g.growth for g in grants] == [1] * 7  # growth is not capped
    assert counters[(1, "u1", "life", inc.LIFETIME)] == (15, 7)


def test_plan_awards_uses_known_counters_and_skips_applied_events() -> None:
    rule = inc.IncentiveRule(
        2,
        "buy",
        "purchase",
        points=inc.AwardFormula("per_amount", 1),
        points_caps=inc.Caps(period=25),
        cap_period="month",
    )
    known = {(2, "u1", "period", DAY.date().replace(day=1)): (20, 0)}
    events = [event(1, DAY), event(2, DAY + timedelta(minutes=1))]
    grants, _ = inc.plan_awards(
        [rule], events, tz=SH, counters=known, applied=lambda rule_id, mid: mid == "m0001"
    )
    assert [(g.message_id, g.points, g.reference) for g in grants] == [("m0002", 5, "o2")]


def test_rule_filters_window_and_multiplier() -> None:
    rule = inc.IncentiveRule(
        3,
        "beauty",
        "purchase",
        filters=(inc.Filter.parse("category=美妆个护"),),
        points=inc.AwardFormula("per_amount", 1),
        use_multiplier=True,
        starts_at=DAY,
        ends_at=DAY + timedelta(days=1),
    )
    events = [
        event(1, DAY, category="美妆个护"),
        event(2, DAY, category="图书文娱"),
        event(3, DAY - timedelta(seconds=1), category="美妆个护"),
        event(4, DAY + timedelta(days=1), category="美妆个护"),
        event(5, DAY, user="", category="美妆个护"),
    ]
    grants, _ = inc.plan_awards([rule], events, tz=SH, multiplier=lambda r, u, at: 150)
    assert [(g.message_id, g.points) for g in grants] == [("m0001", 15)]


def test_a_rule_must_give_something() -> None:
    with pytest.raises(InputError):
        inc.IncentiveRule(1, "nothing", "x")


times = st.lists(st.integers(0, 60 * 24 * 70), min_size=1, max_size=40)


@settings(max_examples=60)
@given(times, st.randoms(use_true_random=False), st.integers(1, 12))
def test_totals_do_not_depend_on_arrival_order_or_batching(
    minutes: list[int], rnd: Any, batches: int
) -> None:
    rule = inc.IncentiveRule(
        4,
        "buy",
        "purchase",
        points=inc.AwardFormula("per_amount", 1),
        growth=inc.AwardFormula("fixed", 3),
        points_caps=inc.Caps(day=25, period=60, lifetime=200),
        growth_caps=inc.Caps(day=4),
        cap_period="week",
    )
    events = [event(i, DAY + timedelta(minutes=m)) for i, m in enumerate(minutes)]
    in_order, _ = inc.plan_awards([rule], events, tz=SH)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    counters: dict[inc.CounterKey, tuple[int, int]] = {}
    done: set[str] = set()
    grants: list[inc.Grant] = []
    size = max(1, len(shuffled) // batches)
    for start in range(0, len(shuffled), size):
        batch, touched = inc.plan_awards(
            [rule],
            shuffled[start : start + size],
            tz=SH,
            counters=counters,
            applied=lambda _r, mid: mid in done,
        )
        counters.update(touched)
        done.update(g.message_id for g in batch)
        grants += batch
    assert len(grants) == len(events)
    assert sum(g.points for g in grants) == sum(g.points for g in in_order)
    assert sum(g.growth for g in grants) == sum(g.growth for g in in_order)


BIG = 2**70  # beyond the 64-bit integers SQLite and PostgreSQL store: a 500 before


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: inc.AwardFormula("fixed", BIG), "needs a value of 1 to 1000000000000, not"),
        (lambda: inc.AwardFormula("per_amount", 1, BIG), "unit must be 1 to 1000000000000 cents"),
        (lambda: inc.AwardFormula("per_amount", 1, 0), "unit must be 1 to 1000000000000 cents"),
        (lambda: inc.Caps(day=BIG), "the day cap must be 0 to 1000000000000, not"),
        (lambda: inc.Caps(lifetime=-1), "the lifetime cap must be 0 to 1000000000000, not -1"),
    ],
)
def test_values_units_and_caps_have_a_documented_maximum(make: Any, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        make()
    assert inc.Caps(day=10**12).day == 10**12


def test_a_rules_start_and_end_are_aware_in_range_and_in_order() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    inc.check_rule_times(start, end)
    inc.check_rule_times(None, None)
    with pytest.raises(InputError, match="a rule must end after it starts"):
        inc.check_rule_times(end, start)
    with pytest.raises(InputError, match=r"start \(starts_at\) 2026-01-01T00:00:00 has no time"):
        inc.check_rule_times(datetime(2026, 1, 1), end)
    with pytest.raises(InputError, match=r"end \(ends_at\) 9999-12-31T00:00:00\+00:00 is out"):
        inc.check_rule_times(start, datetime(9999, 12, 31, tzinfo=UTC))
