"""Benefits, badges, leaderboards and member tags on each backend (events in a DuckDB
warehouse where they need one)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
import pytest
from sqlalchemy import Engine

from userops.domain.membership.badges import Tier
from userops.domain.membership.incentives import AwardFormula
from userops.errors import InputError
from userops.ingest.pipeline import import_table
from userops.membership import badges, benefits, growth, leaderboards, levels, points, rules
from userops.membership.ledger import KeyConflict
from userops.membership.levels import LevelSpec
from userops.membership.tags import member_tags
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse

SH = ZoneInfo("Asia/Shanghai")


def at(m: int, d: int, hh: int = 12) -> datetime:
    return datetime(2026, m, d, hh, tzinfo=SH)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with open_warehouse(Settings(data_dir=tmp_path, timezone="Asia/Shanghai")) as warehouse:
        init_warehouse(warehouse)
        yield warehouse


def load(wh: Warehouse, events: list[tuple[str, str, str, datetime, dict[str, Any]]]) -> None:
    table = pa.table(
        {
            "message_id": [e[0] for e in events],
            "type": ["track"] * len(events),
            "event": [e[2] for e in events],
            "user_id": [e[1] for e in events],
            "timestamp": [e[3].isoformat() for e in events],
            "properties": [orjson.dumps(e[4]).decode() for e in events],
        }
    )
    assert import_table(wh, "events", table).summary.rejected == 0


def gold_scheme(engine: Engine) -> None:
    levels.create_scheme(
        engine,
        code="club",
        name="Club",
        levels=[LevelSpec("silver", "Silver", 0), LevelSpec("gold", "Gold", 1000)],
    )
    benefits.create_benefit(engine, code="ship", name="Free shipping", kind="free_shipping")
    benefits.create_benefit(engine, code="off5", name="5% off", kind="percent_discount")
    benefits.grant_benefit(
        engine, scheme="club", level="gold", benefit="ship", quota=2, period="month"
    )
    benefits.grant_benefit(engine, scheme="club", level="gold", benefit="off5", value=5)
    benefits.grant_benefit(
        engine, scheme="club", level="silver", benefit="ship", quota=0, period="month"
    )


def test_benefits_entitlement_and_quota(engine: Engine) -> None:
    gold_scheme(engine)
    growth.adjust(engine, user_id="u1", amount=1500, key="g", reason="t", actor="t", at=at(3, 1))
    levels.evaluate(engine, on=date(2026, 3, 1), tz=SH)
    now = benefits.entitlements(engine, user_id="u1", at=at(3, 2), tz=SH)
    assert {(e.entitlement.grant.code, e.entitlement.remaining) for e in now} == {
        ("ship", 2),
        ("off5", None),
    }
    first = benefits.use_benefit(engine, user_id="u1", benefit="ship", key="s1", at=at(3, 2), tz=SH)
    assert first.entitlement.entitlement.remaining == 1 and not first.replayed
    assert benefits.use_benefit(
        engine, user_id="u1", benefit="ship", key="s1", at=at(3, 2), tz=SH
    ).replayed
    benefits.use_benefit(engine, user_id="u1", benefit="ship", key="s2", at=at(3, 31, 23), tz=SH)
    with pytest.raises(InputError, match="0 of 2 uses"):
        benefits.use_benefit(
            engine, user_id="u1", benefit="ship", key="s3", at=at(3, 31, 23), tz=SH
        )
    # A new month, a new quota.
    benefits.use_benefit(engine, user_id="u1", benefit="ship", key="s3", at=at(4, 1, 0), tz=SH)
    with pytest.raises(KeyConflict):
        benefits.use_benefit(engine, user_id="u1", benefit="off5", key="s3", tz=SH)
    with pytest.raises(InputError, match="not entitled"):
        benefits.use_benefit(engine, user_id="u2", benefit="ship", key="x", tz=SH)
    catalogue = benefits.catalogue(engine, scheme="club")
    assert [(row["level"], [b["code"] for b in row["benefits"]]) for row in catalogue] == [
        ("silver", ["ship"]),
        ("gold", ["off5", "ship"]),
    ]


def test_badges_first_purchase_tiers_and_streak(engine: Engine, wh: Warehouse) -> None:
    badges.create_badge(
        engine,
        code="first",
        name="First purchase",
        kind="event_count",
        event="purchase",
        tiers=[Tier(1, "first")],
    )
    badges.create_badge(
        engine,
        code="orders",
        name="Orders",
        kind="event_count",
        event="purchase",
        tiers=[Tier(3, "bronze"), Tier(5, "silver")],
        filters=["revenue>=10"],
    )
    badges.create_badge(
        engine,
        code="streak",
        name="Check-in streak",
        kind="streak",
        event="app_open",
        tiers=[Tier(3, "3 days")],
    )
    events = [
        (f"p{i}", "u1", "purchase", at(3, 1 + i), {"revenue": 5 if i == 1 else 20})
        for i in range(5)
    ]
    events += [(f"o{i}", "u2", "app_open", at(3, d, 23), {}) for i, d in enumerate((1, 2, 4, 5, 6))]
    load(wh, events)
    run = badges.evaluate_badges(engine, wh, tz=SH, until=at(4, 1))
    assert run.awarded == {"first": 1, "orders": 1, "streak": 1}
    assert badges.evaluate_badges(engine, wh, tz=SH, until=at(4, 1)).awarded == {
        "first": 0,
        "orders": 0,
        "streak": 0,
    }
    mine = {
        b["badge"]: (b["tier_name"], datetime.fromisoformat(b["earned_at"]))
        for b in badges.user_badges(engine, user_id="u1")
    }
    # The 3rd purchase of at least 10 yuan was on 4 March (the one of 2 March was 5 yuan).
    assert mine == {"first": ("first", at(3, 1)), "orders": ("bronze", at(3, 4))}
    streak = badges.user_badges(engine, user_id="u2")
    assert datetime.fromisoformat(streak[0]["earned_at"]) == datetime(2026, 3, 6, tzinfo=SH)


def test_leaderboards_and_top_rank_badges(engine: Engine, wh: Warehouse) -> None:
    rules.create_rule(
        engine, code="buy", name="buy", event="purchase", points=AwardFormula("per_amount", 1)
    )
    events = [
        ("a1", "a", "purchase", at(3, 3), {"revenue": 300}),
        ("b1", "b", "purchase", at(3, 4), {"revenue": 500}),
        ("c1", "c", "purchase", at(3, 5), {"revenue": 300}),
        ("c2", "c", "purchase", at(4, 1), {"revenue": 900}),
        ("i1", "a", "invite", at(3, 6), {"invitee": "x"}),
        ("i2", "a", "invite", at(3, 7), {"invitee": "y"}),
        ("i3", "b", "invite", at(3, 7), {}),
    ]
    load(wh, events)
    rules.backfill(engine, wh, tz=SH)
    points.reverse(
        engine,
        user_id="b",
        key="ret",
        reference=None,
        entry_key="rule:1:b1",
        amount=250,
        at=at(3, 20),
    )
    leaderboards.create_leaderboard(
        engine, code="pts", name="Points this month", metric="points_earned", period="month", size=2
    )
    leaderboards.create_leaderboard(
        engine, code="inv", name="Invites", metric="event_count", event="invite", period="month"
    )
    board = leaderboards.compute(engine, code="pts", day=date(2026, 3, 15), wh=wh, tz=SH)
    assert [(e.rank, e.user_id, e.value) for e in board.entries] == [
        (1, "a", 300),
        (1, "c", 300),
        (3, "b", 250),
    ][:2]
    invites = leaderboards.compute(engine, code="inv", day=date(2026, 3, 1), wh=wh, tz=SH)
    assert [(e.user_id, e.value) for e in invites.entries] == [("a", 2), ("b", 1)]
    assert (
        leaderboards.standings(engine, code="pts", day=date(2026, 3, 31)).entries == board.entries
    )
    badges.create_badge(
        engine,
        code="top",
        name="Top buyer",
        kind="top_rank",
        leaderboard="pts",
        tiers=[Tier(1, "champion")],
    )
    assert badges.evaluate_badges(engine, None, tz=SH, today=date(2026, 3, 31)).awarded == {
        "top": 0
    }  # March is not over
    assert badges.evaluate_badges(engine, None, tz=SH, today=date(2026, 4, 1)).awarded == {"top": 2}
    with pytest.raises(InputError, match="needs an event"):
        leaderboards.create_leaderboard(engine, code="x", name="x", metric="event_count")


def test_member_tags(engine: Engine, wh: Warehouse) -> None:
    gold_scheme(engine)
    growth.adjust(
        engine,
        user_id="u1",
        amount=1500,
        key="g1",
        reason="t",
        actor="t",
        at=at(1, 1) - timedelta(days=400),
    )
    rules.create_rule(
        engine, code="share", name="share", event="share", points=AwardFormula("fixed", 1)
    )
    rules.create_rule(
        engine, code="invite", name="invite", event="invite", points=AwardFormula("fixed", 1)
    )
    load(
        wh,
        [("s1", "u2", "share", at(3, 1), {}), ("i1", "u2", "invite", at(3, 2), {"invitee": "u9"})],
    )
    rules.backfill(engine, wh, tz=SH)
    levels.evaluate(engine, on=date(2026, 3, 2), tz=SH)
    tags = {row["user_id"]: row for row in member_tags(engine, wh, at=at(3, 10), tz=SH)}
    assert tags["u1"]["level_club"] == "gold" and tags["u1"]["loyalty"] == "loyal"
    assert tags["u2"]["participation"] == 2 and tags["u2"]["participation_level"] == "low"
    assert (tags["u2"]["invites"], tags["u2"]["invitees"], tags["u2"]["self_propagation"]) == (
        1,
        1,
        "some",
    )
    assert tags["u2"]["loyalty"] == "new" and tags["u1"]["invites"] == 0
