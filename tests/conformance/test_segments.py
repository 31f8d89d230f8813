"""Segment previews and rule tags give the same users on DuckDB and on ClickHouse (chDB).

The data sets are the suite's own (`hard` and `demo`, conftest._fill), which hold tag values
and the members of a static segment too, written into the DuckDB warehouse before its tables
are copied to chDB, so every kind of condition (trait, custom trait, age, created_at, tag,
behaviour with property filters and measures, segment) runs on both engines.
"""

from __future__ import annotations

from typing import Any

from tests.conformance.conftest import Engines
from userops.profiles.ruletags import evaluate_rule_tag
from userops.profiles.segments import preview
from userops.warehouse.connection import Warehouse


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


def test_the_same_audience_on_duckdb_and_clickhouse(engines: Engines) -> None:
    sizes = []
    for rule in rules(engines.dataset):
        on_duckdb = preview(engines.duckdb, rule, today=engines.end, sample=1000).as_json()
        on_clickhouse = preview(engines.clickhouse, rule, today=engines.end, sample=1000).as_json()
        assert on_clickhouse == on_duckdb, rule
        sizes.append(on_duckdb["count"])
    # Equal answers prove little if they are all empty or all everyone.
    assert sum(1 for n in sizes if n > 0) >= len(sizes) - 3, sizes
    assert len(set(sizes)) > len(sizes) // 2, sizes


def test_the_same_rule_tag_on_duckdb_and_clickhouse(engines: Engines) -> None:
    often, rare = _events(engines.dataset)
    definition = {
        "cases": [
            {"when": {"event": rare, "within_days": 30}, "then": "买家"},
            {"when": {"event": often, "op": ">=", "value": 3}, "then": "活跃"},
        ],
        "else": "其他",
    }

    def rows(wh: Warehouse) -> list[dict[str, Any]]:
        table = evaluate_rule_tag(wh, definition, today=engines.end).to_pyarrow()
        return sorted(table.to_pylist(), key=lambda r: r["user_id"])

    on_duckdb = rows(engines.duckdb)
    assert rows(engines.clickhouse) == on_duckdb
    assert {r["value"] for r in on_duckdb} == {"买家", "活跃", "其他"}
