"""Every metric gives the same answer on DuckDB and on ClickHouse (chDB), from the same Ibis code;
where DuckDB has a fast path (the event index), the fast path gives that answer too.

Each entry of `METRICS` is one metric call; the test runs it against the DuckDB warehouse and
against the ClickHouse one (`conftest.warehouses`) and compares the results' JSON. A metric the
event index computes on DuckDB (`indexed=True`) runs three times: on the index (the test fails
if it ran an expression instead), by its portable expression on DuckDB
(`eventindex.portable()`), and on ClickHouse, where only the expression exists; all three must
be equal. Adding a metric is one entry:

    Metric(
        "retention-week",
        lambda wh, r: retention(wh, period="week", periods=4, start=r.start, end=r.end),
        retention_check,
        indexed=True,
    ),

where `r` gives the data set (`r.dataset`) and the range of days that has data (`r.start`,
`r.end`), and the third part fails when the result shows too little (equal zeros prove
nothing). `datasets=` runs it on one data set only. A metric that cannot run on ClickHouse yet
is listed all the same with `xfail="why"`: a strict expected failure, never a skip, so the
suite fails the day it starts to pass and the marker cannot outlive its reason.
tests/conformance/README.md says more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ibis
import pytest

from tests.conformance.chdb_backend import ChdbBackend
from tests.conformance.conftest import COSTS, DATASETS, Engines, on_dataset
from userops.analytics import activity, eventindex, funnels
from userops.analytics import retention as retention_module
from userops.analytics.activity import active_users, new_users, stickiness
from userops.analytics.base import UnboundSource
from userops.analytics.channels import channel_exprs, channels
from userops.analytics.filters import Filters, PropertyFilter, TraitFilter, parse_where
from userops.analytics.funnels import Funnel, FunnelSpec, FunnelStep, funnel, funnel_users_expr
from userops.analytics.lifecycle import lifecycle
from userops.analytics.overview import overview
from userops.analytics.retention import retention
from userops.analytics.revenue import revenue
from userops.profiles.computed import FACT_MODELS
from userops.warehouse.connection import Warehouse

Json = Any


@dataclass(frozen=True)
class Metric:
    name: str
    run: Callable[[Warehouse, Engines], Any]
    exercised: Callable[[Json, str], None]  # fails when the result shows too little (zeros)
    indexed: bool = False  # on DuckDB the event index computes it (analytics.indexed)
    datasets: tuple[str, ...] = DATASETS  # where it runs (README: "Which data set")
    xfail: str | None = None  # why it cannot run on ClickHouse yet (a strict expected failure)

    def __str__(self) -> str:
        return self.name


def as_json(result: Any) -> Json:
    if isinstance(result, Funnel):  # with the users behind each step: who reached, who dropped
        n = len(result.spec.steps)
        return {
            **result.as_json(),
            "reached": [result.reached_users(k) for k in range(1, n + 1)],
            "dropped": [result.dropped_users(k) for k in range(2, n + 1)],
        }
    return result.as_json() if hasattr(result, "as_json") else result


@contextmanager
def expressions_forbidden() -> Iterator[None]:
    """Within the block, a metric that runs one of its expressions fails (the index must)."""

    def expression_run(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("the metric ran its expression instead of using the event index")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(activity, "fetch", expression_run)
        patch.setattr(retention_module, "fetch", expression_run)
        patch.setattr(funnels, "funnel_users_expr", expression_run)
        yield


# --- what each data set offers ------------------------------------------------------------------


def pick(r: Engines, *, demo: Any, hard: Any) -> Any:
    return demo if r.dataset == "demo" else hard


def often(r: Engines) -> str:
    return pick(r, demo="view_item", hard="view")


def traits(r: Engines) -> Filters:
    """Trait filters that keep most users (and anonymous visitors, for `!=`)."""
    return pick(
        r,
        demo=parse_where(["city!=上海", "trait.device_os!=iOS"]),
        hard=parse_where(["channel!=ads"]),
    )


def props(r: Engines) -> Filters:
    """An event property filter (with a trait filter): metrics then run expressions only."""
    return pick(
        r,
        demo=parse_where(["prop.category!=美妆个护", "channel!=unknown"]),
        hard=parse_where(["prop.price>=50", "city!=上海"]),
    )


def _funnel(steps: list[str | FunnelStep], r: Engines, **kw: Any) -> FunnelSpec:
    return FunnelSpec.of(steps, start=r.start, end=r.end, **kw)


def _steps(r: Engines, demo: list[str | FunnelStep], hard: list[str | FunnelStep]) -> Any:
    return pick(r, demo=demo, hard=hard)


VIEW_PHONE = FunnelStep("view_item", (PropertyFilter("category", "!=", ("美妆个护",)),))
SHOP = ["app_open", "view_item", "add_to_cart", "purchase"]
HARD = ["open", "view", "cart", "buy"]


# --- what each result must show -----------------------------------------------------------------


def positive(**numbers: float) -> None:
    zeros = sorted(name for name, n in numbers.items() if not n > 0)
    assert not zeros, f"equal answers prove little when these are zero: {zeros}"


def total(rows: list[dict[str, Any]], key: str) -> float:
    return float(sum(row[key] for row in rows))


def series(*keys: str) -> Callable[[Json, str], None]:
    """Every key of the series adds up to more than 0."""
    return lambda j, _dataset: positive(**{k: total(j["series"], k) for k in keys})


def funnel_check(j: Json, _dataset: str) -> None:
    last = j["steps"][-1]
    positive(last_step=last["count"], median_to_last=last["median_seconds_from_first"] or 0)


def retention_check(j: Json, _dataset: str) -> None:
    positive(
        cohorts=total(j["cohorts"], "size"),
        came_back=sum(sum(c["retained"][1:]) for c in j["cohorts"]),
    )


def revenue_check(j: Json, _dataset: str) -> None:
    summary = j["summary"]
    positive(
        active=summary["active_users"],
        paying=summary["paying_users"],
        revenue=float(summary["revenue"]),
        repurchase=summary["repurchase_rate"] or 0,
        first_purchases=summary["first_purchase_users"],
        churned=total(j["series"], "churned_users"),
        groups=len(j["groups"]),
    )


def channels_check(j: Json, dataset: str) -> None:
    everyone, groups = j["total"], j["groups"]
    positive(new=everyone["new_users"], activated=everyone["activated_users"], groups=len(groups))
    if dataset == "demo" and j["by"] == "channel":  # costs are known for two channels only
        costed = {g["group"] for g in groups if g["cost"] is not None}
        assert costed == set(COSTS), costed
        assert all(g["cac"] is not None and g["roi"] is not None for g in groups if g["cost"])
        positive(revenue=float(everyone["revenue"]), cost=float(everyone["cost"]))


HARD_ONLY = ("hard",)
DEMO_ONLY = ("demo",)

METRICS: list[Metric] = [
    # --- activity
    Metric(
        "active-day",
        lambda wh, r: active_users(wh, period="day", start=r.start, end=r.end),
        series("active"),
        indexed=True,
    ),
    Metric(
        "active-week-event-traits-by-channel",
        lambda wh, r: active_users(
            wh,
            period="week",
            start=r.start,
            end=r.end,
            event=often(r),
            filters=traits(r),
            by="channel",
        ),
        series("active"),
        indexed=True,
        datasets=DEMO_ONLY,
    ),
    Metric(
        "active-month-props-by-custom-trait",
        lambda wh, r: active_users(
            wh, period="month", start=r.start, end=r.end, filters=props(r), by="trait.device_os"
        ),
        series("active"),
        datasets=DEMO_ONLY,
    ),
    Metric(
        "stickiness-by-city",
        lambda wh, r: stickiness(wh, start=r.start, end=r.end, by="city"),
        series("dau", "wau"),
        indexed=True,
        datasets=HARD_ONLY,
    ),
    Metric(
        "stickiness-event-props",
        lambda wh, r: stickiness(wh, start=r.start, end=r.end, event=often(r), filters=props(r)),
        series("dau", "mau"),
        datasets=DEMO_ONLY,
    ),
    Metric(
        "new-users-day-by-channel",
        lambda wh, r: new_users(wh, period="day", start=r.start, end=r.end, by="channel"),
        series("new_users"),
    ),
    Metric(
        "new-users-week-traits-by-city",
        lambda wh, r: new_users(
            wh, period="week", start=r.start, end=r.end, filters=traits(r), by="city"
        ),
        series("new_users"),
        datasets=DEMO_ONLY,
    ),
    # --- retention
    Metric(
        "retention-day-first-activity",
        lambda wh, r: retention(wh, period="day", periods=7, start=r.start, end=r.end),
        retention_check,
        indexed=True,
    ),
    Metric(
        "retention-week-signup-unbounded-return-event",
        lambda wh, r: retention(
            wh,
            period="week",
            periods=3,
            start=r.start,
            end=r.end,
            basis="signup",
            return_event=often(r),
            unbounded=True,
            filters=traits(r),
            by="channel",
        ),
        retention_check,
        indexed=True,
        datasets=DEMO_ONLY,
    ),
    Metric(
        "retention-month-first-activity-props-by-city",
        lambda wh, r: retention(
            wh, period="month", periods=1, start=r.start, end=r.end, filters=props(r), by="city"
        ),
        retention_check,  # October's cohort back in November
        datasets=DEMO_ONLY,
    ),
    # --- funnels: every order on the hard cases (ties, repeated names, window edges)
    Metric(
        "funnel",
        lambda wh, r: funnel(wh, _funnel(_steps(r, SHOP, HARD), r)),
        funnel_check,
        indexed=True,
    ),
    Metric(
        "funnel-repeated-steps",
        lambda wh, r: funnel(wh, _funnel(["view", "view", "buy"], r)),
        funnel_check,
        indexed=True,
        datasets=HARD_ONLY,
    ),
    Metric(
        "funnel-strict",
        lambda wh, r: funnel(wh, _funnel(HARD[:3], r, order="strict", window="1d")),
        funnel_check,
        indexed=True,
        datasets=HARD_ONLY,
    ),
    Metric(
        "funnel-any-by-channel",
        lambda wh, r: funnel(
            wh,
            _funnel(["open", "cart", "view", "view"], r, order="any", window="2d", by="channel"),
        ),
        funnel_check,
        datasets=HARD_ONLY,
    ),
    Metric(
        "funnel-traits-by-gender",
        lambda wh, r: funnel(wh, _funnel(SHOP[1:], r, window="2d", by="gender", filters=traits(r))),
        funnel_check,
        indexed=True,
        datasets=DEMO_ONLY,
    ),
    Metric(
        "funnel-step-and-trait-filters-by-city",
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
        funnel_check,
    ),
    # --- conversion and revenue (the hard cases have no revenue)
    Metric(
        "revenue-week-props-traits-within-3-days-by-channel",
        lambda wh, r: revenue(
            wh,
            period="week",
            start=r.start,
            end=r.end,
            within_days=3,
            filters=props(r),
            by="channel",
        ),
        revenue_check,
        datasets=DEMO_ONLY,
    ),
    # --- channels (costs on the demo)
    Metric(
        "channels",
        lambda wh, r: channels(wh, start=r.start, end=r.end),
        channels_check,
    ),
    Metric(
        "channels-by-city-activation-event-traits",
        lambda wh, r: channels(
            wh,
            start=r.start,
            end=r.end,
            by="city",
            filters=traits(r),
            activation_event=often(r),
            activation_days=2,
            retention_days=(1, 3),
            ltv_days=(0, 7),
        ),
        channels_check,
        datasets=DEMO_ONLY,
    ),
    # --- lifecycle
    Metric(
        "lifecycle-day-event-props",
        lambda wh, r: lifecycle(
            wh, period="day", start=r.start, end=r.end, event=often(r), filters=props(r)
        ),
        series("new", "returning", "resurrecting", "dormant"),
        datasets=HARD_ONLY,
    ),
    Metric(
        "lifecycle-week-traits-by-city",
        lambda wh, r: lifecycle(
            wh, period="week", start=r.start, end=r.end, filters=traits(r), by="city"
        ),
        series("new", "returning", "resurrecting", "dormant"),
        datasets=DEMO_ONLY,
    ),
    # --- the console's overview
    Metric(
        "overview",
        lambda wh, r: overview(wh, end=r.end, days=14),
        series("active_users", "new_users"),
    ),
]

CASES = [
    on_dataset(dataset, metric, xfail=metric.xfail)
    for metric in METRICS
    for dataset in metric.datasets
]


@pytest.mark.parametrize(("dataset", "metric"), CASES, ids=str)
def test_the_same_result_on_duckdb_and_clickhouse(
    warehouses: Callable[[str], Engines], dataset: str, metric: Metric
) -> None:
    r = warehouses(dataset)
    if metric.indexed:
        with expressions_forbidden():
            on_index = as_json(metric.run(r.duckdb, r))
        with eventindex.portable():
            on_duckdb = as_json(metric.run(r.duckdb, r))
        assert on_index == on_duckdb, "the event index and the portable expression differ"
    else:
        on_duckdb = as_json(metric.run(r.duckdb, r))
    on_clickhouse = as_json(metric.run(r.clickhouse, r))
    assert on_clickhouse == on_duckdb
    metric.exercised(on_duckdb, dataset)


@pytest.mark.xdist_group("conformance-demo")
def test_unbound_tables_compile_to_the_sql_the_engine_runs(
    warehouses: Callable[[str], Engines],
) -> None:
    """`ibis.to_sql` over unbound tables gives exactly the SQL the ClickHouse backend sends:
    the expression builders need no server (channel costs included: unbound, the costs table
    is taken to exist; and a computed tag model, test_tags.py)."""
    r = warehouses("demo")
    unbound = UnboundSource("clickhouse", r.clickhouse.timezone)
    backend = r.clickhouse.ibis
    assert isinstance(backend, ChdbBackend)
    spec = _funnel(SHOP, r, by="channel")
    builders: list[Callable[[Any], Any]] = [
        lambda s: funnel_users_expr(s, spec),
        lambda s: channel_exprs(s, start=r.start, end=r.end).costs,
        lambda s: FACT_MODELS["rfm"].expression(s, {}, "group", today=r.end),
    ]
    for build in builders:
        bound_sql = backend.compile(build(r.clickhouse))
        unbound_sql = ibis.to_sql(build(unbound), dialect="clickhouse", pretty=False)
        assert str(unbound_sql).strip() == bound_sql.strip()


@pytest.mark.xdist_group("conformance-hard")
def test_clickhouse_needs_join_use_nulls(warehouses: Callable[[str], Engines]) -> None:
    """Why a userops ClickHouse connection sets join_use_nulls = 1: without it an outer join
    fills unmatched columns with '' instead of NULL, and every anonymous event nobody logged in
    from would belong to one user named '' (the hard cases have such visitors)."""
    r = warehouses("hard")
    backend = r.clickhouse.ibis
    spec = _funnel(HARD, r)
    right = funnel(r.clickhouse, spec)
    backend.raw_sql("SET join_use_nulls = 0")
    try:
        wrong = funnel(r.clickhouse, spec)
    finally:
        backend.raw_sql("SET join_use_nulls = 1")
    assert "" in wrong.reached_users(1) and "" not in right.reached_users(1)
    assert wrong.steps[0].count < right.steps[0].count
