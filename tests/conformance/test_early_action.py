"""Retention split by an early action, and what the console's pickers read from the warehouse,
give the same answers on DuckDB and on ClickHouse (chDB). The split runs signup cohorts,
unbounded, on the demo (daylight saving inside the range) and first-activity cohorts on the
hard cases (first events a minute either side of midnight)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conformance.conftest import Engines, on_dataset
from userops.analytics import catalog
from userops.analytics.early_action import DID, early_action_retention
from userops.analytics.filters import parse_where
from userops.analytics.retention import CohortBasis
from userops.warehouse.connection import Warehouse


def _split(wh: Warehouse, r: Engines, basis: CohortBasis, unbounded: bool) -> object:
    events = ["add_to_cart", "purchase"] if r.dataset == "demo" else ["cart", "buy"]
    where = ["prop.category!=美妆个护"] if r.dataset == "demo" else []
    return early_action_retention(
        wh,
        events=events,
        within_days=2,
        period="day",
        periods=5,
        start=r.start,
        end=r.end,
        basis=basis,
        unbounded=unbounded,
        filters=parse_where(where),
    )


@pytest.mark.parametrize(
    ("dataset", "basis", "unbounded"),
    [on_dataset("demo", "signup", True), on_dataset("hard", "first_activity", False)],
    ids=["demo-signup-unbounded", "hard-first-activity"],
)
def test_early_action_on_both_engines(
    warehouses: Callable[[str], Engines], dataset: str, basis: CohortBasis, unbounded: bool
) -> None:
    engines = warehouses(dataset)
    on_duckdb = _split(engines.duckdb, engines, basis, unbounded)
    on_clickhouse = _split(engines.clickhouse, engines, basis, unbounded)
    assert on_clickhouse == on_duckdb
    cohorts = on_duckdb.retention.cohorts  # type: ignore[attr-defined]
    assert sum(c.size for c in cohorts if c.group == DID) > 0  # not all zeros


def test_the_catalog_on_both_engines(engines: Engines) -> None:
    duck, click = engines.duckdb, engines.clickhouse
    assert catalog.data_days(click) == catalog.data_days(duck) is not None
    assert catalog.event_names(click) == catalog.event_names(duck) != []
    for field in ("channel", "city"):
        assert catalog.trait_values(click, field) == catalog.trait_values(duck, field)
    assert catalog.custom_trait_keys(click) == catalog.custom_trait_keys(duck)
