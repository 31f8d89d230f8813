"""`demo load`: generated files land in the stores whole, and a second load stores nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from userops.membership import levels
from userops.services.demo import (
    DEMO_LEVELS,
    DEMO_SCHEME,
    load_demo,
    seed_demo_membership,
    warehouse_is_empty,
)
from userops.services.setup import initialise
from userops.settings import Settings
from userops.store.db import make_engine, session_scope
from userops.store.models import GrowthEntry, IncentiveRule, RuleApplication
from userops.warehouse.connection import open_warehouse


def test_demo_load_twice(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert warehouse_is_empty(settings)
    first = load_demo(settings, users=300, days=20, seed=3, end=date(2026, 11, 20))
    assert first.users.accepted == 300 and first.events.accepted > 1000
    assert first.events.rejected == first.users.rejected == first.items.rejected == 0
    assert not warehouse_is_empty(settings)
    second = load_demo(settings, users=300, days=20, seed=3, end=date(2026, 11, 20))
    assert second.events.accepted == 0 and second.events.duplicates == first.events.accepted
    assert second.users.accepted == 0 and second.users.duplicates == 300
    with open_warehouse(settings) as wh:
        [(events, linked)] = wh.sql(
            "SELECT count(*), (SELECT count(*) FROM identities) FROM events"
        )
    assert events == first.events.accepted
    assert linked > 0  # pre-signup devices were linked to their users


def test_demo_growth_system_is_seeded_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    initialise(settings)
    load_demo(settings, users=300, days=30, seed=5, end=date(2026, 11, 20))
    applied = seed_demo_membership(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with open_warehouse(settings) as wh:
            [(purchases, invites)] = wh.sql(
                "SELECT count(*) FILTER (event = 'purchase' AND revenue >= 1), "
                "count(*) FILTER (event = 'invite') FROM events WHERE user_id IS NOT NULL"
            )
        with session_scope(engine, read_only=True) as session:
            by_rule = dict(
                session.execute(
                    select(IncentiveRule.code, func.count(RuleApplication.id))
                    .join(RuleApplication, RuleApplication.rule_id == IncentiveRule.id)
                    .group_by(IncentiveRule.code)
                ).all()
            )
            growth = dict(
                session.execute(
                    select(GrowthEntry.user_id, func.sum(GrowthEntry.amount)).group_by(
                        GrowthEntry.user_id
                    )
                ).all()
            )
        # every purchase of a yuan or more by a known user earned once; invites are capped
        assert by_rule["purchase_points"] == purchases > 0
        assert 0 < by_rule.get("invite_bonus", 0) <= invites
        assert applied == sum(by_rule.values())
        # each member sits on the highest level whose threshold their growth value reaches
        thresholds = [(spec.threshold, spec.code) for spec in DEMO_LEVELS]
        for user_id, value in growth.items():
            expected = [code for threshold, code in thresholds if threshold <= value][-1]
            found = levels.member_level(engine, scheme=DEMO_SCHEME, user_id=user_id)
            assert found.as_json()["level"] == expected, (user_id, value)
        # a second run (a restart of `make run`) leaves the operator's set-up alone
        assert seed_demo_membership(settings) == 0
        with session_scope(engine, read_only=True) as session:
            assert session.scalar(select(func.count(RuleApplication.id))) == applied
    finally:
        engine.dispose()
