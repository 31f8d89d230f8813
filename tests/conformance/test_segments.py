"""Segment previews and rule tags give the same users on DuckDB and on ClickHouse (chDB).

The data sets are the suite's own (`hard` and `demo`, conftest._fill), plus tag values and the
members of a static segment written into the DuckDB warehouse before its tables are copied to
chDB, so every kind of condition (trait, custom trait, age, created_at, tag, behaviour with
property filters and measures, segment) runs on both engines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from chdb import session as chs

from tests.conformance.chdb_backend import ChdbBackend
from tests.conformance.conftest import _fill, copy_to_chdb
from userops.profiles.ruletags import evaluate_rule_tag
from userops.profiles.segments import preview
from userops.warehouse.connection import Warehouse, open_warehouse


@dataclass(frozen=True)
class Pair:
    dataset: str
    today: date
    duckdb: Warehouse
    clickhouse: Warehouse


@pytest.fixture(scope="module", params=["hard", "demo"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    dataset: str = request.param
    folder = tmp_path_factory.mktemp(f"segments-{dataset}")
    settings, _start, end = _fill(dataset, folder)
    with open_warehouse(settings) as wh:
        wh.sql(
            "INSERT INTO tag_values SELECT 'score', user_id, CAST(hash(user_id) % 100 AS VARCHAR), "
            "CAST(hash(user_id) % 100 AS DOUBLE), now() FROM users"
        )
        wh.sql(
            "INSERT INTO tag_values SELECT 'rfm', user_id, "
            "CASE hash(user_id) % 3 WHEN 0 THEN '重要价值' WHEN 1 THEN 'it''s' ELSE '一般' END, "
            "NULL, now() FROM users WHERE hash(user_id) % 5 <> 0"
        )
        wh.sql(
            "INSERT INTO segment_members SELECT 'half', user_id, now() FROM users "
            "WHERE hash(user_id) % 2 = 0"
        )
    session = chs.Session()
    try:
        with open_warehouse(settings, read_only=True) as duck:
            database = f"uo_seg_{dataset}"
            copy_to_chdb(duck, session, database, folder)
            clickhouse = Warehouse(
                ChdbBackend(session, database),
                engine="clickhouse",
                timezone=settings.timezone,
                location=f"chdb:{database}",
            )
            yield Pair(dataset, end, duck, clickhouse)
            session.query(f"DROP DATABASE {database}")
    finally:
        session.close()


def _events(dataset: str) -> tuple[str, str]:
    """(a frequent event, a rarer one) of the data set."""
    return ("view_item", "purchase") if dataset == "demo" else ("view", "buy")


def rules(dataset: str) -> list[dict[str, Any]]:
    often, rare = _events(dataset)
    return [
        {"trait": "city", "op": "in", "value": ["北京", "上海"]},
        {"trait": "channel", "op": "!=", "value": "referral"},
        {"trait": "created_at", "op": "between", "value": [3, 30]},
        {"trait": "age", "op": "between", "value": [20, 35]},
        {"trait": "traits.device_os", "op": "=", "value": "iOS"},
        {"tag": "score", "op": ">=", "value": 50},
        {"tag": "rfm", "op": "in", "value": ["重要价值", "it's"]},
        {"tag": "rfm", "op": "not_set"},
        {"segment": "half"},
        {"event": often, "within_days": 7, "op": ">=", "value": 2},
        {"not": {"event": rare, "within_days": 14}},
        {"event": often, "where": [{"property": "price", "op": ">=", "value": 50}]},
        {
            "event": often,
            "where": [{"property": "category", "op": "in", "value": ["phone", "食品生鲜"]}],
        },
        {"event": rare, "measure": "sum", "property": "revenue", "op": ">", "value": 20},
        {"event": often, "measure": "max", "property": "price", "op": ">", "value": 10},
        {"event": often, "measure": "avg", "property": "price", "op": "not_set"},
        {"event": often, "measure": "last_time", "op": "<=", "value": 3},
        {"event": often, "measure": "first_time", "op": ">=", "value": "2026-11-01"},
        {
            "all": [
                {"any": [{"segment": "half"}, {"tag": "score", "op": "<", "value": 20}]},
                {"not": {"trait": "city", "op": "is_set"}},
            ]
        },
    ]


def test_the_same_audience_on_duckdb_and_clickhouse(pair: Pair) -> None:
    sizes = []
    for rule in rules(pair.dataset):
        on_duckdb = preview(pair.duckdb, rule, today=pair.today, sample=1000).as_json()
        on_clickhouse = preview(pair.clickhouse, rule, today=pair.today, sample=1000).as_json()
        assert on_clickhouse == on_duckdb, rule
        sizes.append(on_duckdb["count"])
    # Equal answers prove little if they are all empty or all everyone.
    assert sum(1 for n in sizes if n > 0) >= len(sizes) - 3, sizes
    assert len(set(sizes)) > len(sizes) // 2, sizes


def test_the_same_rule_tag_on_duckdb_and_clickhouse(pair: Pair) -> None:
    often, rare = _events(pair.dataset)
    definition = {
        "cases": [
            {"when": {"event": rare, "within_days": 30}, "then": "买家"},
            {"when": {"event": often, "op": ">=", "value": 3}, "then": "活跃"},
        ],
        "else": "其他",
    }

    def rows(wh: Warehouse) -> list[dict[str, Any]]:
        table = evaluate_rule_tag(wh, definition, today=pair.today).to_pyarrow()
        return sorted(table.to_pylist(), key=lambda r: r["user_id"])

    on_duckdb = rows(pair.duckdb)
    assert rows(pair.clickhouse) == on_duckdb
    assert {r["value"] for r in on_duckdb} == {"买家", "活跃", "其他"}
