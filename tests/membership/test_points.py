"""The points service on SQLite and PostgreSQL: writes, replays, maturity, expiry, reversal."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from userops.domain.membership.points import InsufficientPoints
from userops.errors import InputError
from userops.membership import points
from userops.membership.ledger import KeyConflict
from userops.store.db import session_scope
from userops.store.models import AppendOnlyError, PointsEntry

from .conftest import T0, assert_consistent

DAY = timedelta(days=1)
SH = ZoneInfo("Asia/Shanghai")


def entries(engine: Engine, user_id: str) -> list[tuple[str, int, str]]:
    with session_scope(engine, read_only=True) as session:
        rows = session.execute(
            select(PointsEntry.kind, PointsEntry.amount, PointsEntry.idempotency_key)
            .where(PointsEntry.user_id == user_id)
            .order_by(PointsEntry.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_award_redeem_and_balance(engine: Engine) -> None:
    first = points.award(engine, user_id="u1", amount=100, key="k1", at=T0)
    assert not first.replayed and first.balance.available == 100
    spent = points.redeem(
        engine, user_id="u1", amount=30, key="k2", at=T0 + DAY, reference="order-9"
    )
    assert [e.amount for e in spent.entries] == [-30]
    assert points.balance(engine, user_id="u1", at=T0 + DAY).available == 70
    assert points.balance(engine, user_id="nobody").available == 0
    assert assert_consistent(engine, "u1") == 70


def test_a_replayed_key_returns_the_original_and_writes_nothing(engine: Engine) -> None:
    first = points.award(engine, user_id="u1", amount=100, key="k1", at=T0)
    again = points.award(engine, user_id="u1", amount=100, key="k1", at=T0 + DAY)
    assert again.replayed and again.entries == first.entries
    spend = points.redeem(engine, user_id="u1", amount=40, key="s1", at=T0)
    assert points.redeem(engine, user_id="u1", amount=40, key="s1", at=T0).entries == spend.entries
    assert entries(engine, "u1") == [("earn", 100, "k1"), ("spend", -40, "s1")]


@pytest.mark.parametrize(
    ("user", "amount", "call"),
    [("u2", 100, "award"), ("u1", 99, "award"), ("u1", 100, "redeem")],
)
def test_a_key_reused_for_another_request_is_refused(
    engine: Engine, user: str, amount: int, call: str
) -> None:
    points.award(engine, user_id="u1", amount=100, key="k1", at=T0)
    points.award(engine, user_id="u2", amount=500, key="k0", at=T0)
    with pytest.raises(
        KeyConflict, match=r"^idempotency key 'k1' was already used \(earn, 100 points, user 'u1'\)"
    ):
        getattr(points, call)(engine, user_id=user, amount=amount, key="k1", at=T0)
    assert assert_consistent(engine, "u2") == 500


def test_overspending_is_refused_and_writes_nothing(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=50, key="k1", at=T0)
    with pytest.raises(InsufficientPoints, match="50 points available, 51 requested"):
        points.redeem(engine, user_id="u1", amount=51, key="k2", at=T0)
    assert entries(engine, "u1") == [("earn", 50, "k1")]
    # The refused key is free: nothing was stored under it.
    assert points.redeem(engine, user_id="u1", amount=50, key="k2", at=T0).balance.available == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": 0}, "between 1"),
        ({"amount": -5}, "between 1"),
        ({"key": "  "}, "key is"),
        ({"key": "x" * 201}, "longer than"),
        ({"user_id": ""}, "user id"),
        ({"expiry": "weeks:3"}, "expiry"),
    ],
)
def test_bad_award_inputs(engine: Engine, kwargs: dict[str, object], message: str) -> None:
    call = {"user_id": "u1", "amount": 10, "key": "k", **kwargs}
    with pytest.raises(InputError, match=message):
        points.award(engine, **call)  # type: ignore[arg-type]


def test_pending_points_mature_after_the_return_window(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=80, key="k1", at=T0, maturity_days=7)
    before = points.balance(engine, user_id="u1", at=T0 + 7 * DAY - timedelta(seconds=1))
    assert (before.available, before.pending, before.total) == (0, 80, 80)
    with pytest.raises(InsufficientPoints):
        points.redeem(engine, user_id="u1", amount=1, key="k2", at=T0 + DAY)
    after = points.balance(engine, user_id="u1", at=T0 + 7 * DAY)
    assert (after.available, after.pending) == (80, 0)


def test_lots_are_spent_oldest_first_and_expire_by_lot(engine: Engine) -> None:
    # 10:00 2 March Shanghai, days:30 -> usable through 1 April, gone at 00:00 2 April local.
    points.award(engine, user_id="u1", amount=100, key="old", at=T0, expiry="days:30")
    points.award(engine, user_id="u1", amount=100, key="new", at=T0 + 5 * DAY, expiry="days:30")
    points.redeem(engine, user_id="u1", amount=60, key="s1", at=T0 + 6 * DAY)
    first_gone = T0 + 30 * DAY + timedelta(hours=14)  # 2 April 00:00 local
    before = points.balance(engine, user_id="u1", at=first_gone - timedelta(microseconds=1))
    assert before.available == 140
    assert before.expiring[0] == (first_gone, 40)
    run = points.expire(engine, at=first_gone)
    assert (run.users, run.points) == (1, 40)
    assert points.expire(engine, at=first_gone).points == 0  # written once
    assert points.balance(engine, user_id="u1", at=first_gone).available == 100
    assert entries(engine, "u1")[-1][:2] == ("expire", -40)
    assert assert_consistent(engine, "u1") == 100


def test_a_spend_expires_what_is_due_before_taking(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=100, key="k1", at=T0, expiry="days:1")
    points.award(engine, user_id="u1", amount=30, key="k2", at=T0)
    with pytest.raises(InsufficientPoints):
        points.redeem(engine, user_id="u1", amount=31, key="s", at=T0 + 3 * DAY)
    done = points.redeem(engine, user_id="u1", amount=30, key="s", at=T0 + 3 * DAY)
    assert done.balance.total == 0
    assert [k for k, *_ in entries(engine, "u1")] == ["earn", "earn", "expire", "spend"]


def test_reversing_an_order_restores_its_spend_then_claws_back_its_earn(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=100, key="signup", at=T0)
    # Order o1 paid 40 with points and earned 120 (pending 7 days, then spent 150 elsewhere).
    points.redeem(engine, user_id="u1", amount=40, key="o1-pay", at=T0, reference="o1")
    points.award(
        engine, user_id="u1", amount=120, key="o1-earn", at=T0, reference="o1", maturity_days=7
    )
    points.redeem(engine, user_id="u1", amount=150, key="o2-pay", at=T0 + 8 * DAY)
    assert points.balance(engine, user_id="u1", at=T0 + 8 * DAY).available == 30
    done = points.reverse(engine, user_id="u1", key="o1-return", reference="o1", at=T0 + 9 * DAY)
    restore, take_back = done.entries
    assert (restore.kind, restore.amount, restore.reverses_id) == ("reverse", 40, 2)
    # The 150 took signup's last 60, then 90 of the earn's lot (30 left). The 40 paid for o1
    # went back to signup; the earn's 120: 30 from its lot, 40 clawed back from signup, and
    # the other 50 (spent) written off.
    assert take_back.detail == {
        "requested": 120,
        "from_lot": 30,
        "expired": 0,
        "clawed_back": 40,
        "written_off": 50,
    }
    assert done.balance.available == 0
    assert assert_consistent(engine, "u1") == 0
    with pytest.raises(InputError, match="already reversed"):
        points.reverse(engine, user_id="u1", key="again", reference="o1", at=T0 + 9 * DAY)
    # The same request replayed is fine.
    assert points.reverse(engine, user_id="u1", key="o1-return", reference="o1").replayed


def test_reversing_a_pending_earn_inside_the_return_window(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=120, key="e", at=T0, maturity_days=7)
    done = points.reverse(engine, user_id="u1", key="r", entry_key="e", at=T0 + DAY)
    assert done.entries[0].matures_at == T0 + 7 * DAY
    assert (done.balance.available, done.balance.pending, done.balance.total) == (0, 0, 0)


def test_partial_reversal_by_entry_key(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=100, key="e", at=T0)
    points.reverse(engine, user_id="u1", key="r1", entry_key="e", amount=30, at=T0)
    points.reverse(engine, user_id="u1", key="r2", entry_key="e", amount=70, at=T0)
    with pytest.raises(InputError, match="fully reversed"):
        points.reverse(engine, user_id="u1", key="r3", entry_key="e", amount=1, at=T0)
    with pytest.raises(InputError, match="no entry with key"):
        points.reverse(engine, user_id="u2", key="r4", entry_key="e", at=T0)
    assert assert_consistent(engine, "u1") == 0


def test_a_restored_spend_repays_the_written_off_points_first(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=100, key="e", at=T0)
    points.redeem(engine, user_id="u1", amount=100, key="s", at=T0)
    gone = points.reverse(engine, user_id="u1", key="r1", entry_key="e", at=T0)
    assert gone.entries[0].detail["written_off"] == 100 and gone.balance.total == 0
    back = points.reverse(engine, user_id="u1", key="r2", entry_key="s", at=T0)
    assert back.entries[0].amount == 0 and back.entries[0].detail["repaid"] == 100
    assert assert_consistent(engine, "u1") == 0


def test_adjustments(engine: Engine) -> None:
    points.adjust(engine, user_id="u1", amount=25, key="a1", reason="goodwill", actor="alice")
    points.adjust(engine, user_id="u1", amount=-5, key="a2", reason="typo", actor="alice")
    with pytest.raises(InsufficientPoints):
        points.adjust(engine, user_id="u1", amount=-21, key="a3", reason="x", actor="alice")
    with pytest.raises(InputError, match="reason"):
        points.adjust(engine, user_id="u1", amount=5, key="a4", reason=" ", actor="alice")
    points.reverse(engine, user_id="u1", key="a2-undo", entry_key="a2")
    assert assert_consistent(engine, "u1") == 25
    assert [e.actor for e in points.statement(engine, user_id="u1")][-1] == "alice"


def test_expire_and_reverse_entries_cannot_be_reversed(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=10, key="e", at=T0, expiry="days:1")
    points.expire(engine, at=T0 + 5 * DAY)
    with pytest.raises(InputError, match="only earn, spend and adjust"):
        points.reverse(engine, user_id="u1", key="r", entry_key="expire/1/10")


def test_ledger_rows_cannot_be_changed_through_the_orm(engine: Engine) -> None:
    points.award(engine, user_id="u1", amount=10, key="e", at=T0)
    with pytest.raises(AppendOnlyError), session_scope(engine) as session:
        entry = session.scalars(select(PointsEntry)).one()
        entry.amount = 1_000_000
        session.flush()
    assert assert_consistent(engine, "u1") == 10


def test_campaign_award_equals_one_award_per_user(engine: Engine) -> None:
    users = [f"u{i:03d}" for i in range(40)]
    points.award(engine, user_id="u001", amount=5, key="before", at=T0)
    points.award(
        engine,
        user_id="u007",
        amount=30,
        key="spring:u007",
        at=T0,
        expiry="year_end:1",
        reference="spring",
    )  # an earlier partial run of the campaign
    done = points.award_campaign(
        engine,
        key="spring",
        user_ids=[*users, "u003"],
        amount=30,
        at=T0,
        expiry="year_end:1",
        reference="spring",
    )
    assert (done.awarded, done.already, done.points) == (39, 1, 1170)
    assert (
        points.award_campaign(engine, key="spring", user_ids=users, amount=30, at=T0).awarded == 0
    )
    for user in users:
        balance = points.balance(engine, user_id=user, at=T0)
        assert balance.available == 30 + (5 if user == "u001" else 0)
        assert balance.expiring[-1][0] == datetime(2028, 1, 1, tzinfo=SH)  # end of next year
        assert_consistent(engine, user)
    # Each user's share behaves like any earn: it can be reversed by its key.
    points.reverse(engine, user_id="u010", key="undo", entry_key="spring:u010", at=T0)
    assert points.balance(engine, user_id="u010", at=T0).available == 0
    with session_scope(engine, read_only=True) as session:
        keys = session.scalar(select(func.count(PointsEntry.id.distinct())))
    assert keys == 1 + 40 + 1


def test_campaign_award_with_maturity_and_past_expiry(engine: Engine) -> None:
    pending = points.award_campaign(
        engine, key="c1", user_ids=["a", "b"], amount=10, at=T0, maturity_days=3
    )
    assert pending.awarded == 2
    assert points.balance(engine, user_id="a", at=T0 + DAY).pending == 10
    gone = points.award_campaign(
        engine, key="c2", user_ids=["a"], amount=10, at=T0 - 400 * DAY, expiry="days:30"
    )
    assert gone.awarded == 1
    assert points.balance(engine, user_id="a", at=T0 + 3 * DAY).available == 10  # old lot gone
    assert points.expire(engine, at=T0).points == 10
    assert assert_consistent(engine, "a") == 10
