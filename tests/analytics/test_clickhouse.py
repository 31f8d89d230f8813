"""The metric expressions on the ClickHouse dialect: compiled for ClickHouse, run in chDB on the
same generated world, they give the same rows as on DuckDB.

The expression builders (`*_expr`, `*_exprs`) take any `Source`: the live DuckDB warehouse, or
unbound tables compiled with `ibis.to_sql(..., dialect="clickhouse")`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import ibis
import ibis.expr.types as ir
import pytest

from tests.analytics.conftest import Loaded
from userops.analytics import activity, channels, lifecycle, retention, revenue
from userops.analytics.base import Source, UnboundSource
from userops.analytics.filters import parse_where
from userops.warehouse import schema

chdb = pytest.importorskip("chdb")
pytestmark = pytest.mark.slow  # a chDB session and every metric twice: seconds per test

Build = Callable[[Source], list[ir.Table]]
WHERE = parse_where(["city!=上海", "prop.category!=books"])
START, END = date(2026, 10, 7), date(2026, 11, 22)

BUILDS: dict[str, Build] = {
    "active": lambda s: [
        activity.active_users_expr(
            s, period="week", start=START, end=END, filters=WHERE, by="channel"
        )
    ],
    "stickiness": lambda s: list(
        activity.stickiness_exprs(s, start=date(2026, 11, 1), end=date(2026, 11, 8), by="city")
    ),
    "new-users": lambda s: [
        activity.new_users_expr(s, period="month", start=START, end=END, by="trait.device_os")
    ],
    "retention": lambda s: list(
        retention.retention_exprs(s, period="day", periods=7, start=START, end=END, by="gender")
    ),
    "retention-signup-unbounded": lambda s: list(
        retention.retention_exprs(
            s,
            period="week",
            periods=4,
            start=START,
            end=END,
            basis="signup",
            unbounded=True,
            filters=WHERE,
        )
    ),
    "revenue": lambda s: _revenue(s),
    "channels": lambda s: _channels(s),
    "lifecycle": lambda s: list(
        lifecycle.lifecycle_exprs(s, period="week", start=START, end=END, filters=WHERE, by="city")
    ),
}


def _revenue(s: Source) -> list[ir.Table]:
    e = revenue.revenue_exprs(s, period="week", start=START, end=END, filters=WHERE, by="channel")
    return [e.per_period, e.previous, e.churned, e.whole, e.conversion]


def _channels(s: Source) -> list[ir.Table]:
    e = channels.channel_exprs(s, start=START, end=END, filters=WHERE)
    assert e.costs is not None
    return [e.cohort, e.activated, e.retained, e.paying, e.costs]


def _value(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    try:
        return Decimal(str(v)).normalize()
    except InvalidOperation:
        return v


def _rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(sorted((k, _value(v)) for k, v in r.items())) for r in records), key=repr)


def _json_rows(con: Any, table: str) -> str:
    lines = []
    for row in con.execute(f"SELECT * FROM {table}").fetchall():
        cols = [d[0] for d in con.description]
        record = {}
        for name, value in zip(cols, row, strict=True):
            if isinstance(value, datetime):
                value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            elif isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            record[name] = value
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def clickhouse(loaded: Loaded) -> Iterator[Any]:
    """A chDB session holding the same tables as the DuckDB warehouse."""
    from chdb import session as chs

    sess = chs.Session()
    try:
        for table in schema.TABLES.values():
            sess.query(schema.clickhouse_ddl(table))
            data = _json_rows(loaded.wh.duckdb, schema.quote_ident(table.name))
            if data:
                sess.query(
                    f"INSERT INTO {schema.quote_ident(table.name)} FORMAT JSONEachRow\n{data}"
                )
        yield sess
    finally:
        sess.close()


@pytest.mark.parametrize("name", list(BUILDS))
def test_clickhouse_gives_the_duckdb_rows(loaded: Loaded, clickhouse: Any, name: str) -> None:
    duck = BUILDS[name](loaded.wh)
    unbound = BUILDS[name](UnboundSource(engine="clickhouse", timezone=loaded.settings.timezone))
    seen = 0
    for on_duckdb, on_clickhouse in zip(duck, unbound, strict=True):
        sql = ibis.to_sql(on_clickhouse, dialect="clickhouse")
        # resolved_events joins identities with a LEFT JOIN and coalesces: standard NULLs needed
        out = clickhouse.query(f"{sql} SETTINGS join_use_nulls = 1", "JSONEachRow").data()
        got = [json.loads(line) for line in out.splitlines() if line.strip()]
        want = on_duckdb.to_pyarrow().to_pylist()
        assert _rows(got) == _rows(want), sql
        seen += len(want)
    assert seen > 0
