"""The Retention tab: the cohort heatmap (percentages, cohort sizes, the average row) and the
retention curve, by trait or split by an early action ("did they add to cart in their first
week?"), with a preset link that asks that question in one click."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

from sqlalchemy import Engine

from userops.analytics import retention as metric
from userops.analytics.catalog import DataDays
from userops.analytics.early_action import (
    DID,
    EarlyActionRetention,
    early_action_retention,
)
from userops.analytics.early_action import MAX_WITHIN_DAYS as MAX_EARLY_DAYS
from userops.analytics.retention import Cohort, Retention, parse_basis
from userops.errors import InputError
from userops.profiles import segments
from userops.profiles.segments import SegmentInfo
from userops.warehouse.connection import Warehouse
from userops.web.analytics.charts import chart, series
from userops.web.analytics.controls import Params
from userops.web.analytics.page import Ask, grouped
from userops.web.i18n import Translator

DEFAULT_PERIODS: Final = {"day": 7, "week": 8, "month": 6}
MAX_SHOWN_PERIODS: Final = 60  # columns of the heatmap
EARLY_EVENTS: Final = ("add_to_cart", "purchase")  # the preset's early action, when they exist
EARLY_DAYS: Final = 7
PRESET_DAYS: Final = 90


def build(wh: Warehouse, ask: Ask) -> dict[str, Any]:
    c, p = ask.common, ask.params
    period = p.period("day")
    periods = p.integer("periods", DEFAULT_PERIODS[period], 0, MAX_SHOWN_PERIODS)
    basis = parse_basis(p.text("cohort") or "first-activity")
    return_event = p.text("return_event")
    unbounded = p.flag("unbounded")
    early = p.texts("early")
    split: EarlyActionRetention | None = None
    if early:
        if c.by is not None:
            raise InputError(
                f"choose a breakdown ({c.by}) or an early action ({', '.join(early)}), not both"
            )
        split = early_action_retention(
            wh,
            events=early,
            within_days=p.integer("early_days", EARLY_DAYS, 1, MAX_EARLY_DAYS),
            period=period,
            periods=periods,
            start=c.start,
            end=c.end,
            basis=basis,
            return_event=return_event,
            unbounded=unbounded,
            filters=c.filters,
        )
        result = split.retention
    else:
        result = metric.retention(
            wh,
            period=period,
            periods=periods,
            start=c.start,
            end=c.end,
            basis=basis,
            return_event=return_event,
            unbounded=unbounded,
            filters=c.filters,
            by=c.by,
        )
    columns = [
        ask.t(f"analytics.retention.k_{period}", k=k)
        if k
        else ask.t(f"analytics.retention.k0_{period}")
        for k in range(periods + 1)
    ]
    tables = _tables(result, ask, split)
    lines = [series(table["label"], table["average"]) for table in tables]
    return {
        "period": period,
        "periods": periods,
        "basis": basis,
        "unbounded": unbounded,
        "split": split,
        "share": split.share() if split is not None else None,
        "columns": columns,
        "tables": tables,
        "charts": {"curve": chart("line", columns, lines, fmt="pct")},
        "empty": all(c.size == 0 for c in result.cohorts),
        "segment_link": ask.params.link("/analytics/retention/segment"),
    }


def save_cell(
    engine: Engine, wh: Warehouse, ask: Ask, *, code: str, name: str, actor: str
) -> SegmentInfo:
    """One cell of the page's retention table saved as a static segment: the cohort's users
    active in period `k` (`users=retained`) or not (`users=lost`), as the API's retention
    segment (docs/segments.md)."""
    c, p = ask.common, ask.params
    if c.by is not None or p.texts("early"):
        raise InputError("a cell of the whole table only: remove the breakdown or early action")
    cohort = p.text("cell_cohort")
    try:
        day = date.fromisoformat(cohort or "")
    except ValueError:
        raise InputError(f"cohort {cohort!r} is not a date (YYYY-MM-DD)") from None
    kept = p.text("cell_users") or "retained"
    if kept not in ("retained", "lost"):
        raise InputError(f"users {kept!r}: retained or lost")
    return segments.create_from_retention(
        engine,
        wh,
        code=code,
        name=name,
        period=p.period("day"),
        start=c.start,
        end=c.end,
        cohort=day,
        k=p.integer("cell_k", 1, 0, MAX_SHOWN_PERIODS),
        basis=parse_basis(p.text("cohort") or "first-activity"),
        return_event=p.text("return_event"),
        unbounded=p.flag("unbounded"),
        filters=c.filters,
        retained=kept == "retained",
        actor=actor,
    )


def _tables(
    result: Retention, ask: Ask, split: EarlyActionRetention | None
) -> list[dict[str, Any]]:
    """One heatmap per group (one in all without a breakdown)."""
    tables = []
    for group, cohorts in grouped(result.cohorts, lambda c: c.group).items():
        average = result.group_average(group) if result.by else result.average()
        if split is not None:
            events = ask.t("analytics.or").join(split.events)
            key = "analytics.retention.did" if group == DID else "analytics.retention.did_not"
            label = ask.t(key, events=events, days=split.within_days)
        elif result.by is not None:
            label = ask.label(group)
        else:
            label = ask.t("analytics.retention.all_cohorts")
        tables.append(
            {
                "group": group,
                "label": label,
                "size": sum(c.size for c in cohorts),
                "average": list(average),
                "rows": [_row(c) for c in cohorts],
            }
        )
    return tables


def _row(cohort: Cohort) -> dict[str, Any]:
    return {
        "cohort": cohort.cohort,
        "size": cohort.size,
        "retained": cohort.retained,
        "rates": cohort.rates,
    }


def presets(
    params: Params, events: list[str], covered: DataDays | None, t: Translator
) -> list[dict[str, str]]:
    """One click to the question of docs/demo-data.md: do users who add to cart or buy in their
    first week stay? Weekly signup cohorts of the last 90 days of data, "on or after" returns,
    split by that early action."""
    early = [e for e in EARLY_EVENTS if e in events]
    if not early or covered is None:
        return []
    start = max(covered.first, covered.last - timedelta(days=PRESET_DAYS - 1))
    href = params.link(
        keep=(),
        from_=start,
        to=covered.last,
        period="week",
        periods=8,
        cohort="signup",
        unbounded=1,
        early=early,
        early_days=EARLY_DAYS,
    )
    joined = t("analytics.or").join(early)
    return [
        {
            "id": "early-action",
            "href": href,
            "title": t("analytics.preset.early.title", events=joined, days=EARLY_DAYS),
            "help": t("analytics.preset.early.help"),
        }
    ]
