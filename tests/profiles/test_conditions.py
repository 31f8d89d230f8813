"""Compiled rules against an independent reference (tests/profiles/segment_data.py), in two
time zones: a table of rules covering every condition and operator, hostile values, and
Hypothesis-generated rules over the data's own vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.profiles.segment_data import HOSTILE, RFM, TODAY, ZONES, ProfileWorld, loaded, reference
from userops.analytics.base import UnboundSource
from userops.domain.audience import parse_rule
from userops.profiles.conditions import audience, evaluate, universe


@pytest.fixture(scope="module", params=ZONES, ids=[z for z, _ in ZONES])
def pw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ProfileWorld:
    zone, seed = request.param
    folder: Callable[[], Path] = lambda: tmp_path_factory.mktemp(f"profiles-{seed}")  # noqa: E731
    return loaded(zone, seed, folder)


def run(pw: ProfileWorld, doc: dict[str, Any], today: Any = TODAY) -> set[str]:
    table = audience(pw.wh, parse_rule(doc), today=today).to_pyarrow()
    ids = table["user_id"].to_pylist()
    assert len(ids) == len(set(ids)), "one row per user"
    return set(ids)


RULES: list[dict[str, Any]] = [
    # traits
    {"trait": "city", "op": "=", "value": "上海"},
    {"trait": "city", "op": "!=", "value": "上海"},
    {"trait": "city", "op": "in", "value": ["北京", "广州"]},
    {"trait": "city", "op": "not_in", "value": ["北京", "广州"]},
    {"trait": "gender", "op": "is_set"},
    {"trait": "gender", "op": "not_set"},
    {"trait": "user_id", "op": "in", "value": ["u1", "u2", "v3", "nobody"]},
    {"trait": "occupation", "op": "=", "value": "teacher"},
    {"trait": "birthday", "op": "<", "value": "1990-01-01"},
    {"trait": "birthday", "op": "between", "value": ["1980-01-01", "1999-12-31"]},
    {"trait": "birthday", "op": "in", "value": ["1996-02-29", "2000-11-20"]},
    {"trait": "age", "op": "=", "value": 26},
    {"trait": "age", "op": ">=", "value": 30},
    {"trait": "age", "op": "<", "value": 18},
    {"trait": "age", "op": "<=", "value": 30},
    {"trait": "age", "op": ">", "value": 40},
    {"trait": "age", "op": "between", "value": [25, 30]},
    {"trait": "age", "op": "in", "value": [30, 26]},
    {"trait": "age", "op": "not_set"},
    {"trait": "created_at", "op": "<=", "value": 7},
    {"trait": "created_at", "op": ">", "value": 30},
    {"trait": "created_at", "op": "=", "value": 1},
    {"trait": "created_at", "op": "between", "value": [3, 10]},
    {"trait": "created_at", "op": ">=", "value": "2026-11-01"},
    {"trait": "created_at", "op": "in", "value": ["2026-10-05", "2026-10-06"]},
    {"trait": "traits.device_os", "op": "=", "value": "iOS"},
    {"trait": "traits.device_os", "op": "!=", "value": "iOS"},
    {"trait": "traits.level", "op": ">=", "value": 2},
    {"trait": "traits.level", "op": "=", "value": "2"},
    {"trait": "traits.level", "op": "in", "value": [1, 3]},
    {"trait": "traits.level", "op": "between", "value": [None, 2]},
    {"trait": "traits.ios", "op": "=", "value": False},
    {"trait": "traits.ios", "op": "not_set"},
    # tags
    {"tag": "rfm_group", "op": "=", "value": "重要价值"},
    {"tag": "rfm_group", "op": "not_in", "value": ["重要价值", "it's fine"]},
    {"tag": "rfm_group", "op": "not_set"},
    {"tag": "score", "op": ">=", "value": 10},
    {"tag": "score", "op": "=", "value": 55.25},
    {"tag": "score", "op": "between", "value": [-3, 1.5]},
    {"tag": "score", "op": "in", "value": [0, 99]},
    {"tag": "score", "op": "!=", "value": 0},
    {"tag": "vip", "op": "=", "value": True},
    {"tag": "vip", "op": "=", "value": "true"},
    {"tag": "first_buy", "op": "<", "value": "2026-10-15"},
    {"tag": "nonexistent", "op": "not_set"},
    # behaviour
    {"event": "purchase"},
    {"not": {"event": "purchase"}},
    {"event": "purchase", "op": "=", "value": 0},
    {"event": "purchase", "within_days": 30, "op": ">=", "value": 2},
    {"event": "purchase", "within_days": 7, "op": "<=", "value": 1},
    {"event": "app_open", "within_days": 1},
    {"event": "view_item", "op": "between", "value": [2, 5]},
    {"event": "view_item", "op": "in", "value": [1, 3]},
    {"event": "view_item", "where": [{"property": "category", "op": "=", "value": "美妆"}]},
    {
        "event": "view_item",
        "where": [
            {"property": "price", "op": ">=", "value": 65},
            {"property": "flag", "op": "=", "value": True},
        ],
        "op": ">=",
        "value": 2,
    },
    {"event": "view_item", "where": [{"property": "price", "op": "=", "value": "65"}]},
    {"event": "view_item", "where": [{"property": "flag", "op": "not_set"}]},
    {"event": "purchase", "where": [{"property": "revenue", "op": ">", "value": 100}]},
    {"event": "purchase", "where": [{"property": "revenue", "op": "in", "value": [12.5, 100]}]},
    {"event": "purchase", "where": [{"property": "revenue", "op": "!=", "value": "12.50"}]},
    {"event": "purchase", "measure": "sum", "property": "revenue", "op": ">=", "value": 300},
    {"event": "purchase", "measure": "sum", "property": "revenue", "op": "<", "value": 50},
    {
        "event": "purchase",
        "measure": "sum",
        "property": "revenue",
        "op": "between",
        "value": [100, 500],
        "within_days": 60,
    },
    {"event": "refund", "measure": "min", "property": "revenue", "op": "<", "value": -20},
    {"event": "purchase", "measure": "max", "property": "revenue", "op": ">", "value": 250},
    {"event": "purchase", "measure": "avg", "property": "revenue", "op": ">=", "value": 150},
    {"event": "purchase", "measure": "avg", "property": "revenue", "op": "not_set"},
    {"event": "view_item", "measure": "sum", "property": "price", "op": ">", "value": 200},
    {"event": "view_item", "measure": "max", "property": "category", "op": "is_set"},
    {"event": "purchase", "measure": "last_time", "op": ">", "value": 14},
    {"event": "purchase", "measure": "last_time", "op": "<=", "value": 3},
    {"event": "purchase", "measure": "last_time", "op": "not_set"},
    {"event": "app_open", "measure": "first_time", "op": ">=", "value": "2026-11-01"},
    {"event": "app_open", "measure": "first_time", "op": "between", "value": [10, 20]},
    {"event": "view_item", "measure": "first_time", "op": "=", "value": 0},
    {"event": "never_happens", "op": "=", "value": 0},
    # segments and combinations
    {"segment": "seg_static"},
    {"segment": "unknown_segment"},
    {
        "all": [
            {"trait": "channel", "op": "in", "value": ["referral", "social"]},
            {"not": {"event": "purchase", "within_days": 30}},
            {"any": [{"tag": "vip", "op": "is_set"}, {"segment": "seg_static"}]},
        ]
    },
    {
        "any": [
            {"event": "purchase", "measure": "sum", "property": "revenue", "op": ">", "value": 200},
            {
                "all": [
                    {"trait": "age", "op": "<", "value": 30},
                    {"tag": "score", "op": ">", "value": 5},
                ]
            },
        ]
    },
]


@pytest.mark.parametrize("doc", RULES, ids=lambda d: str(d)[:70])
def test_rules_match_the_reference(pw: ProfileWorld, doc: dict[str, Any]) -> None:
    assert run(pw, doc) == reference(pw, doc)


def test_the_table_is_not_trivial(pw: ProfileWorld) -> None:
    """Most rules select some users and leave out others: equal answers that are all empty
    or all everyone would prove little."""
    everyone = pw.universe
    partial = [d for d in RULES if 0 < len(reference(pw, d)) < len(everyone)]
    assert len(partial) >= len(RULES) - 6
    assert "ghost1" not in everyone and "v1" in everyone  # tag-only ids are not users


def test_universe_is_users_and_event_users(pw: ProfileWorld) -> None:
    ids = universe(pw.wh).to_pyarrow()["user_id"].to_pylist()
    assert sorted(ids) == sorted(pw.universe)
    assert {"n0", "nodate", "h1", "v0"} <= set(ids)  # never seen; no created_at; anonymous


def test_did_not_includes_users_without_any_event(pw: ProfileWorld) -> None:
    silent = run(pw, {"not": {"event": "app_open", "within_days": 3650}})
    assert {"n0", "n1", "h0", "h1"} <= silent
    assert run(pw, {"event": "purchase", "op": "<=", "value": 0}) >= {"n0", "h0"}


def test_events_after_today_do_not_count(pw: ProfileWorld) -> None:
    later = TODAY.replace(day=29)
    doc = {"event": "app_open", "within_days": 9}
    assert run(pw, doc, later) == reference(pw, doc, later) != run(pw, doc)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_match_who_really_has_them(pw: ProfileWorld, value: str) -> None:
    expected_city = {u for u, t in pw.world.users.items() if t.get("city") == value}
    assert expected_city and run(pw, {"trait": "city", "op": "=", "value": value}) == expected_city
    noted = {u for u, t in pw.world.users.items() if t.get("note") == value}
    assert run(pw, {"trait": "traits.note", "op": "=", "value": value}) == noted
    coupon = {"event": "purchase", "where": [{"property": "coupon", "op": "=", "value": value}]}
    assert run(pw, coupon) == reference(pw, coupon)
    # The tables are all still there, whole.
    assert pw.wh.sql("SELECT count(*) FROM users")[0][0] == len(pw.world.users)


def test_a_tag_value_with_a_quote(pw: ProfileWorld) -> None:
    doc = {"tag": "rfm_group", "op": "=", "value": "it's fine"}
    expected = {u for u, (v, _) in pw.tags["rfm_group"].items() if v == "it's fine"}
    assert run(pw, doc) == expected & pw.universe != set()


def test_evaluate_gives_one_boolean_per_rule(pw: ProfileWorld) -> None:
    docs = [{"tag": "vip", "op": "is_set"}, {"event": "purchase", "within_days": 30}]
    table = evaluate(pw.wh, [parse_rule(d) for d in docs], today=TODAY).to_pyarrow()
    assert table.column_names == ["user_id", "m0", "m1"]
    assert table["m0"].null_count == 0 and table["m1"].null_count == 0
    rows = table.to_pylist()
    assert {r["user_id"] for r in rows} == pw.universe
    for i, doc in enumerate(docs):
        assert {r["user_id"] for r in rows if r[f"m{i}"]} == reference(pw, doc)


def test_compiles_for_clickhouse_with_values_as_literals() -> None:
    doc = {
        "all": [
            {"trait": "city", "op": "=", "value": HOSTILE[1]},
            {"trait": "traits.level", "op": ">", "value": 2},
            {"trait": "age", "op": "between", "value": [20, 30]},
            {"tag": "rfm_group", "op": "in", "value": RFM},
            {"event": "purchase", "measure": "sum", "property": "revenue", "op": ">", "value": 5},
            {"event": "purchase", "measure": "last_time", "op": ">", "value": 5},
            {"segment": "seg_static"},
        ]
    }
    sql = str(
        ibis.to_sql(
            audience(UnboundSource("clickhouse"), parse_rule(doc), today=TODAY),
            dialect="clickhouse",
        )
    )
    assert "'''; DROP TABLE users; --'" in sql  # a quoted literal, its quote doubled
    assert "toDate(" in sql and "Asia/Shanghai" in sql


# --- Hypothesis: rules over the data's vocabulary agree with the reference ---------------------

cities = st.sampled_from(["上海", "北京", "广州", HOSTILE[0], "深圳"])
channels = st.sampled_from(["referral", "paid_search", "social", "unknown"])
small = st.integers(0, 4)


def _cmp(values: st.SearchStrategy[Any], ordered: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    options = [
        st.builds(lambda op, v: {"op": op, "value": v}, st.sampled_from(["=", "!="]), values),
        st.builds(
            lambda op, v: {"op": op, "value": v},
            st.sampled_from(["in", "not_in"]),
            st.lists(values, min_size=1, max_size=3),
        ),
        st.sampled_from([{"op": "is_set"}, {"op": "not_set"}]),
    ]
    if ordered:
        options.append(
            st.builds(
                lambda op, v: {"op": op, "value": v},
                st.sampled_from(["<", "<=", ">", ">="]),
                values,
            )
        )
        options.append(
            st.tuples(values, values).map(lambda p: {"op": "between", "value": sorted(p)})
        )
    return st.one_of(*options)


def _counted(cmp: dict[str, Any]) -> dict[str, Any]:
    return cmp if cmp["op"] not in ("is_set", "not_set") else {"op": ">=", "value": 1}


leaf = st.one_of(
    st.builds(lambda c: {"trait": "city", **c}, _cmp(cities, ordered=False)),
    st.builds(lambda c: {"trait": "channel", **c}, _cmp(channels, ordered=False)),
    st.builds(lambda c: {"trait": "age", **c}, _cmp(st.integers(10, 60))),
    st.builds(lambda c: {"trait": "created_at", **c}, _cmp(st.integers(0, 60))),
    st.builds(lambda c: {"trait": "traits.level", **c}, _cmp(st.integers(0, 4))),
    st.builds(lambda c: {"tag": "score", **c}, _cmp(st.sampled_from([-3, 0, 1.5, 10, 50, 99]))),
    st.builds(lambda c: {"tag": "rfm_group", **c}, _cmp(st.sampled_from(RFM), ordered=False)),
    st.builds(
        lambda e, c, w: {"event": e, **_counted(c), **({"within_days": w} if w else {})},
        st.sampled_from(["purchase", "view_item", "app_open"]),
        _cmp(small),
        st.sampled_from([None, 1, 7, 30]),
    ),
    st.builds(
        lambda m, c: {"event": "purchase", "measure": m, "property": "revenue", **c},
        st.sampled_from(["sum", "max"]),
        _cmp(st.sampled_from([0, 49.5, 120, 333.3])).filter(
            lambda c: c["op"] not in ("is_set", "not_set")
        ),
    ),
    st.builds(
        lambda m, c: {"event": "view_item", "measure": m, **c},
        st.sampled_from(["first_time", "last_time"]),
        _cmp(st.integers(0, 40)),
    ),
    st.just({"segment": "seg_static"}),
)
generated = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=generated)
def test_generated_rules_run_and_agree(pw: ProfileWorld, doc: dict[str, Any]) -> None:
    try:
        rule = parse_rule(doc)
    except Exception as exc:  # the depth limit is the only refusal a generated rule may meet
        assert "nest at most" in str(exc), (exc, doc)
        return
    got = set(audience(pw.wh, rule, today=TODAY).to_pyarrow()["user_id"].to_pylist())
    assert got == reference(pw, doc), doc
