"""Points rules: expiry dates, maturity, spending order, reversal and restore plans."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from userops.domain.membership import points as p
from userops.errors import InputError

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def lot(
    id_: int,
    remaining: int,
    *,
    amount: int | None = None,
    days: int = 0,
    expires: datetime | None = None,
    **counters: int,
) -> p.Lot:
    amount = (
        remaining + sum(counters.get(k, 0) for k in ("spent", "expired", "reversed"))
        if amount is None
        else amount
    )
    return p.Lot(id_, amount, remaining, T0 + timedelta(days=days), expires, **counters)


@pytest.mark.parametrize(
    ("rule", "earned", "expires"),
    [
        ("never", local(2026, 1, 5, 10), None),
        ("days:30", local(2026, 1, 5, 10), local(2026, 2, 5)),  # usable through Feb 4
        ("days:1", local(2026, 1, 5, 23, 59), local(2026, 1, 7)),
        ("days:30", local(2026, 1, 5, 0, 0), local(2026, 2, 5)),  # local midnight is day 5
        ("month_end:0", local(2026, 1, 31, 23), local(2026, 2, 1)),
        ("month_end:1", local(2026, 1, 15), local(2026, 3, 1)),
        ("month_end:1", local(2026, 12, 15), local(2027, 2, 1)),
        ("year_end:0", local(2026, 6, 1), local(2027, 1, 1)),
        ("year_end:1", local(2026, 1, 1), local(2028, 1, 1)),  # end of next calendar year
        ("year_end:1", local(2026, 12, 31, 23, 59), local(2028, 1, 1)),
    ],
)
def test_expiry_rules(rule: str, earned: datetime, expires: datetime | None) -> None:
    found = p.ExpiryRule.parse(rule).expires_at(earned, SH)
    assert found == (None if expires is None else expires.astimezone(UTC))


def test_expiry_counts_local_days_not_utc_days() -> None:
    # 2026-01-05 23:30 in Shanghai is still Jan 5 there but already... 15:30 UTC on Jan 5;
    # 2026-01-06 01:00 Shanghai is Jan 5 in UTC: it must count as Jan 6.
    early = local(2026, 1, 6, 1)
    assert p.ExpiryRule.parse("days:1").expires_at(early, SH) == local(2026, 1, 8)


@pytest.mark.parametrize("text", ["", "days", "days:0", "weeks:2", "never:3", "days:-1", "year"])
def test_bad_expiry_rules_are_refused(text: str) -> None:
    with pytest.raises(InputError):
        p.ExpiryRule.parse(text)


@pytest.mark.parametrize(
    ("text", "longest"),
    [
        ("days:36601", "days:36600"),
        ("month_end:1201", "month_end:1200"),
        ("year_end:101", "year_end:100"),
    ],
)
def test_expiry_is_at_most_a_hundred_years(text: str, longest: str) -> None:
    # year_end:99999 overflowed the calendar (a 500 from the API); a century is the limit.
    with pytest.raises(InputError, match=f"expiry {text}: the number must be at most"):
        p.ExpiryRule.parse(text)
    latest = p.ExpiryRule.parse(longest).expires_at(local(2200, 12, 31, 23) + timedelta(3650), SH)
    assert latest is not None and latest.year < 2400


@pytest.mark.parametrize("days", [-1, p.MAX_MATURITY_DAYS + 1, 3_000_000, 10**9, True])
def test_maturity_is_0_to_3650_days(days: object) -> None:
    # 3,000,000 and 10^9 days overflowed timedelta and date (a 500 from the API).
    with pytest.raises(InputError, match="maturity must be 0 to 3650 days"):
        p.lot_times(local(2026, 1, 1), maturity_days=days, expiry=p.ExpiryRule(), tz=SH)  # type: ignore[arg-type]


def test_lot_times_refuse_an_earning_time_out_of_range() -> None:
    with pytest.raises(InputError, match=r"earned_at 9999-12-31T00:00:00\+00:00 is out of range"):
        p.lot_times(
            datetime(9999, 12, 31, tzinfo=UTC), maturity_days=1, expiry=p.ExpiryRule(), tz=SH
        )


@pytest.mark.parametrize("text", ["never", "days:365", "month_end:0", "year_end:1"])
def test_expiry_rule_text_round_trips(text: str) -> None:
    assert str(p.ExpiryRule.parse(text)) == text


def test_maturity_delays_usability_and_starts_the_expiry_clock() -> None:
    earned = local(2026, 1, 28, 20)
    matures, expires = p.lot_times(earned, maturity_days=7, expiry=p.ExpiryRule("days", 10), tz=SH)
    assert matures == earned + timedelta(days=7)
    assert expires == local(2026, 2, 15)  # usable from Feb 4, through Feb 14
    pending = p.Lot(1, 50, 50, matures, expires)
    assert p.pending([pending], matures - timedelta(seconds=1)) == 50
    assert p.available([pending], matures - timedelta(seconds=1)) == 0
    assert p.available([pending], matures) == 50
    assert p.available([pending], expires - timedelta(microseconds=1)) == 50
    assert p.available([pending], expires) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [0, -5, 10**13, True, 1.5])
def test_amounts_are_positive_whole_points(amount: object) -> None:
    with pytest.raises(InputError):
        p.check_amount(amount)  # type: ignore[arg-type]


def test_spending_takes_the_soonest_expiring_lots_first() -> None:
    at = T0 + timedelta(days=1)
    lots = [
        lot(1, 30, expires=T0 + timedelta(days=90)),
        lot(2, 40),  # never expires: last
        lot(3, 20, expires=T0 + timedelta(days=10)),
        lot(4, 25, expires=T0 + timedelta(days=10)),  # same expiry: by earning order
        lot(5, 100, days=5),  # still pending: untouchable
    ]
    assert p.take_oldest_first(lots, 60, at) == (p.Take(3, 20), p.Take(4, 25), p.Take(1, 15))
    assert p.take_oldest_first(lots, 115, at)[-1] == p.Take(2, 40)
    with pytest.raises(p.InsufficientPoints) as refused:
        p.take_oldest_first(lots, 116, at, user_id="u1")
    assert (refused.value.available, refused.value.requested) == (115, 116)


def test_expiry_takes_everything_left_in_due_lots() -> None:
    lots = [lot(1, 30, expires=T0), lot(2, 0, spent=10, expires=T0), lot(3, 5)]
    assert p.expiring(lots, T0) == (p.Take(1, 30),)
    assert p.expiring(lots, T0 - timedelta(seconds=1)) == ()


def test_reversing_an_unspent_earn_takes_it_from_its_lot() -> None:
    earned = lot(1, 100)
    plan = p.plan_earn_reversal(earned, [earned, lot(2, 50)], T0)
    assert (plan.from_lot, plan.expired, plan.clawed, plan.written_off) == (100, 0, 0, 0)
    assert plan.ledger_amount == -100
    assert p.after_earn_reversal(earned, plan).consistent()


def test_reversing_a_pending_earn_is_a_pending_reversal() -> None:
    earned = lot(1, 100, days=7)
    plan = p.plan_earn_reversal(earned, [earned], T0)
    assert plan.pending and plan.ledger_amount == -100


def test_reversal_claws_back_spent_points_then_writes_off_the_rest() -> None:
    # Earned 100, spent 80 of it; the user holds 30 in another lot.
    earned = lot(1, 20, spent=80)
    other = lot(2, 30, expires=T0 + timedelta(days=3))
    plan = p.plan_earn_reversal(earned, [earned, other], T0)
    assert (plan.from_lot, plan.clawed, plan.written_off) == (20, 30, 50)
    assert plan.clawback == (p.Take(2, 30),)
    assert plan.ledger_amount == -50
    after = p.after_earn_reversal(earned, plan)
    assert after.owed == 50 and after.reversible == 0 and after.consistent()


def test_expired_points_count_towards_a_reversal_without_a_claw_back() -> None:
    earned = lot(1, 0, spent=40, expired=60)
    plan = p.plan_earn_reversal(earned, [earned, lot(2, 500)], T0)
    assert (plan.from_lot, plan.expired, plan.clawed, plan.written_off) == (0, 60, 40, 0)


def test_partial_reversals_add_up_to_the_earn_and_no_more() -> None:
    earned = lot(1, 100)
    first = p.plan_earn_reversal(earned, [earned], T0, amount=30)
    earned = p.after_earn_reversal(earned, first)
    second = p.plan_earn_reversal(earned, [earned], T0)
    assert (first.ledger_amount, second.ledger_amount) == (-30, -70)
    earned = p.after_earn_reversal(earned, second)
    with pytest.raises(InputError, match="already fully reversed"):
        p.plan_earn_reversal(earned, [earned], T0)
    with pytest.raises(InputError, match="only 100 points are left"):
        p.plan_earn_reversal(lot(9, 100), [], T0, amount=101)


def test_restores_go_back_to_the_longest_lived_lots_first_and_repay_debts() -> None:
    short = lot(1, 0, spent=10, expires=T0 + timedelta(days=5))
    never = lot(2, 0, spent=20)
    owing = lot(3, 0, amount=30, spent=30, owed=12, expires=T0 + timedelta(days=50))
    held = [p.Held(short, 10), p.Held(never, 20), p.Held(owing, 30)]
    plan = p.plan_restore(held, amount=55)
    assert plan == (p.Restore(2, 20, 0), p.Restore(3, 30, 12), p.Restore(1, 5, 0))
    assert sum(r.usable for r in plan) == 43
    assert p.after_restore(owing, plan[1]) == replace(
        owing, remaining=18, spent=0, reversed=12, owed=0
    )
    assert p.after_restore(owing, plan[1]).consistent()
    with pytest.raises(InputError, match="only 60 points are left to restore"):
        p.plan_restore(held, amount=61)


# --- properties ------------------------------------------------------------------------------

lot_strategy = st.builds(
    lambda i, remaining, spent, expires, pending: p.Lot(
        i,
        remaining + spent,
        remaining,
        T0 + timedelta(days=3 if pending else -3),
        None if expires is None else T0 + timedelta(days=expires),
        spent=spent,
    ),
    st.integers(1, 10**6),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.none() | st.integers(-5, 30),
    st.booleans(),
)


@given(st.lists(lot_strategy, max_size=8, unique_by=lambda lot_: lot_.id), st.integers(1, 5000))
def test_taking_never_exceeds_lots_and_takes_exactly_the_amount(
    lots: list[p.Lot], amount: int
) -> None:
    have = p.available(lots, T0)
    if amount > have:
        with pytest.raises(p.InsufficientPoints):
            p.take_oldest_first(lots, amount, T0)
        return
    takes = p.take_oldest_first(lots, amount, T0)
    assert sum(t.amount for t in takes) == amount
    by_id = {lot_.id: lot_ for lot_ in lots}
    assert all(0 < t.amount <= by_id[t.lot_id].remaining for t in takes)
    assert all(by_id[t.lot_id].is_available(T0) for t in takes)
    # Oldest first: every lot but the last one used is used up.
    assert all(t.amount == by_id[t.lot_id].remaining for t in takes[:-1])
    after = p.apply_takes(lots, takes, "spent")
    assert all(lot_.consistent() for lot_ in after)


@given(
    lot_strategy,
    st.lists(lot_strategy, max_size=5, unique_by=lambda lot_: lot_.id),
    st.integers(0, 3000),
)
def test_a_reversal_is_always_fully_covered(
    earned: p.Lot, others: list[p.Lot], extra_expired: int
) -> None:
    earned = replace(earned, amount=earned.amount + extra_expired, expired=extra_expired)
    others = [o for o in others if o.id != earned.id]
    if earned.reversible == 0:
        return
    plan = p.plan_earn_reversal(earned, others, T0)
    assert plan.from_lot + plan.expired + plan.clawed + plan.written_off == earned.reversible
    assert plan.clawed <= p.available(others, T0)
    assert plan.written_off == 0 or plan.clawed == p.available(others, T0)
    assert p.after_earn_reversal(earned, plan).consistent()


def test_lot_local_day_of_an_instant() -> None:
    assert p.local_day(datetime(2026, 1, 5, 16, 30, tzinfo=UTC), SH) == date(2026, 1, 6)
