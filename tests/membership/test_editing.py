"""Changing schemes and rules after they were made (membership.editing), and the member summary
and audited points actions of the console (membership.members), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from userops.domain.membership.incentives import AwardFormula, Caps
from userops.errors import InputError
from userops.membership import benefits, editing, levels, members, points, rules
from userops.membership.levels import LevelSpec
from userops.store.audit import list_audit
from userops.store.db import session_scope
from userops.store.models import Level, LevelBenefit

LADDER = [LevelSpec("silver", "Silver", 0), LevelSpec("gold", "Gold", 1000)]


def _scheme(engine: Engine) -> levels.SchemeInfo:
    return levels.create_scheme(engine, code="club", name="Club", levels=LADDER)


def _audit(engine: Engine, action: str) -> list[dict[str, object]]:
    with session_scope(engine, read_only=True) as session:
        return [e.detail for e in list_audit(session, action=action)]


def _levels(engine: Engine) -> list[tuple[str, str, int, int, bool]]:
    found = levels.get_scheme(engine, code="club").levels
    return [(lv.code, lv.name, lv.rank, lv.threshold, lv.invite_only) for lv in found]


def test_a_scheme_is_changed_in_place(engine: Engine) -> None:
    before = _scheme(engine)
    after = editing.update_scheme(
        engine,
        code="club",
        name="Club 2",
        levels=[
            LevelSpec("bronze", "Bronze", 0),
            LevelSpec("silver", "Silver+", 100),
            LevelSpec("gold", "Gold", 2000),
            LevelSpec("black", "Black", 0, invite_only=True),
        ],
        policy="up_down",
        window_months=12,
        keep_days=30,
        notice_days=7,
        actor="ops",
    )
    assert _levels(engine) == [
        ("bronze", "Bronze", 1, 0, False),
        ("silver", "Silver+", 2, 100, False),
        ("gold", "Gold", 3, 2000, False),
        ("black", "Black", 4, 0, True),
    ]
    kept = {lv.code: lv.id for lv in after.levels}
    assert [kept["silver"], kept["gold"]] == [lv.id for lv in before.levels]
    assert after.name == "Club 2" and after.policy.keep_days == 30
    [detail] = _audit(engine, "levels.update_scheme")
    assert detail["before"]["policy"] == "only_up"  # type: ignore[index]
    assert len(detail["after"]["levels"]) == 4  # type: ignore[index]


def test_a_level_nobody_held_can_be_removed_with_its_grants(engine: Engine) -> None:
    _scheme(engine)
    benefits.create_benefit(engine, code="ship", name="ship", kind="free_shipping")
    benefits.grant_benefit(engine, scheme="club", level="gold", benefit="ship")
    editing.update_scheme(
        engine,
        code="club",
        name="Club",
        levels=[LevelSpec("silver", "Silver", 0)],
        policy="only_up",
        window_months=None,
        keep_days=0,
        notice_days=0,
        actor="ops",
    )
    assert [code for code, *_ in _levels(engine)] == ["silver"]
    with session_scope(engine, read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(LevelBenefit)) == 0


def _earn(engine: Engine, user: str, amount: int) -> None:
    rules.create_rule(
        engine, code=f"r-{user}", name="r", event="buy", growth=AwardFormula("fixed", amount)
    )
    rules.apply_events(
        engine,
        [
            {
                "message_id": f"m-{user}",
                "user_id": user,
                "event": "buy",
                "timestamp": datetime(2026, 1, 2, 4, tzinfo=UTC),
                "properties": {},
            }
        ],
    )


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([LevelSpec("silver", "S", 0)], "level 'gold' cannot be removed: users hold or held it"),
        (
            [LevelSpec("gold", "G", 0), LevelSpec("silver", "S", 10)],
            "existing levels keep their order",
        ),
        ([LevelSpec("silver", "S", 0), LevelSpec("gold", "G", 0)], "needs a threshold above"),
        ([], "at least one level"),
        ([LevelSpec("", "S", 0)], "a code of 1 to 64 characters"),
    ],
)
def test_a_refused_change_leaves_the_scheme_as_it_was(
    engine: Engine, specs: list[LevelSpec], message: str
) -> None:
    _scheme(engine)
    _earn(engine, "u1", 1500)
    levels.evaluate(engine, on=date(2026, 1, 2))
    before = _levels(engine)
    with pytest.raises(InputError, match=message):
        editing.update_scheme(
            engine,
            code="club",
            name="Changed",
            levels=specs,
            policy="up_down",
            window_months=3,
            keep_days=1,
            notice_days=1,
            actor="ops",
        )
    assert _levels(engine) == before
    scheme = levels.get_scheme(engine, code="club")
    assert scheme.name == "Club" and scheme.policy.policy == "only_up"
    assert _audit(engine, "levels.update_scheme") == []
    with session_scope(engine, read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Level)) == 2


def test_unknown_schemes_and_rules_are_named(engine: Engine) -> None:
    with pytest.raises(InputError, match="no level scheme 'nope'"):
        editing.update_scheme(
            engine,
            code="nope",
            name="",
            levels=LADDER,
            policy="only_up",
            window_months=None,
            keep_days=0,
            notice_days=0,
            actor="ops",
        )
    with pytest.raises(InputError, match="no rule with code 'nope'"):
        editing.update_rule(
            engine, code="nope", name="", event="x", points=AwardFormula("fixed", 1), actor="ops"
        )


def test_a_rule_is_changed_and_applies_from_then_on(engine: Engine) -> None:
    _scheme(engine)
    rules.create_rule(
        engine, code="buy", name="Buy", event="purchase", points=AwardFormula("fixed", 5)
    )
    event = {
        "message_id": "e1",
        "user_id": "u1",
        "event": "purchase",
        "timestamp": datetime(2026, 1, 2, 4, tzinfo=UTC),
        "properties": {"category": "books"},
    }
    rules.apply_events(engine, [event])
    changed = editing.update_rule(
        engine,
        code="buy",
        name="Buy books",
        event="purchase",
        filters=["category=books"],
        points=AwardFormula("fixed", 7),
        growth=AwardFormula("fixed", 2),
        points_caps=Caps(day=100),
        multiplier_scheme="club",
        maturity_days=3,
        expiry="days:30",
        actor="ops",
    )
    doc = changed.as_json()
    assert doc["points"]["value"] == 7 and doc["multiplier_scheme"] == "club"
    assert doc["filters"] == [{"property": "category", "op": "eq", "value": "books"}]
    assert doc["points_caps"]["day"] == 100 and doc["expiry"] == "days:30"
    rules.apply_events(engine, [event, {**event, "message_id": "e2"}])  # e1 again: nothing
    earned = [e.amount for e in points.statement(engine, user_id="u1") if e.kind == "earn"]
    assert earned == [7, 5]
    [detail] = _audit(engine, "rules.update")
    assert detail["before"]["points"]["value"] == 5  # type: ignore[index]
    with pytest.raises(InputError, match="neither points nor growth"):
        editing.update_rule(engine, code="buy", name="", event="purchase", actor="ops")
    with pytest.raises(InputError, match="end after it starts"):
        start = datetime(2026, 2, 1, tzinfo=UTC)
        editing.update_rule(
            engine,
            code="buy",
            name="",
            event="purchase",
            points=AwardFormula("fixed", 1),
            starts_at=start,
            ends_at=start,
            actor="ops",
        )
    assert next(r for r in rules.list_rules(engine)).as_json()["points"]["value"] == 7


def test_the_member_summary_and_audited_points_actions(engine: Engine) -> None:
    _scheme(engine)
    now = datetime.now(UTC)
    points.award(
        engine, user_id="u1", amount=40, key="old", at=now - timedelta(days=5), expiry="days:1"
    )
    points.expire(engine, at=now)
    result = members.award(engine, user_id="u1", amount=100, key="k1", actor="ops", reason="gift")
    members.award(engine, user_id="u1", amount=100, key="k1", actor="ops", reason="gift")  # replay
    members.redeem(engine, user_id="u1", amount=30, key="k2", actor="ops", reference="o1")
    members.adjust(engine, user_id="u1", amount=-5, key="k3", actor="ops", reason="typo")
    assert not result.replayed
    summary = members.summary(engine, user_id="u1")
    assert summary.balance.available == 65 and summary.entries == 5
    assert {lot.amount: lot.status(summary.at) for lot in summary.lots} == {
        100: "available",
        40: "expired",
    }
    assert [m.scheme for m in summary.levels] == ["club"] and summary.known
    assert not members.summary(engine, user_id="nobody").known
    with session_scope(engine, read_only=True) as session:
        logged = [(e.action, e.target, e.actor) for e in list_audit(session)]
    assert sorted(a for a in logged if a[0].startswith("points.")) == [
        ("points.adjust", "u1", "ops"),
        ("points.award", "u1", "ops"),
        ("points.redeem", "u1", "ops"),
    ]
