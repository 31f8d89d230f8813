"""Filters: parsing (a table of inputs, errors that name the field, a round trip) and the
compiled predicates, the same on DuckDB and on the ClickHouse dialect (run in chDB)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
import ibis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from userops.analytics.filters import (
    OPS,
    Filters,
    PropertyFilter,
    TraitFilter,
    parse_by,
    parse_where,
    property_match,
    trait_match,
)
from userops.errors import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channel=referral", TraitFilter("channel", "=", ("referral",))),
        ("city = 上海", TraitFilter("city", "=", ("上海",))),
        ("channel!=unknown", TraitFilter("channel", "!=", ("unknown",))),
        ("channel=referral,social", TraitFilter("channel", "in", ("referral", "social"))),
        ("city!=北京, 上海", TraitFilter("city", "not in", ("北京", "上海"))),
        (r"occupation=a\,b", TraitFilter("occupation", "=", ("a,b",))),
        ("gender is set", TraitFilter("gender", "is set")),
        ("gender IS NOT SET", TraitFilter("gender", "is not set")),
        ("trait.device_os=iOS", TraitFilter("trait.device_os", "=", ("iOS",))),
        ("trait.age>=30", TraitFilter("trait.age", ">=", ("30",))),
        ("prop.category=shoes", PropertyFilter("category", "=", ("shoes",))),
        ("prop.类别=鞋", PropertyFilter("类别", "=", ("鞋",))),
        ("prop.price<9.9", PropertyFilter("price", "<", ("9.9",))),
        ("prop.coupon is not set", PropertyFilter("coupon", "is not set")),
        ("channel=x is set", TraitFilter("channel", "=", ("x is set",))),
        ("prop.q=a=b", PropertyFilter("q", "=", ("a=b",))),
    ],
)
def test_parse(text: str, expected: TraitFilter | PropertyFilter) -> None:
    filters = parse_where([text])
    assert [*filters.traits, *filters.properties] == [expected]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chanel=referral", "unknown filter field 'chanel': use one of channel, gender"),
        ("channel=", "has an empty value; to find users without it write 'channel is not set'"),
        ("channel=a,,b", "has an empty value"),
        ("channel>3", "channel is text; compare it with =, != or is set"),
        ("prop.price>cheap", "'cheap' is not a number"),
        ("prop.a.b=1", "a key after 'prop.' is letters, digits and underscores"),
        ("trait.=1", "a key after 'trait.' is letters"),
        ("channel", "is not FIELD=VALUE"),
        ("user_id=u1", "unknown filter field 'user_id'"),
    ],
)
def test_parse_errors_name_the_filter(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_where([text])


def test_breakdown_fields() -> None:
    assert parse_by(None) is None and parse_by(" ") is None
    assert parse_by("channel") == "channel"
    assert parse_by("trait.device_os") == "trait.device_os"
    with pytest.raises(InputError, match=r"unknown breakdown field 'prop\.category'"):
        parse_by("prop.category")


_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12
).filter(lambda v: v.strip() == v and v != "")
_field = st.sampled_from(["channel", "city", "trait.tier", "prop.category", "prop.价格"])


@st.composite
def _filters(draw: st.DrawFn) -> Filters:
    items = []
    for _ in range(draw(st.integers(1, 4))):
        field, op = draw(_field), draw(st.sampled_from(OPS))
        if op in (">", ">=", "<", "<=") and not field.startswith(("trait.", "prop.")):
            op = "="
        if op in ("is set", "is not set"):
            values: tuple[str, ...] = ()
        elif op in (">", ">=", "<", "<="):
            values = (str(draw(st.integers(-1000, 1000))),)
        elif op in ("in", "not in"):
            values = tuple(draw(st.lists(_values, min_size=2, max_size=3)))
        else:
            values = (draw(_values),)
        items.append((field, op, values))
    traits = tuple(TraitFilter(f, o, v) for f, o, v in items if not f.startswith("prop."))  # type: ignore[arg-type]
    props = tuple(PropertyFilter(f[5:], o, v) for f, o, v in items if f.startswith("prop."))  # type: ignore[arg-type]
    return Filters(traits, props)


@given(_filters())
def test_written_filters_parse_back(filters: Filters) -> None:
    assert parse_where(filters.as_params()) == filters


# --- compiled predicates: DuckDB and ClickHouse agree with the definition ------------------------

ROWS: list[tuple[int, dict[str, Any] | None, str | None]] = [
    (1, {"category": "shoes", "price": 65, "flag": True, "tier": "gold"}, "referral"),
    (2, {"category": "books", "price": "65", "flag": False}, "social"),
    (3, {"category": None, "price": 9.9, "flag": "true"}, None),
    (4, {"price": 129.0, "类别": "鞋"}, "unknown"),
    (5, None, "referral"),
    (6, {"category": "a,b", "price": True, "tier": 3}, "paid_search"),
]

PREDICATES: list[tuple[str, set[int]]] = [
    ("prop.category=shoes", {1}),
    ("prop.category!=shoes", {2, 3, 4, 5, 6}),
    (r"prop.category=shoes,a\,b", {1, 6}),
    ("prop.category is set", {1, 2, 6}),
    ("prop.category is not set", {3, 4, 5}),
    ("prop.price=65", {1, 2}),  # the number 65 and the string "65"
    ("prop.price>=65", {1, 4}),  # numbers only: not "65", not true
    ("prop.price<10", {3}),
    ("prop.flag=true", {1, 3}),  # the boolean and the string
    ("prop.flag=false", {2}),
    ("prop.类别=鞋", {4}),
    ("channel=referral", {1, 5}),
    ("channel!=referral", {2, 3, 4, 6}),
    ("channel=referral,social", {1, 2, 5}),
    ("channel is not set", {3}),
    ("trait.tier=3", {6}),
    ("trait.tier is set", {1, 6}),
]


def _table() -> ibis.Table:
    return ibis.table(
        {"id": "int64", "properties": "string", "traits": "string", "channel": "string"},
        name="t",
        database="uo",
    )


def _expr(text: str, engine: str) -> ibis.Table:
    t = _table()
    filters = parse_where([text])
    match = property_match(t, filters, engine) if filters.properties else None
    match = match if match is not None else trait_match(t, filters, engine)
    assert match is not None
    return t.filter(match).select("id").order_by("id")


def _rows() -> list[tuple[int, str | None, str | None, str | None]]:
    out = []
    for i, props, channel in ROWS:
        blob = None if props is None else json.dumps(props, ensure_ascii=False)
        out.append((i, blob, blob, channel))
    return out


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA uo")
    con.execute("CREATE TABLE uo.t (id BIGINT, properties JSON, traits JSON, channel VARCHAR)")
    con.executemany("INSERT INTO uo.t VALUES (?, ?, ?, ?)", _rows())
    yield con
    con.close()


@pytest.fixture(scope="module")
def chdb_session() -> Iterator[Any]:
    pytest.importorskip("chdb")
    from chdb import session as chs

    sess = chs.Session()
    sess.query("CREATE DATABASE IF NOT EXISTS uo")
    sess.query(
        "CREATE TABLE uo.t (id Int64, properties Nullable(String), traits Nullable(String), "
        "channel Nullable(String)) ENGINE = MergeTree ORDER BY id"
    )
    for row in _rows():
        values = ", ".join(
            "NULL"
            if v is None
            else (str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'")
            for v in row
        )
        sess.query(f"INSERT INTO uo.t VALUES ({values})")
    yield sess
    sess.close()


@pytest.mark.parametrize(("text", "ids"), PREDICATES, ids=[p for p, _ in PREDICATES])
def test_duckdb_predicates(duck: duckdb.DuckDBPyConnection, text: str, ids: set[int]) -> None:
    sql = ibis.to_sql(_expr(text, "duckdb"), dialect="duckdb")
    assert {r[0] for r in duck.execute(str(sql)).fetchall()} == ids


@pytest.mark.parametrize(("text", "ids"), PREDICATES, ids=[p for p, _ in PREDICATES])
def test_clickhouse_predicates(chdb_session: Any, text: str, ids: set[int]) -> None:
    sql = ibis.to_sql(_expr(text, "clickhouse"), dialect="clickhouse")
    out = chdb_session.query(str(sql), "CSV").data()
    assert {int(line) for line in out.split()} == ids
