"""Level schemes on scripted timelines, on each backend: the growth window sliding past an
earning, the keep period, the notice, the day of the boundary; assignments; history; events."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from userops.errors import InputError
from userops.membership import growth, levels
from userops.membership.levels import LevelSpec
from userops.settings import Settings
from userops.warehouse.connection import init_warehouse, open_warehouse

SH = ZoneInfo("Asia/Shanghai")
LADDER = [
    LevelSpec("silver", "Silver", 0),
    LevelSpec("gold", "Gold", 1000),
    LevelSpec("platinum", "Platinum", 5000),
    LevelSpec("diamond", "Diamond", 20000),
    LevelSpec("black", "Black card", 0, invite_only=True),
]


def local(y: int, m: int, d: int, hh: int = 12) -> datetime:
    return datetime(y, m, d, hh, tzinfo=SH)


def schemes(engine: Engine) -> None:
    levels.create_scheme(
        engine,
        code="rolling",
        name="Rolling 12 months",
        levels=LADDER,
        policy="up_down",
        window_months=12,
        keep_days=30,
        notice_days=7,
    )
    levels.create_scheme(engine, code="forever", name="Only up", levels=LADDER)


def earn(engine: Engine, user: str, amount: int, at: datetime, key: str) -> None:
    growth.adjust(engine, user_id=user, amount=amount, key=key, reason="test", actor="t", at=at)


def level(engine: Engine, scheme: str, user: str) -> str | None:
    return levels.member_level(engine, scheme=scheme, user_id=user).level


def test_window_keep_period_notice_and_downgrade_on_their_days(engine: Engine) -> None:
    schemes(engine)
    earn(engine, "u1", 6000, local(2025, 3, 10, 23), "big")  # 23:00 local on 10 March 2025
    earn(engine, "u1", 1500, local(2025, 9, 1), "small")
    timeline = [
        (date(2025, 3, 9), "silver", None),
        (date(2025, 3, 10), "platinum", None),
        # The 6000 counts through 9 March 2026 ("the last 12 months" of 9 March 2026 starts
        # on 10 March 2025); on 10 March it leaves the window: keep period, 30 days.
        (date(2026, 3, 9), "platinum", None),
        (date(2026, 3, 10), "platinum", date(2026, 4, 9)),
        (date(2026, 4, 1), "platinum", date(2026, 4, 9)),  # the day before the notice
        (date(2026, 4, 2), "platinum", date(2026, 4, 9)),  # notice: 7 days before
        (date(2026, 4, 8), "platinum", date(2026, 4, 9)),  # the day before the boundary
        (date(2026, 4, 9), "gold", None),  # the boundary: down to what 1500 earns
    ]
    for day, expected, due in timeline:
        levels.evaluate(engine, on=day, tz=SH)
        now = levels.member_level(engine, scheme="rolling", user_id="u1")
        assert (now.level, now.downgrade_on) == (expected, due), day
        assert level(engine, "forever", "u1") == (
            "silver" if day < date(2025, 3, 10) else "platinum"
        )
    steps = [
        (h.on, h.kind, h.to_level) for h in levels.history(engine, user_id="u1", scheme="rolling")
    ]
    assert steps == [
        (date(2025, 3, 9), "upgrade", "silver"),
        (date(2025, 3, 10), "upgrade", "platinum"),
        (date(2026, 3, 10), "keep_started", "platinum"),
        (date(2026, 4, 2), "notice", "gold"),
        (date(2026, 4, 9), "downgrade", "gold"),
    ]


def test_earning_back_during_the_keep_period_keeps_the_level(engine: Engine) -> None:
    schemes(engine)
    earn(engine, "u1", 6000, local(2025, 3, 10), "big")
    levels.evaluate(engine, on=date(2025, 3, 10), tz=SH)
    levels.evaluate(engine, on=date(2026, 3, 10), tz=SH)
    earn(engine, "u1", 5000, local(2026, 4, 8, 23), "rescue")  # the last day of the keep
    run = levels.evaluate(engine, on=date(2026, 4, 8), tz=SH)
    assert run.changes == {"keep_cleared": 1}
    levels.evaluate(engine, on=date(2026, 4, 9), tz=SH)
    assert level(engine, "rolling", "u1") == "platinum"


def test_assigned_invitation_only_level(engine: Engine) -> None:
    schemes(engine)
    earn(engine, "vip", 1200, local(2026, 1, 1), "g")
    assigned = levels.assign_level(
        engine,
        scheme="rolling",
        user_id="vip",
        level="black",
        on=date(2026, 1, 5),
        until=date(2026, 2, 28),
        actor="alice",
        reason="key account",
    )
    assert assigned.level == "black" and assigned.assigned
    levels.evaluate(engine, on=date(2026, 2, 28), tz=SH)
    assert level(engine, "rolling", "vip") == "black"
    levels.evaluate(engine, on=date(2026, 3, 1), tz=SH)
    assert level(engine, "rolling", "vip") == "gold"
    kinds = [
        (h.kind, h.actor, h.to_level)
        for h in levels.history(engine, user_id="vip", scheme="rolling")
    ]
    assert kinds == [("assigned", "alice", "black"), ("unassigned", "system", "gold")]
    with pytest.raises(InputError, match="no level 'emerald'"):
        levels.assign_level(
            engine,
            scheme="rolling",
            user_id="vip",
            level="emerald",
            on=date(2026, 3, 1),
            actor="alice",
        )


def test_evaluating_an_earlier_day_does_not_move_anyone_back(engine: Engine) -> None:
    schemes(engine)
    earn(engine, "u1", 6000, local(2026, 1, 1), "g")
    levels.evaluate(engine, on=date(2026, 1, 10), tz=SH)
    levels.evaluate(engine, on=date(2025, 12, 1), tz=SH)
    assert level(engine, "rolling", "u1") == "platinum"


def test_distribution_and_migration_between_two_dates(engine: Engine) -> None:
    schemes(engine)
    earn(engine, "a", 1500, local(2026, 1, 1), "a1")
    earn(engine, "b", 100, local(2026, 1, 1), "b1")
    earn(engine, "c", 6000, local(2026, 1, 1), "c1")
    levels.evaluate(engine, on=date(2026, 1, 1), tz=SH)
    earn(engine, "b", 1000, local(2026, 2, 1), "b2")
    earn(engine, "a", 20000, local(2026, 2, 1), "a2")
    earn(engine, "d", 10, local(2026, 2, 1), "d1")
    levels.evaluate(engine, on=date(2026, 2, 1), tz=SH)
    assert levels.distribution(engine, scheme="forever", on=date(2026, 1, 31)) == [
        {"level": "silver", "name": "Silver", "users": 1},
        {"level": "gold", "name": "Gold", "users": 1},
        {"level": "platinum", "name": "Platinum", "users": 1},
        {"level": "diamond", "name": "Diamond", "users": 0},
        {"level": "black", "name": "Black card", "users": 0},
    ]
    moves = levels.migration(
        engine, scheme="forever", start=date(2026, 1, 31), end=date(2026, 2, 28)
    )
    assert moves == [
        {"from": None, "to": "silver", "users": 1},
        {"from": "gold", "to": "diamond", "users": 1},
        {"from": "platinum", "to": "platinum", "users": 1},
        {"from": "silver", "to": "gold", "users": 1},
    ]


def test_bad_schemes_are_refused(engine: Engine) -> None:
    schemes(engine)
    with pytest.raises(InputError, match="already exists"):
        levels.create_scheme(engine, code="rolling", name="x", levels=LADDER)
    with pytest.raises(InputError, match="threshold above"):
        levels.create_scheme(
            engine, code="bad", name="x", levels=[LevelSpec("a", "A", 100), LevelSpec("b", "B", 50)]
        )
    with pytest.raises(InputError, match="at least one level"):
        levels.create_scheme(engine, code="empty", name="x", levels=[])


def test_level_steps_are_published_to_the_warehouse_once(engine: Engine, tmp_path: Path) -> None:
    schemes(engine)
    earn(engine, "u1", 1500, local(2026, 1, 1), "g")
    levels.evaluate(engine, on=date(2026, 1, 2), tz=SH)
    with open_warehouse(Settings(data_dir=tmp_path)) as wh:
        init_warehouse(wh)
        assert levels.publish_level_events(engine, wh, tz=SH) == 2
        assert levels.publish_level_events(engine, wh, tz=SH) == 0
        rows = wh.sql(
            "SELECT event, user_id, timestamp AT TIME ZONE 'Asia/Shanghai', "
            "properties->>'scheme', properties->>'to_level' FROM events ORDER BY 4"
        )
    assert rows == [
        ("level_upgrade", "u1", datetime(2026, 1, 2, 23, 59, 59, 999000), "forever", "gold"),
        ("level_upgrade", "u1", datetime(2026, 1, 2, 23, 59, 59, 999000), "rolling", "gold"),
    ]
