"""Funnels against an independent, straightforward pandas computation of docs/funnels.md.

The reference walks each user's events in Python, attempt by attempt; the product is one Ibis
expression of as-of joins. The data (tests/conformance/datasets.py) holds the hard cases: events
a minute either side of local midnight, duplicates and rows out of order, anonymous events merged
at login, users with one event, steps repeated in a funnel, several events at one instant, and
events exactly at and just past the end of a window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest

from tests.conformance.datasets import END, START, TZ, Dataset, hard_events, load_duckdb
from userops.analytics.base import UnboundSource
from userops.analytics.filters import Filters, PropertyFilter, TraitFilter
from userops.analytics.funnels import (
    Funnel,
    FunnelSpec,
    FunnelStep,
    format_window,
    funnel,
    funnel_users_expr,
    parse_window,
)
from userops.errors import InputError
from userops.warehouse.connection import Warehouse, open_warehouse

# --- the reference --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    us: int
    name: str
    props: dict[str, Any]


@dataclass(frozen=True)
class RefStep:
    name: str
    where: Callable[[dict[str, Any]], bool] = lambda _p: True
    key: str = ""  # the definition, for `any` (steps with equal keys are the same definition)

    def matches(self, e: Ev) -> bool:
        return e.name == self.name and self.where(e.props)


def _micros(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000


def resolved(data: Dataset) -> pd.DataFrame:
    """Deduplicated events with `uid`: an anonymous id belongs to its earliest linked user."""
    ev = data.events.drop_duplicates("message_id").copy()
    link = ev.dropna(subset=["user_id", "anonymous_id"]).sort_values("ts")
    link = link.drop_duplicates("anonymous_id").set_index("anonymous_id")["user_id"]
    ev["uid"] = ev.user_id.fillna(ev.anonymous_id.map(link)).fillna(ev.anonymous_id)
    return ev


def _attempt(evs: list[Ev], t1: int, steps: list[RefStep], order: str, window: int) -> list[int]:
    """Completion times of steps 1..k from a step-1 event at t1, read off the definition."""
    times = [t1]
    deadline = t1 + window
    for k in range(1, len(steps)):
        step, prev = steps[k], times[-1]
        if order == "any":
            m = sum(s.key == step.key for s in steps[1 : k + 1])
            after = t1 + (1 if step.name == steps[0].name else 0)
            instants = sorted({e.us for e in evs if step.matches(e) and e.us >= after})
            if len(instants) < m or instants[m - 1] > deadline:
                break
            times.append(max(prev, instants[m - 1]))
            continue
        same = [j for j in range(k) if steps[j].name == step.name]
        earliest = prev + 1 if same and times[same[-1]] == prev else prev
        if order == "strict":
            later = [e.us for e in evs if e.us > prev]
            allowed = {prev, min(later)} if later else {prev}
            found = [e.us for e in evs if step.matches(e) and e.us in allowed and e.us >= earliest]
        else:
            found = [e.us for e in evs if step.matches(e) and e.us >= earliest]
        if not found or min(found) > deadline:
            break
        times.append(min(found))
    return times


def reference(
    data: Dataset,
    steps: list[RefStep],
    *,
    order: str = "ordered",
    window: timedelta,
    start: date = START,
    end: date = END,
    users: Callable[[str], bool] = lambda _uid: True,
) -> dict[str, list[int]]:
    """uid -> completion times (µs) of the user's best attempt: furthest, then earliest."""
    ev = resolved(data)
    ev = ev[ev.event.notna()]
    best: dict[str, list[int]] = {}
    for uid, rows in ev.groupby("uid"):
        if not users(str(uid)):
            continue
        evs = sorted(
            (Ev(_micros(r.ts), r.event, r.properties or {}) for r in rows.itertuples()),
            key=lambda e: e.us,
        )
        for e in evs:
            day = datetime.fromtimestamp(e.us / 1e6, TZ).date()
            if not (steps[0].matches(e) and start <= day <= end):
                continue
            times = _attempt(evs, e.us, steps, order, int(window.total_seconds()) * 1_000_000)
            mine = best.get(str(uid))
            if (
                mine is None
                or len(times) > len(mine)
                or (len(times) == len(mine) and times[0] < mine[0])
            ):
                best[str(uid)] = times
    return best


def summary(best: dict[str, list[int]], n: int) -> list[tuple[int, float | None, float | None]]:
    """Per step: users reaching it, median seconds from the previous step and from step 1."""
    out = []
    for k in range(n):
        reached = [t for t in best.values() if len(t) > k]
        if k == 0 or not reached:
            out.append((len(reached), None, None))
            continue
        prev = np.array([t[k] - t[k - 1] for t in reached], dtype=np.int64)
        first = np.array([t[k] - t[0] for t in reached], dtype=np.int64)
        out.append(
            (
                len(reached),
                round(float(np.median(prev)) / 1e6, 3),
                round(float(np.median(first)) / 1e6, 3),
            )
        )
    return out


# --- the product against it -----------------------------------------------------------------------


@pytest.fixture(scope="module", params=[11, 12])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Dataset, Warehouse]]:
    data = hard_events(request.param)
    settings = load_duckdb(data, tmp_path_factory.mktemp(f"funnel{request.param}"))
    with open_warehouse(settings, read_only=True) as wh:
        yield data, wh


def phone(p: dict[str, Any]) -> bool:
    return p.get("category") == "phone"


PHONE = PropertyFilter("category", "=", ("phone",))
CHEAP = PropertyFilter("price", "<", ("50",))

# (order, steps as (name, product filters, reference predicate), window)
CASES: list[tuple[str, list[tuple[str, tuple[PropertyFilter, ...], Any]], str]] = [
    (
        "ordered",
        [("open", (), None), ("view", (), None), ("cart", (), None), ("buy", (), None)],
        "1d",
    ),
    ("ordered", [("view", (), None), ("view", (), None), ("buy", (), None)], "7d"),
    ("ordered", [("view", (), None), ("view", (), None), ("view", (), None)], "3d"),
    (
        "ordered",
        [("view", (), None), ("cart", (), None), ("view", (), None), ("buy", (), None)],
        "1h",
    ),
    ("ordered", [("open", (), None), ("view", (), None), ("cart", (), None)], "60m"),
    ("ordered", [("view", (PHONE,), phone), ("view", (), None), ("cart", (), None)], "7d"),
    ("ordered", [("cart", (), None), ("view", (CHEAP,), lambda p: p["price"] < 50)], "2d"),
    ("ordered", [("buy", (), None), ("view", (), None), ("buy", (), None)], "366d"),
    ("strict", [("open", (), None), ("view", (), None), ("cart", (), None)], "1d"),
    ("strict", [("view", (), None), ("view", (), None), ("cart", (), None)], "7d"),
    ("strict", [("view", (), None), ("cart", (), None)], "1h"),
    ("any", [("view", (), None), ("buy", (), None), ("cart", (), None)], "1d"),
    ("any", [("open", (), None), ("view", (), None), ("view", (), None), ("cart", (), None)], "2d"),
    ("any", [("view", (), None), ("view", (PHONE,), phone), ("view", (), None)], "7d"),
]


def _specs(
    case: tuple[str, list[tuple[str, tuple[PropertyFilter, ...], Any]], str], **kw: Any
) -> tuple[FunnelSpec, list[RefStep]]:
    order, steps, window = case
    spec = FunnelSpec.of(
        [FunnelStep(name, filters) for name, filters, _ in steps],
        start=kw.pop("start", START),
        end=kw.pop("end", END),
        window=window,
        order=order,
        **kw,
    )
    ref = [
        RefStep(name, where or (lambda _p: True), key=f"{name}{filters}")
        for name, filters, where in steps
    ]
    return spec, ref


def _check(got: Funnel, best: dict[str, list[int]]) -> None:
    n = len(got.spec.steps)
    want = summary(best, n)
    assert [(s.count, s.median_seconds, s.median_seconds_from_first) for s in got.steps] == want
    assert got.reached_users(1) == sorted(best)
    for k in range(2, n + 1):
        assert got.dropped_users(k) == sorted(u for u, t in best.items() if len(t) == k - 1)


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c[0]}-{'-'.join(s[0] for s in c[1])}-{c[2]}" for c in CASES]
)
def test_funnel_matches_the_reference(loaded: tuple[Dataset, Warehouse], case: Any) -> None:
    data, wh = loaded
    spec, ref = _specs(case)
    got = funnel(wh, spec)
    best = reference(data, ref, order=spec.order, window=spec.window)
    _check(got, best)
    assert got.steps[0].count > 0


def test_breakdown_and_trait_filters_match_the_reference(loaded: tuple[Dataset, Warehouse]) -> None:
    data, wh = loaded
    not_referral = Filters(traits=(TraitFilter("channel", "!=", ("referral",)),))
    spec, ref = _specs(CASES[0], by="channel", filters=not_referral)
    got = funnel(wh, spec)
    channel = dict(zip(data.users.user_id, data.users.channel, strict=True))
    channel = {u: (None if pd.isna(c) else c) for u, c in channel.items()}
    best = reference(
        data, ref, window=spec.window, users=lambda uid: channel.get(uid) != "referral"
    )
    _check(got, best)
    groups = {g.key: [s.count for s in g.steps] for g in got.breakdown}
    keys = sorted({channel.get(u) for u in best}, key=lambda k: (k is None, k or ""))
    assert list(groups) == keys  # named groups sorted, users without the trait last
    for key in keys:
        mine = {u: t for u, t in best.items() if channel.get(u) == key}
        assert groups[key] == [c for c, _, _ in summary(mine, 4)]
    assert "referral" not in groups and None in groups
    body = got.as_json()
    assert body["by"] == "channel" and body["filters"] == ["channel!=referral"]
    assert [b["key"] for b in body["breakdown"]] == keys


def test_the_range_edges_are_local_midnights(loaded: tuple[Dataset, Warehouse]) -> None:
    data, wh = loaded
    for day in (START, START + timedelta(days=1), END):
        spec, ref = _specs(
            ("ordered", [("open", (), None), ("view", (), None)], "1d"), start=day, end=day
        )
        _check(funnel(wh, spec), reference(data, ref, window=spec.window, start=day, end=day))


def test_a_range_without_events_gives_zeros(loaded: tuple[Dataset, Warehouse]) -> None:
    _, wh = loaded
    spec = FunnelSpec.of(["open", "view"], start=date(2020, 1, 1), end=date(2020, 1, 31))
    got = funnel(wh, spec)
    assert [s.count for s in got.steps] == [0, 0]
    assert [s.conversion for s in got.steps] == [None, None]
    assert got.steps[1].median_seconds is None
    assert got.dropped_users(2) == [] and got.breakdown == ()
    spec = FunnelSpec.of(["nothing", "view"], start=START, end=END, by="channel")
    assert funnel(wh, spec).as_json()["breakdown"] == []


def test_json_shape(loaded: tuple[Dataset, Warehouse]) -> None:
    _, wh = loaded
    spec = FunnelSpec.of(
        [FunnelStep("view", (PHONE,)), FunnelStep("buy")], start=START, end=END, window="36h"
    )
    body = funnel(wh, spec).as_json()
    assert body["window"] == "36h" and body["order"] == "ordered" and body["by"] is None
    assert body["from"] == START.isoformat() and body["to"] == END.isoformat()
    first, second = body["steps"]
    assert first["event"] == "view" and first["label"] == "view[prop.category=phone]"
    assert first["conversion"] == 1.0 and first["median_seconds"] is None
    assert second["count"] <= first["count"]
    assert second["conversion"] == round(second["count"] / first["count"], 4)
    assert body["breakdown"] == []


# --- the definition -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"events": ["a"]}, "a funnel has 2 to 20 steps, not 1"),
        ({"events": ["a"] * 21}, "a funnel has 2 to 20 steps, not 21"),
        ({"events": ["a", " "]}, "funnel step 2: the event name is empty"),
        ({"window": "0d"}, "window '0d' must be longer than 0"),
        ({"window": "7"}, "window '7' is not a duration like 30m, 24h or 7d"),
        ({"window": "1w"}, "window '1w' is not a duration"),
        ({"window": "367d"}, "window '367d' is longer than 366 days"),
        ({"order": "random"}, "order 'random' is not one of ordered, strict, any"),
        ({"start": END, "end": START}, "the range starts"),
        ({"by": "shoe_size"}, "unknown breakdown field 'shoe_size'"),
    ],
)
def test_bad_specs_name_the_bad_part(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"events": ["a", "b"], "start": START, "end": END, **kwargs}
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FunnelSpec.of(args.pop("events"), **args)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("24h", 86400), (" 7d ", 604800)])
def test_windows(text: str, seconds: int) -> None:
    window = parse_window(text)
    assert window.total_seconds() == seconds
    assert parse_window(format_window(window)) == window


def test_dropped_users_needs_a_step_of_the_funnel(loaded: tuple[Dataset, Warehouse]) -> None:
    _, wh = loaded
    got = funnel(wh, FunnelSpec.of(["open", "view"], start=START, end=END))
    with pytest.raises(InputError, match="step 1 is not a step of this funnel"):
        got.dropped_users(1)
    with pytest.raises(InputError, match="step 3 is not a step"):
        got.reached_users(3)


def test_an_unbound_source_compiles_for_both_engines_with_one_join_per_step() -> None:
    for steps in (4, 12):
        spec = FunnelSpec.of([f"e{i}" for i in range(steps)], start=START, end=END)
        for engine in ("duckdb", "clickhouse"):
            expr = funnel_users_expr(UnboundSource(engine, "Asia/Shanghai"), spec)
            sql = ibis.to_sql(expr, dialect=engine)
            assert sql.count("ASOF LEFT JOIN") == steps - 1
        assert "toUnixTimestamp64Micro" in sql  # times as integers, no time zone per row
