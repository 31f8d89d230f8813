"""Every metric gives the same answer on DuckDB and on ClickHouse (chDB), from the same Ibis code.

Each entry of `METRICS` is one metric call; the test runs it against the DuckDB warehouse and
against the ClickHouse one (`conftest.engines`) and compares the results' JSON. Adding a metric
is one line:

    Metric("retention", lambda wh, r: retention(wh, start=r.start, end=r.end)),

where `r` gives the range of days that has data (`r.start`, `r.end`). A metric that cannot run
on ClickHouse yet gets an explicit, strict expected failure naming why, never a skip:

    pytest.param(Metric(...), marks=pytest.mark.xfail(strict=True, reason="...")),

`strict=True` makes the suite fail the day it starts to pass, so the marker cannot outlive the
reason. tests/conformance/README.md says more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import pytest

from tests.conformance.chdb_backend import ChdbBackend
from tests.conformance.conftest import Engines
from userops.analytics.base import UnboundSource
from userops.analytics.filters import Filters, PropertyFilter, TraitFilter
from userops.analytics.funnels import FunnelSpec, FunnelStep, funnel, funnel_users_expr
from userops.analytics.overview import overview
from userops.warehouse.connection import Warehouse


@dataclass(frozen=True)
class Metric:
    name: str
    run: Callable[[Warehouse, Engines], Any]

    def __str__(self) -> str:
        return self.name


def as_json(result: Any) -> Any:
    return result.as_json() if hasattr(result, "as_json") else result


def _funnel(steps: list[str | FunnelStep], r: Engines, **kw: Any) -> FunnelSpec:
    return FunnelSpec.of(steps, start=r.start, end=r.end, **kw)


VIEW_PHONE = FunnelStep("view_item", (PropertyFilter("category", "!=", ("美妆个护",)),))
SHOP = ["app_open", "view_item", "add_to_cart", "purchase"]
HARD = ["open", "view", "cart", "buy"]


def _steps(r: Engines, demo: list[str | FunnelStep], hard: list[str | FunnelStep]) -> Any:
    return demo if r.dataset == "demo" else hard


METRICS: list[Any] = [
    Metric("overview", lambda wh, r: overview(wh, end=r.end, days=14)),
    Metric("funnel", lambda wh, r: funnel(wh, _funnel(_steps(r, SHOP, HARD), r))),
    Metric(
        "funnel-repeated-steps",
        lambda wh, r: funnel(
            wh,
            _funnel(_steps(r, ["view_item", "view_item", "purchase"], ["view", "view", "buy"]), r),
        ),
    ),
    Metric(
        "funnel-strict",
        lambda wh, r: funnel(wh, _funnel(_steps(r, SHOP, HARD), r, order="strict", window="1d")),
    ),
    Metric(
        "funnel-any-by-channel",
        lambda wh, r: funnel(
            wh,
            _funnel(
                _steps(
                    r,
                    ["app_open", "add_to_cart", "view_item", "view_item"],
                    ["open", "cart", "view", "view"],
                ),
                r,
                order="any",
                window="2d",
                by="channel",
            ),
        ),
    ),
    Metric(
        "funnel-filters",
        lambda wh, r: funnel(
            wh,
            _funnel(
                _steps(
                    r,
                    ["app_open", VIEW_PHONE, "purchase"],
                    ["open", FunnelStep("view", (PropertyFilter("price", ">=", ("50",)),)), "buy"],
                ),
                r,
                window="36h",
                by="city",
                filters=Filters(traits=(TraitFilter("channel", "!=", ("unknown",)),)),
            ),
        ),
    ),
]


@pytest.mark.parametrize("metric", METRICS, ids=str)
def test_the_same_result_on_duckdb_and_clickhouse(engines: Engines, metric: Metric) -> None:
    on_duckdb = as_json(metric.run(engines.duckdb, engines))
    on_clickhouse = as_json(metric.run(engines.clickhouse, engines))
    assert on_clickhouse == on_duckdb


def test_the_data_sets_exercise_the_metrics(engines: Engines) -> None:
    """Equal answers prove little if they are all zeros."""
    shop = funnel(engines.duckdb, _funnel(_steps(engines, SHOP, HARD), engines))
    counts = [s.count for s in shop.steps]
    assert counts[0] > counts[-1] > 0, counts
    days = overview(engines.duckdb, end=engines.end, days=14).days
    assert sum(d.active_users for d in days) > 0
    if engines.dataset == "demo":
        assert sum(d.paying_users for d in days) > 0 and sum(d.new_users for d in days) > 0


def test_unbound_tables_compile_to_the_sql_the_engine_runs(engines: Engines) -> None:
    """`ibis.to_sql` over unbound tables gives exactly the SQL the ClickHouse backend sends."""
    spec = _funnel(_steps(engines, SHOP, HARD), engines, by="channel")
    unbound = UnboundSource("clickhouse", engines.clickhouse.timezone)
    backend = engines.clickhouse.ibis
    assert isinstance(backend, ChdbBackend)
    bound_sql = backend.compile(funnel_users_expr(engines.clickhouse, spec))
    unbound_sql = ibis.to_sql(funnel_users_expr(unbound, spec), dialect="clickhouse", pretty=False)
    assert str(unbound_sql).strip() == bound_sql.strip()


def test_clickhouse_needs_join_use_nulls(engines: Engines) -> None:
    """Why a userops ClickHouse connection sets join_use_nulls = 1: without it an outer join
    fills unmatched columns with '' instead of NULL, and every anonymous event nobody logged in
    from would belong to one user named ''."""
    backend = engines.clickhouse.ibis
    spec = _funnel(_steps(engines, SHOP, HARD), engines)
    right = funnel(engines.clickhouse, spec)
    backend.raw_sql("SET join_use_nulls = 0")
    try:
        wrong = funnel(engines.clickhouse, spec)
    finally:
        backend.raw_sql("SET join_use_nulls = 1")
    assert "" in wrong.reached_users(1) and "" not in right.reached_users(1)
    assert wrong.steps[0].count < right.steps[0].count
