"""Retention split by an early action, against a plain reference on the generated world, and
against retention itself: the two groups add up to the unsplit cohorts."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.analytics import reference as ref
from tests.analytics.conftest import Loaded
from tests.analytics.data import World
from userops.analytics.early_action import DID, DID_NOT, early_action_retention
from userops.analytics.filters import parse_where
from userops.analytics.periods import Period
from userops.analytics.retention import CohortBasis, retention
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

COMBOS = [
    # case, events, within days, period, periods, start, end, basis, unbounded
    (
        ref.CASES[0],
        ("purchase",),
        7,
        "week",
        4,
        date(2026, 10, 1),
        date(2026, 11, 25),
        "signup",
        True,
    ),
    (
        ref.CASES[0],
        ("view_item", "purchase"),
        3,
        "day",
        7,
        date(2026, 10, 28),
        date(2026, 11, 8),
        "first_activity",
        False,
    ),
    (
        ref.CASES[2],
        ("purchase",),
        14,
        "week",
        3,
        date(2026, 10, 7),
        date(2026, 11, 20),
        "signup",
        False,
    ),
    (
        ref.CASES[1],
        ("purchase",),
        7,
        "month",
        2,
        date(2026, 9, 20),
        date(2026, 11, 29),
        "first_activity",
        True,
    ),
]
IDS = [f"{c[0].name}-{'+'.join(c[1])}-{c[2]}d-{c[3]}-{c[7]}" for c in COMBOS]


def reference(
    w: World,
    case: ref.Case,
    events: tuple[str, ...],
    within: int,
    period: str,
    periods: int,
    start: date,
    end: date,
    basis: str,
    unbounded: bool,
) -> dict[tuple[str, str], tuple[int, list[int]]]:
    """(group, cohort) -> (size, retained), written out from the module's docstring."""
    first, last = ref.widened(start, end, period)
    seen_rows = ref.rows(w, case, until=last)
    starts: dict[str, tuple[date, datetime]] = {}
    if basis == "first_activity":
        for r in seen_rows:
            if r["uid"] not in starts or r["ts"] < starts[r["uid"]][1]:
                starts[r["uid"]] = (r["day"], r["ts"])
        starts = {u: s for u, s in starts.items() if s[0] >= first and ref.passes(w, case, u)}
    else:
        for uid, traits in w.users.items():
            day = w.signup_day(uid)
            if day is not None and first <= day <= last and ref.passes(w, case, uid):
                starts[uid] = (day, traits["created_at"])
    actions: dict[str, list[datetime]] = defaultdict(list)
    for r in seen_rows:
        if r["event"] in events:
            actions[r["uid"]].append(r["ts"])
    active: dict[str, set[date]] = defaultdict(set)
    for r in seen_rows:
        if r["day"] >= first:
            active[r["uid"]].add(r["day"])
    out: dict[tuple[str, str], tuple[int, list[int]]] = {}
    members: dict[tuple[str, date], list[str]] = defaultdict(list)
    for uid, (day, at) in starts.items():
        did = any(ts < at + timedelta(days=within) for ts in actions[uid])
        members[(DID if did else DID_NOT, ref.start_of(day, period))].append(uid)
    for group in (DID, DID_NOT):
        for c in ref.starts(first, last, period):
            users = members.get((group, c), [])
            reach = min(periods, ref.periods_between(c, end, period))
            retained = []
            for k in range(reach + 1):

                def back(uid: str, k: int = k, c: date = c) -> bool:
                    ks = {ref.periods_between(c, d, period) for d in active[uid]}
                    return any(x >= k for x in ks) if unbounded else k in ks

                retained.append(sum(1 for u in users if back(u)))
            out[(group, c.isoformat())] = (len(users), retained)
    return out


@pytest.mark.parametrize(
    ("case", "events", "within", "period", "periods", "start", "end", "basis", "unbounded"),
    COMBOS,
    ids=IDS,
)
def test_early_action_matches_reference_and_adds_up(
    loaded: Loaded,
    case: ref.Case,
    events: tuple[str, ...],
    within: int,
    period: Period,
    periods: int,
    start: date,
    end: date,
    basis: CohortBasis,
    unbounded: bool,
) -> None:
    filters = parse_where(case.where)
    got = early_action_retention(
        loaded.wh,
        events=events,
        within_days=within,
        period=period,
        periods=periods,
        start=start,
        end=end,
        basis=basis,
        unbounded=unbounded,
        filters=filters,
    )
    split = got.retention
    assert split.by == "early_action" and got.events == events
    cells = {(c.group, c.cohort.isoformat()): (c.size, list(c.retained)) for c in split.cohorts}
    want = reference(
        loaded.world, case, events, within, period, periods, start, end, basis, unbounded
    )
    assert cells == want
    sizes = {g: sum(c.size for c in split.cohorts if c.group == g) for g in (DID, DID_NOT)}
    assert sizes[DID] > 0 and sizes[DID_NOT] > 0  # both groups are exercised
    assert got.share() == round(sizes[DID] / (sizes[DID] + sizes[DID_NOT]), 4)

    whole = retention(
        loaded.wh,
        period=period,
        periods=periods,
        start=start,
        end=end,
        basis=basis,
        unbounded=unbounded,
        filters=filters,
    )
    for cohort in whole.cohorts:
        parts = [c for c in split.cohorts if c.cohort == cohort.cohort]
        assert sum(p.size for p in parts) == cohort.size
        assert [sum(p.retained[k] for p in parts) for k in range(len(cohort.retained))] == list(
            cohort.retained
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"events": []}, "at least one event"),
        ({"events": ["purchase", " "]}, "none empty"),
        ({"events": ["purchase"], "within_days": 0}, "within 0 days"),
        ({"events": ["purchase"], "within_days": 400}, "within 400 days"),
        ({"events": ["purchase"], "periods": -1}, "periods -1"),
        ({"events": [f"e{i}" for i in range(21)]}, "at most 20"),
    ],
)
def test_bad_input_is_named(loaded: Loaded, options: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "within_days": 7,
        "period": "week",
        "periods": 4,
        "start": date(2026, 10, 1),
        "end": date(2026, 11, 1),
        **options,
    }
    with pytest.raises(InputError, match=message):
        early_action_retention(loaded.wh, **args)


def test_an_empty_warehouse_gives_empty_groups(empty_wh: Warehouse) -> None:
    got = early_action_retention(
        empty_wh,
        events=["purchase"],
        period="week",
        periods=2,
        start=date(2026, 10, 1),
        end=date(2026, 10, 20),
    )
    assert {c.group for c in got.retention.cohorts} == {DID, DID_NOT}
    assert all(c.size == 0 for c in got.retention.cohorts)
    assert got.share() is None
