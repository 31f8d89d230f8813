"""The event index against the portable expressions it stands in for, on the same warehouses.

Every metric the index computes (active users, stickiness, retention, `ordered` and `strict`
funnels) must give exactly what its Ibis expression gives, in both time zones of the analytics
world (Los Angeles changes its offset inside the data) and on the funnel data set with the
hard cases; the reference tests of each metric then judge both. The index must also notice
every change of the data it was built from: new events, and identities linked anew.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics import reference as ref
from tests.analytics.conftest import Loaded
from tests.conformance.datasets import END, START, hard_events, load_duckdb
from userops.analytics import activity, eventindex, funnels, indexed
from userops.analytics import retention as retention_module
from userops.analytics.activity import active_users, stickiness
from userops.analytics.filters import Filters, PropertyFilter, parse_by, parse_where
from userops.analytics.funnels import FunnelSpec, FunnelStep, funnel
from userops.analytics.retention import retention
from userops.settings import Settings
from userops.warehouse.connection import Warehouse, init_warehouse, open_warehouse


def both(run: Callable[[], Any]) -> tuple[Any, Any]:
    """One metric call on the index, then by the portable expressions. The first run may not
    execute the metric's expression (it would fail if it tried)."""

    def expression_run(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("the metric ran its expression instead of using the index")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(activity, "fetch", expression_run)
        patch.setattr(retention_module, "fetch", expression_run)
        patch.setattr(funnels, "funnel_users_expr", expression_run)
        fast = run()
    with eventindex.portable():
        slow = run()
    return fast, slow


def _filters(case: ref.Case) -> tuple[Filters, str | None]:
    return parse_where(list(case.where)), (parse_by(case.by) if case.by else None)


TRAIT_CASES = [c for c in ref.CASES if not any(w.startswith("prop.") for w in c.where)]
TRAIT_IDS = [c.name for c in TRAIT_CASES]


@pytest.mark.parametrize("case", TRAIT_CASES, ids=TRAIT_IDS)
@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("event", [None, "purchase"])
def test_active_users(loaded: Loaded, case: ref.Case, period: Any, event: str | None) -> None:
    filters, by = _filters(case)
    fast, slow = both(
        lambda: active_users(
            loaded.wh,
            period=period,
            start=date(2026, 10, 3),
            end=date(2026, 11, 27),
            event=event,
            filters=filters,
            by=by,
        )
    )
    assert fast.as_json() == slow.as_json()
    assert any(p.active for p in fast.points)


@pytest.mark.parametrize("case", TRAIT_CASES, ids=TRAIT_IDS)
@pytest.mark.parametrize("event", [None, "view_item"])
def test_stickiness(loaded: Loaded, case: ref.Case, event: str | None) -> None:
    filters, by = _filters(case)
    fast, slow = both(
        lambda: stickiness(
            loaded.wh,
            start=date(2026, 10, 20),
            end=date(2026, 11, 29),
            event=event,
            filters=filters,
            by=by,
        )
    )
    assert fast.as_json() == slow.as_json()
    assert any(p.mau for p in fast.points)


RETENTION = [
    # period, periods, start, end, basis, return event, unbounded
    ("day", 30, date(2026, 9, 28), date(2026, 11, 29), "first_activity", None, False),
    ("day", 7, date(2026, 10, 28), date(2026, 11, 8), "signup", "purchase", True),
    ("week", 4, date(2026, 10, 1), date(2026, 11, 25), "first_activity", "view_item", True),
    ("week", 3, date(2026, 10, 7), date(2026, 11, 20), "signup", None, False),
    ("month", 2, date(2026, 9, 20), date(2026, 11, 29), "first_activity", None, True),
    ("month", 1, date(2026, 9, 20), date(2026, 11, 29), "signup", "purchase", False),
]


@pytest.mark.parametrize("case", TRAIT_CASES, ids=TRAIT_IDS)
@pytest.mark.parametrize(
    ("period", "periods", "start", "end", "basis", "event", "unbounded"),
    RETENTION,
    ids=[f"{r[0]}-{r[4]}-{r[5]}-{'unbounded' if r[6] else 'on'}" for r in RETENTION],
)
def test_retention(
    loaded: Loaded,
    case: ref.Case,
    period: Any,
    periods: int,
    start: date,
    end: date,
    basis: Any,
    event: str | None,
    unbounded: bool,
) -> None:
    filters, by = _filters(case)
    fast, slow = both(
        lambda: retention(
            loaded.wh,
            period=period,
            periods=periods,
            start=start,
            end=end,
            basis=basis,
            return_event=event,
            unbounded=unbounded,
            filters=filters,
            by=by,
        )
    )
    assert fast.as_json() == slow.as_json()
    assert any(c.size for c in fast.cohorts)


def test_property_filters_are_left_to_the_expressions(loaded: Loaded) -> None:
    filters = parse_where(["prop.category=shoes"])
    day = date(2026, 10, 20)
    assert (
        indexed.active_rows(
            loaded.wh, period="day", first=day, last=day, event=None, filters=filters, by=None
        )
        is None
    )
    assert eventindex.event_index(loaded.wh) is not None
    with eventindex.portable():
        assert eventindex.event_index(loaded.wh) is None


# --- funnels --------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[11, 12])
def hard(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    settings = load_duckdb(hard_events(request.param), tmp_path_factory.mktemp("indexed"))
    with open_warehouse(settings, read_only=True) as wh:
        yield wh


FUNNELS = [
    ("ordered", ["open", "view", "cart", "buy"], "1d"),
    ("ordered", ["view", "view", "buy"], "7d"),
    ("ordered", ["view", "view", "view"], "3d"),
    ("ordered", ["view", "cart", "view", "buy"], "1h"),
    ("ordered", ["buy", "view", "buy"], "366d"),
    ("ordered", ["open", "share", "open", "view", "open"], "2d"),
    ("ordered", ["open", "nothing", "view"], "2d"),
    ("strict", ["open", "view", "cart"], "1d"),
    ("strict", ["view", "view", "cart"], "7d"),
    ("strict", ["view", "cart"], "1h"),
    ("strict", ["cart", "view", "view", "buy"], "30m"),
]


@pytest.mark.parametrize(
    ("order", "steps", "window"), FUNNELS, ids=["-".join(f[1]) + f"-{f[0]}-{f[2]}" for f in FUNNELS]
)
@pytest.mark.parametrize(
    ("where", "by"),
    [((), None), (("channel=referral,social",), "channel"), (("city!=上海",), "city")],
    ids=["all", "channel-in-by-channel", "city-not-by-city"],
)
def test_funnels(
    hard: Warehouse,
    order: Any,
    steps: list[str],
    window: str,
    where: tuple[str, ...],
    by: str | None,
) -> None:
    for start, end in ((START, END), (START - timedelta(days=3), START), (END, END)):
        spec = FunnelSpec.of(
            steps,
            start=start,
            end=end,
            window=window,
            order=order,
            by=by,
            filters=parse_where(list(where)),
        )
        fast, slow = both(lambda: funnel(hard, spec))  # noqa: B023 (called at once)
        assert fast.as_json() == slow.as_json()
        for k in range(1, len(steps) + 1):
            assert fast.reached_users(k) == slow.reached_users(k)


def test_funnels_with_conditions_or_any_order_are_left_to_the_expression(hard: Warehouse) -> None:
    window = 86_400_000_000
    assert (
        indexed.funnel_paths(
            hard, steps=["view", "buy"], since_us=0, until_us=2**62, window_us=window, order="any"
        )
        is None
    )
    assert (
        indexed.funnel_paths(
            hard,
            steps=["view", "buy"],
            since_us=0,
            until_us=2**62,
            window_us=window,
            order="ordered",
        )
        is not None
    )
    spec = FunnelSpec.of(
        [FunnelStep("view", (PropertyFilter("category", "=", ("phone",)),)), "buy"],
        start=START,
        end=END,
    )
    fast = funnel(hard, spec)
    with eventindex.portable():
        assert fast.as_json() == funnel(hard, spec).as_json()


# --- keeping up with the data ---------------------------------------------------------------------


def _append(wh: Warehouse, rows: list[tuple[str, str | None, str | None, str | None, str]]) -> None:
    wh.duckdb.executemany(
        "INSERT INTO events (message_id, type, event, user_id, anonymous_id, timestamp, "
        "received_at, batch_id) VALUES (?, 'track', ?, ?, ?, ?::TIMESTAMPTZ, now(), 'test')",
        rows,
    )


def test_the_index_follows_new_events_and_new_links(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, timezone="Asia/Shanghai")
    day = date(2026, 11, 10)
    spec = FunnelSpec.of(["open", "buy"], start=day, end=day)

    def check(wh: Warehouse) -> tuple[Any, Any]:
        fast = (
            active_users(wh, period="day", start=day, end=day).as_json(),
            funnel(wh, spec).as_json(),
        )
        with eventindex.portable():
            slow = (
                active_users(wh, period="day", start=day, end=day).as_json(),
                funnel(wh, spec).as_json(),
            )
        assert fast == slow
        return fast

    with open_warehouse(settings) as wh:
        init_warehouse(wh)
        empty = check(wh)
        assert empty[0]["series"] == [{"date": "2026-11-10", "active": 0}]
        _append(wh, [("m1", "open", None, "a1", "2026-11-10 09:00:00+08")])
        first = eventindex.event_index(wh)
        active, shown = check(wh)
        assert active["series"][0]["active"] == 1 and shown["steps"][1]["count"] == 0
        _append(wh, [("m2", "buy", "u1", None, "2026-11-10 10:00:00+08")])
        active, shown = check(wh)
        assert eventindex.event_index(wh) is not first
        assert active["series"][0]["active"] == 2 and shown["steps"][1]["count"] == 0
        # Linking a1 to u1 (no new event) merges them: one user who opened and bought.
        wh.sql(
            "INSERT INTO identities VALUES ('a1', 'u1', TIMESTAMPTZ '2026-11-10 09:30:00+08', "
            "'identify')"
        )
        active, shown = check(wh)
        assert active["series"][0]["active"] == 1 and shown["steps"][1]["count"] == 1
        # Moving the link to another user, earlier, splits them again.
        wh.sql(
            "UPDATE identities SET user_id = 'u2', linked_at = linked_at - INTERVAL 1 HOUR "
            "WHERE anonymous_id = 'a1'"
        )
        active, shown = check(wh)
        assert active["series"][0]["active"] == 2 and shown["steps"][1]["count"] == 0
        assert eventindex.event_index(wh) is eventindex.event_index(wh)  # unchanged: kept
