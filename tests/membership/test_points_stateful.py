"""Hypothesis stateful test of the ledger on each backend.

Any sequence of earn, spend, adjust, expire, reverse (of an entry or of an order) and replays,
over a clock that moves forward, keeps for every user: the cached balance == the sum of the
ledger == what is left in the lots, nothing below zero, every lot balanced, and every
idempotency key applied at most once (a replay writes nothing and returns the original).
USEROPS_LEDGER_EXAMPLES=500 runs a deeper search than the default 20 examples.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select

from userops.domain.membership.points import InsufficientPoints, available
from userops.errors import InputError
from userops.membership import points
from userops.membership.ledger import as_domain
from userops.store.db import session_scope
from userops.store.models import PointsAccount, PointsEntry, PointsLot

from .conftest import T0

USERS = ("alice", "bob")
EXPIRIES = ("never", "days:3", "days:10", "month_end:0")


class LedgerMachine(RuleBasedStateMachine):
    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.run = uuid.uuid4().hex[:8]  # fresh users and keys per example, same database
        self.now = T0
        self.keys: dict[str, tuple[str, dict[str, Any], tuple[Any, ...]]] = {}
        self.orders: dict[str, list[str]] = {u: [] for u in USERS}
        self.counter = 0

    def user(self, name: str) -> str:
        return f"{self.run}-{name}"

    def key(self) -> str:
        self.counter += 1
        return f"{self.run}-k{self.counter}"

    def _remember(self, key: str, call: str, kwargs: dict[str, Any], result: Any) -> None:
        self.keys[key] = (call, kwargs, result.entries)

    @rule(
        user=st.sampled_from(USERS),
        amount=st.integers(1, 300),
        maturity=st.sampled_from([0, 0, 2]),
        expiry=st.sampled_from(EXPIRIES),
        order=st.booleans(),
    )
    def earn(self, user: str, amount: int, maturity: int, expiry: str, order: bool) -> None:
        key = self.key()
        reference = f"{self.run}-o{self.counter}" if order else None
        kwargs = {
            "user_id": self.user(user),
            "amount": amount,
            "key": key,
            "at": self.now,
            "maturity_days": maturity,
            "expiry": expiry,
            "reference": reference,
        }
        self._remember(key, "award", kwargs, points.award(self.engine, **kwargs))
        if reference:
            self.orders[user].append(reference)

    @rule(user=st.sampled_from(USERS), amount=st.integers(1, 400), order=st.booleans())
    def spend(self, user: str, amount: int, order: bool) -> None:
        key = self.key()
        reference = None
        if order and self.orders[user]:
            reference = self.orders[user][-1]  # paid partly with points
        kwargs = {
            "user_id": self.user(user),
            "amount": amount,
            "key": key,
            "at": self.now,
            "reference": reference,
        }
        before = points.balance(self.engine, user_id=self.user(user), at=self.now).available
        try:
            result = points.redeem(self.engine, **kwargs)
        except InsufficientPoints:
            assert amount > before
            return
        assert amount <= before
        self._remember(key, "redeem", kwargs, result)

    @rule(user=st.sampled_from(USERS), amount=st.integers(-100, 100).filter(bool))
    def adjust(self, user: str, amount: int) -> None:
        key = self.key()
        kwargs = {
            "user_id": self.user(user),
            "amount": amount,
            "key": key,
            "at": self.now,
            "reason": "test",
            "actor": "hypothesis",
        }
        try:
            self._remember(key, "adjust", kwargs, points.adjust(self.engine, **kwargs))
        except InsufficientPoints:
            assert amount < 0

    @rule(days=st.integers(0, 6), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    @rule()
    def expire(self) -> None:
        points.expire(self.engine, at=self.now)

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data(), partial=st.booleans())
    def reverse_entry(self, data: st.DataObject, partial: bool) -> None:
        target = data.draw(st.sampled_from(sorted(self.keys)))
        _call, kwargs, _ = self.keys[target]
        amount = data.draw(st.integers(1, 50)) if partial else None
        key = self.key()
        args = {
            "user_id": kwargs["user_id"],
            "key": key,
            "entry_key": target,
            "amount": amount,
            "at": self.now,
        }
        try:
            result = points.reverse(self.engine, **args)
        except InputError as exc:  # reversed already, too much asked, or an expire/reverse
            assert "reverse" in str(exc) or "restore" in str(exc), exc
            return
        self._remember(key, "reverse", args, result)

    @precondition(lambda self: any(self.orders.values()))
    @rule(data=st.data())
    def reverse_order(self, data: st.DataObject) -> None:
        user = data.draw(st.sampled_from([u for u in USERS if self.orders[u]]))
        reference = data.draw(st.sampled_from(self.orders[user]))
        key = self.key()
        args = {"user_id": self.user(user), "key": key, "reference": reference, "at": self.now}
        try:
            result = points.reverse(self.engine, **args)
        except InputError as exc:
            assert "already reversed" in str(exc), exc
            return
        self._remember(key, "reverse", args, result)

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.keys)))
        call, kwargs, entries = self.keys[key]
        before = self._count()
        result = getattr(points, call)(self.engine, **{**kwargs, "at": self.now})
        assert result.replayed and result.entries == entries
        assert self._count() == before

    def _count(self) -> int:
        with session_scope(self.engine, read_only=True) as session:
            return int(session.scalar(select(func.count()).select_from(PointsEntry)) or 0)

    @invariant()
    def balances_are_the_sum_of_their_ledger_and_keys_are_unique(self) -> None:
        users = [self.user(u) for u in USERS]
        with session_scope(self.engine, read_only=True) as session:
            cached = {
                user: int(total)
                for user, total in session.execute(
                    select(PointsAccount.user_id, PointsAccount.balance).where(
                        PointsAccount.user_id.in_(users)
                    )
                )
            }
            ledger = {
                user: int(total)
                for user, total in session.execute(
                    select(PointsEntry.user_id, func.sum(PointsEntry.amount))
                    .where(PointsEntry.user_id.in_(users))
                    .group_by(PointsEntry.user_id)
                )
            }
            lots = list(session.scalars(select(PointsLot).where(PointsLot.user_id.in_(users))))
            duplicates = session.execute(
                select(PointsEntry.idempotency_key)
                .where(PointsEntry.user_id.in_(users))
                .group_by(PointsEntry.idempotency_key)
                .having(func.count() > 1)
            ).all()
        assert duplicates == []
        for user in users:
            mine = [lot for lot in lots if lot.user_id == user]
            left = sum(lot.remaining for lot in mine)
            assert cached.get(user, 0) == ledger.get(user, 0) == left >= 0
            domain = [as_domain(lot) for lot in mine]
            assert all(lot.consistent() for lot in domain)
            assert available(domain, self.now) >= 0


@pytest.mark.slow
def test_ledger_invariants_under_any_sequence(engine: Engine) -> None:
    class Machine(LedgerMachine):
        pass

    Machine.engine = engine
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=int(os.environ.get("USEROPS_LEDGER_EXAMPLES", "20")),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
