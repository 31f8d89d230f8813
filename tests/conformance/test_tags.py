"""Every computed tag model gives the same rows on DuckDB and on ClickHouse (chDB), from the
same Ibis code (profiles.computed). Each model runs on both conformance data sets with its
default parameters; its variants run on the data set where they find something to tell apart
(money and invitations are the demo's). A model that could not run on ClickHouse would be
listed with a strict expected failure naming why, never skipped.

The SQL the ClickHouse backend ran is checked too: no RANK() (ClickHouse ranks each row of a
ROWS frame on its own), and local days that name the warehouse's zone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conformance.chdb_backend import ChdbBackend
from tests.conformance.conftest import DATASETS, Engines, on_dataset
from userops.profiles.computed import FACT_MODELS
from userops.profiles.history import migration_counts

HARD, DEMO = ("hard",), ("demo",)

MODELS: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("rfm", "group", {}, DATASETS),
    ("rfm", "r", {}, HARD),
    ("rfm", "f", {"lookback_days": 30}, DEMO),
    ("rfm", "m", {}, DEMO),
    ("rfm", "group", {"scoring": "threshold", "compare": "cut"}, DEMO),
    ("lifecycle", "value", {}, DATASETS),
    ("lifecycle", "value", {"dormant_days": 3, "churn_days": 10, "mature_age_days": 0}, HARD),
    ("grade", "value", {}, DATASETS),
    ("grade", "value", {"measure": "active_days", "lookback_days": 14}, HARD),
    (
        "grade",
        "value",
        {
            "measure": "events",
            "event": "view_item",
            "method": "thresholds",
            "thresholds": [10, 5, 2, 1],
        },
        DEMO,
    ),
    ("intent", "value", {}, DATASETS),
    ("activity", "value", {"window_days": 7, "high_days": 4, "medium_days": 2}, DATASETS),
    ("spread", "join_path", {}, DEMO),
    ("spread", "invitees", {}, DEMO),
    ("spread", "self_propagation", {}, DEMO),
]
CASES = [
    on_dataset(dataset, model, output, params)
    for model, output, params, datasets in MODELS
    for dataset in datasets
]


def _rows(wh: Any, model: str, output: str, params: dict[str, Any], engines: Engines) -> list:
    expr = FACT_MODELS[model].expression(wh, params, output, today=engines.end)
    rows = expr.to_pyarrow().to_pylist()
    return sorted((r["user_id"], r["value"], r["number"]) for r in rows)


@pytest.mark.parametrize(("dataset", "model", "output", "params"), CASES, ids=lambda v: str(v)[:40])
def test_model_same_on_both_engines(
    warehouses: Callable[[str], Engines],
    dataset: str,
    model: str,
    output: str,
    params: dict[str, Any],
) -> None:
    engines = warehouses(dataset)
    duck = _rows(engines.duckdb, model, output, params, engines)
    house = _rows(engines.clickhouse, model, output, params, engines)
    assert duck == house
    if model in {"lifecycle", "intent", "activity"}:
        assert duck, "the data set tags someone"
    backend = engines.clickhouse.ibis
    assert isinstance(backend, ChdbBackend)
    sql = backend.last_sql
    assert "RANK()" not in sql
    if model in {"rfm", "lifecycle"}:
        assert f"'{engines.clickhouse.timezone}'" in sql


def test_migration_counts_same_on_both_engines(engines: Engines) -> None:
    duck = migration_counts(engines.duckdb, "rfm_group", engines.start, engines.end)
    house = migration_counts(engines.clickhouse, "rfm_group", engines.start, engines.end)
    assert duck.to_pyarrow().to_pylist() == house.to_pyarrow().to_pylist() == []
