"""Every computed tag model gives the same rows on DuckDB and on ClickHouse (chDB), from the
same Ibis code (profiles.computed), on both conformance data sets. A model that could not run
on ClickHouse would be listed with a strict expected failure naming why, never skipped."""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis
import pytest

from tests.conformance.conftest import Engines
from userops.analytics.base import UnboundSource
from userops.profiles.computed import FACT_MODELS
from userops.profiles.history import migration_counts

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("rfm", "group", {}),
    ("rfm", "r", {}),
    ("rfm", "f", {"lookback_days": 30}),
    ("rfm", "m", {}),
    ("rfm", "group", {"scoring": "threshold", "compare": "cut"}),
    ("lifecycle", "value", {}),
    ("lifecycle", "value", {"dormant_days": 3, "churn_days": 10, "mature_age_days": 0}),
    ("grade", "value", {}),
    ("grade", "value", {"measure": "active_days", "lookback_days": 14}),
    (
        "grade",
        "value",
        {
            "measure": "events",
            "event": "view_item",
            "method": "thresholds",
            "thresholds": [10, 5, 2, 1],
        },
    ),
    ("intent", "value", {}),
    ("activity", "value", {"window_days": 7, "high_days": 4, "medium_days": 2}),
    ("spread", "join_path", {}),
    ("spread", "invitees", {}),
    ("spread", "self_propagation", {}),
]


def _rows(wh: Any, model: str, output: str, params: dict[str, Any], engines: Engines) -> list:
    expr = FACT_MODELS[model].expression(wh, params, output, today=engines.end)
    rows = expr.to_pyarrow().to_pylist()
    return sorted((r["user_id"], r["value"], r["number"]) for r in rows)


@pytest.mark.parametrize(("model", "output", "params"), CASES, ids=lambda v: str(v)[:40])
def test_model_same_on_both_engines(
    engines: Engines, model: str, output: str, params: dict[str, Any]
) -> None:
    duck = _rows(engines.duckdb, model, output, params, engines)
    house = _rows(engines.clickhouse, model, output, params, engines)
    assert duck == house
    if model in {"lifecycle", "intent", "activity"}:
        assert duck, "the data set tags someone"


def test_models_compile_for_clickhouse_without_a_server() -> None:
    """Unbound tables give the SQL a ClickHouse server would get: no RANK() (ClickHouse ranks
    each row of a ROWS frame on its own), and local days that name the zone."""
    source = UnboundSource("clickhouse", "Asia/Shanghai")
    for model, output, params in CASES:
        expr = FACT_MODELS[model].expression(source, params, output, today=date(2026, 11, 20))
        sql = ibis.to_sql(expr, dialect="clickhouse")
        assert "RANK()" not in sql
        if model in {"rfm", "lifecycle"}:
            assert "'Asia/Shanghai'" in sql


def test_migration_counts_same_on_both_engines(engines: Engines) -> None:
    duck = migration_counts(engines.duckdb, "rfm_group", engines.start, engines.end)
    house = migration_counts(engines.clickhouse, "rfm_group", engines.start, engines.end)
    assert duck.to_pyarrow().to_pylist() == house.to_pyarrow().to_pylist() == []
