"""The economy report on a scripted ledger, on each backend: flows by month and by rule, the
outstanding liability equal to the ledger's sum, rates, growth and level distributions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from userops.domain.membership.incentives import AwardFormula
from userops.membership import economy, levels, points, rules
from userops.membership.levels import LevelSpec
from userops.store.db import session_scope

from .conftest import ledger_state

SH = ZoneInfo("Asia/Shanghai")


def at(m: int, d: int, hh: int = 12) -> datetime:
    return datetime(2026, m, d, hh, tzinfo=SH)


def test_economy_report(engine: Engine) -> None:
    levels.create_scheme(
        engine,
        code="club",
        name="Club",
        levels=[LevelSpec("l1", "L1", 0), LevelSpec("l2", "L2", 200)],
    )
    rules.create_rule(
        engine,
        code="buy",
        name="buy",
        event="purchase",
        points=AwardFormula("per_amount", 1),
        growth=AwardFormula("per_amount", 1),
        expiry="month_end:1",
    )
    with session_scope(engine) as session:
        rules.apply_rules_to_events(
            session,
            [
                {
                    "message_id": "p1",
                    "user_id": "u1",
                    "event": "purchase",
                    "timestamp": at(1, 10),
                    "revenue": "300",
                    "properties": {"order_id": "o1"},
                },
                {
                    "message_id": "p2",
                    "user_id": "u2",
                    "event": "purchase",
                    "timestamp": at(1, 31, 23),
                    "revenue": "100",
                    "properties": {"order_id": "o2"},
                },
            ],
            tz=SH,
            now=at(1, 31, 23),
        )
    points.award(engine, user_id="u1", amount=50, key="gift", at=at(1, 15))  # manual, never
    points.redeem(engine, user_id="u1", amount=120, key="r1", at=at(2, 3))  # 120 of buy's lot
    points.redeem(engine, user_id="u2", amount=30, key="r2", at=at(2, 3))
    points.reverse(engine, user_id="u2", key="ret", reference="o2", at=at(2, 10))
    points.reverse(engine, user_id="u1", key="undo-r1", entry_key="r1", amount=20, at=at(2, 11))
    points.expire(engine, at=at(3, 2))  # buy's lot of u1 expired at the end of February
    levels.evaluate(engine, on=date(2026, 1, 31), tz=SH)

    months = economy.months(engine, start=date(2026, 1, 1), end=date(2026, 3, 31), tz=SH)
    assert [
        (
            m.month.month,
            m.flows.issued,
            m.flows.redeemed,
            m.flows.expired,
            m.flows.reversed,
            m.outstanding,
        )
        for m in months
    ] == [
        (1, 450, 0, 0, 0, 450),
        # u2's order o2 reversed: 70 left in its lot and 30 clawed... nothing else to claw
        # back: 70 taken back, 30 written off (spent). u1 got 20 of its redeem back.
        (2, 0, 130, 0, 70, 250),
        (3, 0, 0, 200, 0, 50),
    ]
    assert months[1].flows.redemption_rate is None
    cached = sum(ledger_state(engine, u)[1] for u in ("u1", "u2"))
    assert months[-1].outstanding == cached == 50

    document = economy.report(
        engine,
        start=date(2026, 1, 1),
        end=date(2026, 3, 31),
        tz=SH,
        scheme="club",
        migration_from=date(2026, 1, 1),
    )
    assert document["total"]["issued"] == 450
    assert document["total"]["redemption_rate"] == str(Decimal("0.2889"))  # 130 / 450
    assert document["total"]["breakage"] == str(Decimal("0.4444"))  # 200 / 450
    by_rule = {row["rule"]: row for row in document["by_rule"]}
    assert (
        by_rule["buy"]["issued"],
        by_rule["buy"]["redeemed"],
        by_rule["buy"]["expired"],
        by_rule["buy"]["reversed"],
    ) == (400, 130, 200, 70)
    assert (by_rule[None]["issued"], by_rule[None]["redeemed"]) == (50, 0)
    assert document["growth"][2] == {"from": 100, "below": 1000, "users": 1}  # u1: 300
    assert document["levels"][1] == {"level": "l2", "name": "L2", "users": 1}
    assert {"from": None, "to": "l2", "users": 1} in document["migration"]
