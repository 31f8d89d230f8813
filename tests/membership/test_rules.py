"""The incentive rules engine on each backend: awards, caps, filters, exactly once, level
multipliers, maturity, and an order's reversal taking back its points and growth value."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from userops.domain.membership.incentives import AwardFormula, Caps
from userops.errors import InputError
from userops.membership import benefits, levels, points, rules
from userops.membership.levels import LevelSpec
from userops.store.db import session_scope
from userops.store.models import GrowthEntry, RuleApplication

from .conftest import assert_consistent

SH = ZoneInfo("Asia/Shanghai")


def at(d: int, hh: int = 10, mm: int = 0) -> datetime:
    """A local time in May 2026 (Monday 4 May is day 4)."""
    return datetime(2026, 5, d, hh, mm, tzinfo=SH)


def ev(mid: str, user: str, name: str, when: datetime, **props: Any) -> dict[str, Any]:
    return {
        "message_id": mid,
        "user_id": user,
        "event": name,
        "timestamp": when,
        "revenue": props.pop("revenue", None),
        "properties": props,
    }


def apply(engine: Engine, events: list[dict[str, Any]]) -> rules.ApplyResult:
    with session_scope(engine) as session:
        return rules.apply_rules_to_events(session, events, tz=SH, now=at(31))


def growth_of(engine: Engine, user: str) -> int:
    with session_scope(engine, read_only=True) as session:
        total = session.scalar(
            select(func.coalesce(func.sum(GrowthEntry.amount), 0)).where(
                GrowthEntry.user_id == user
            )
        )
    return int(total or 0)


def standard_rules(engine: Engine) -> None:
    rules.create_rule(
        engine,
        code="buy",
        name="1 point per yuan",
        event="purchase",
        points=AwardFormula("per_amount", 1),
        growth=AwardFormula("per_amount", 1),
        points_caps=Caps(day=500),
        maturity_days=7,
        expiry="year_end:1",
    )
    rules.create_rule(
        engine,
        code="login",
        name="Daily check-in",
        event="app_open",
        points=AwardFormula("fixed", 5),
        growth=AwardFormula("fixed", 1),
        points_caps=Caps(day=5),
        growth_caps=Caps(day=1, lifetime=3),
    )
    rules.create_rule(
        engine,
        code="beauty",
        name="Beauty bonus",
        event="purchase",
        filters=["category=美妆个护"],
        points=AwardFormula("fixed", 20),
    )


def test_rules_award_points_and_growth_within_caps(engine: Engine) -> None:
    standard_rules(engine)
    done = apply(
        engine,
        [
            ev("p1", "u1", "purchase", at(4), revenue="128.50", order_id="o1", category="美妆个护"),
            ev("p2", "u1", "purchase", at(4, 11), revenue="600.00", order_id="o2"),
            ev("l1", "u1", "app_open", at(4, 8)),
            ev("l2", "u1", "app_open", at(4, 9)),  # same local day: capped
            ev("l3", "u1", "app_open", at(5, 0, 30)),  # next local day (16:30 UTC the day before)
            ev("l4", "u1", "app_open", at(6)),
            ev("l5", "u1", "app_open", at(7)),  # growth lifetime cap 3 reached
            ev("x1", "u1", "view_item", at(4)),  # no rule
            ev("a1", None, "purchase", at(4), revenue="10"),  # anonymous: earns nothing
        ],
    )
    assert (done.events, done.applied) == (9, 8)  # p1 under two rules
    # purchase: 128 + min(600, 500 - 128) = 500 capped per day; beauty 20; logins 4 x 5.
    assert done.points == 128 + 372 + 20 + 20
    assert done.growth == 128 + 600 + 3
    balance = points.balance(engine, user_id="u1", at=at(8))
    assert (balance.available, balance.pending) == (40, 500)  # purchases mature after 7 days
    assert points.balance(engine, user_id="u1", at=at(11, 11)).available == 540
    assert assert_consistent(engine, "u1") == 540


def test_each_event_is_applied_once_however_often_it_arrives(engine: Engine) -> None:
    standard_rules(engine)
    events = [
        ev("p1", "u1", "purchase", at(4), revenue="50", order_id="o1"),
        ev("p1", "u1", "purchase", at(4), revenue="50", order_id="o1"),
    ]
    assert apply(engine, events).applied == 1
    assert apply(engine, events).applied == 0
    with session_scope(engine, read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(RuleApplication)) == 1
    assert points.balance(engine, user_id="u1", at=at(20)).available == 50


def test_caps_carry_across_batches(engine: Engine) -> None:
    standard_rules(engine)
    apply(engine, [ev("p1", "u1", "purchase", at(4), revenue="400")])
    second = apply(engine, [ev("p2", "u1", "purchase", at(4, 20), revenue="400")])
    assert second.points == 100
    third = apply(engine, [ev("p3", "u1", "purchase", at(5, 9), revenue="400")])
    assert third.points == 400


def test_paused_rules_and_time_windows(engine: Engine) -> None:
    rules.create_rule(
        engine,
        code="may-day",
        name="Labour day x2",
        event="purchase",
        points=AwardFormula("per_amount", 2),
        starts_at=at(1, 0),
        ends_at=at(6, 0),
    )
    assert (
        apply(
            engine,
            [
                ev("p1", "u1", "purchase", at(5, 23), revenue="10"),
                ev("p2", "u1", "purchase", at(6, 0), revenue="10"),
            ],
        ).points
        == 20
    )
    rules.set_rule_active(engine, code="may-day", active=False, actor="alice")
    assert apply(engine, [ev("p3", "u1", "purchase", at(5), revenue="10")]).applied == 0
    assert [r.is_active for r in rules.list_rules(engine)] == [False]


def test_bad_rules_are_refused(engine: Engine) -> None:
    standard_rules(engine)
    with pytest.raises(InputError, match="already exists"):
        rules.create_rule(
            engine, code="buy", name="x", event="purchase", points=AwardFormula("fixed", 1)
        )
    with pytest.raises(InputError, match="neither points nor growth"):
        rules.create_rule(engine, code="none", name="x", event="purchase")
    with pytest.raises(InputError, match="no level scheme"):
        rules.create_rule(
            engine,
            code="mult",
            name="x",
            event="purchase",
            points=AwardFormula("fixed", 1),
            multiplier_scheme="nope",
        )
    with pytest.raises(InputError, match="filter"):
        rules.create_rule(
            engine,
            code="f",
            name="x",
            event="purchase",
            points=AwardFormula("fixed", 1),
            filters=["nonsense"],
        )


def test_level_multiplier_applies_from_the_day_after_the_level_is_reached(engine: Engine) -> None:
    levels.create_scheme(
        engine,
        code="vip",
        name="VIP",
        levels=[LevelSpec("l1", "L1", 0), LevelSpec("l2", "L2", 100)],
    )
    benefits.create_benefit(engine, code="x15", name="1.5x points", kind="points_multiplier")
    benefits.grant_benefit(engine, scheme="vip", level="l2", benefit="x15", value=150)
    rules.create_rule(
        engine,
        code="buy",
        name="buy",
        event="purchase",
        points=AwardFormula("per_amount", 1),
        growth=AwardFormula("per_amount", 1),
        multiplier_scheme="vip",
    )
    apply(engine, [ev("p1", "u1", "purchase", at(4), revenue="100")])
    levels.evaluate(engine, on=date(2026, 5, 4), tz=SH)  # reaches L2 on 4 May
    same_day = apply(engine, [ev("p2", "u1", "purchase", at(4, 22), revenue="100")])
    next_day = apply(engine, [ev("p3", "u1", "purchase", at(5, 1), revenue="100")])
    assert (same_day.points, next_day.points) == (100, 150)


def test_reversing_an_order_takes_back_its_points_and_growth(engine: Engine) -> None:
    standard_rules(engine)
    apply(
        engine,
        [
            ev("p1", "u1", "purchase", at(4), revenue="200", order_id="o1", category="美妆个护"),
            ev("p2", "u1", "purchase", at(4), revenue="50", order_id="o2"),
        ],
    )
    assert growth_of(engine, "u1") == 250
    # Returned inside the 7-day window: the pending 200 and the (matured) beauty bonus 20.
    done = points.reverse(engine, user_id="u1", key="return-o1", reference="o1", at=at(6))
    assert sorted(e.amount for e in done.entries) == [-200, -20]
    assert done.growth_reversed == 200
    assert growth_of(engine, "u1") == 50
    assert points.balance(engine, user_id="u1", at=at(20)).available == 50
    again = points.reverse(engine, user_id="u1", key="return-o1", reference="o1", at=at(6))
    assert again.replayed and again.growth_reversed == 200
    assert assert_consistent(engine, "u1") == 50


def test_rule_points_already_expired_when_backfilled_expire_at_once(engine: Engine) -> None:
    rules.create_rule(
        engine,
        code="old",
        name="old",
        event="share",
        points=AwardFormula("fixed", 10),
        expiry="days:1",
    )
    apply(engine, [ev("s1", "u1", "share", at(1)), ev("s2", "u1", "share", at(30))])
    assert points.balance(engine, user_id="u1", at=at(31)).available == 10
    assert assert_consistent(engine, "u1") == 10
