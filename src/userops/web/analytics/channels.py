"""The Channels tab: the users each channel brought in the range, ranked by the measure the
operator picks (paying rate first), with the best channel drawn apart in the chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

from userops.analytics import channels as metric
from userops.analytics.catalog import DataDays
from userops.analytics.channels import ChannelRow
from userops.warehouse.connection import Warehouse
from userops.web.analytics.charts import Format, chart, series
from userops.web.analytics.controls import Params
from userops.web.analytics.page import Ask
from userops.web.i18n import Translator

Measure = Callable[[ChannelRow], float | Decimal | int | None]

# sort key -> (how to read it from a row, format)
SORTS: Final[dict[str, tuple[Measure, Format]]] = {
    "paying_rate": (lambda r: r.paying_rate, "pct"),
    "revenue_per_user": (lambda r: r.revenue_per_user, "money"),
    "retention_d7": (lambda r: _retention(r, 7), "pct"),
    "activation_rate": (lambda r: r.activation_rate, "pct"),
    "new_users": (lambda r: r.new_users, "int"),
    "roi": (lambda r: r.roi, "pct"),
}
DEFAULT_SORT: Final = "paying_rate"


def _retention(row: ChannelRow, day: int) -> float | None:
    return next((r.rate for r in row.retention if r.day == day), None)


def ranked(rows: tuple[ChannelRow, ...], sort: str) -> list[ChannelRow]:
    """Best first by the measure; rows without a value last; ties by name."""
    measure = SORTS[sort][0]

    def key(row: ChannelRow) -> tuple[bool, float, str]:
        value = measure(row)
        return (value is None, -float(value or 0), row.group or "\uffff")

    return sorted(rows, key=key)


def build(wh: Warehouse, ask: Ask) -> dict[str, Any]:
    c, p = ask.common, ask.params
    sort = p.choice("sort", SORTS, DEFAULT_SORT)
    result = metric.channels(
        wh,
        start=c.start,
        end=c.end,
        by=c.by or "channel",
        filters=c.filters,
        activation_event=p.text("activation_event"),
        activation_days=p.integer("activation_days", metric.DEFAULT_ACTIVATION_DAYS, 1, 3660),
    )
    rows = ranked(result.rows, sort)
    measure, fmt = SORTS[sort]
    labels = [ask.label(r.group) for r in rows]
    best = 0 if rows and measure(rows[0]) is not None else None
    return {
        "by": result.by,
        "sort": sort,
        "sorts": list(SORTS),
        "rows": rows,
        "total": result.total,
        "retention_days": result.retention_days,
        "ltv_ages": [point.age_days for point in result.total.ltv],
        "has_costs": any(r.cost is not None for r in rows),
        "best": rows[0].group if best is not None else None,
        "best_value": measure(rows[0]) if rows else None,
        "total_value": measure(result.total),
        "format": fmt,
        "charts": {
            "ranking": chart(
                "hbar",
                labels,
                [series(ask.t(f"analytics.channels.sort.{sort}"), [measure(r) for r in rows])],
                fmt=fmt,
                highlight=best,
            )
        },
        "empty": not rows,
    }


def presets(
    params: Params, events: list[str], covered: DataDays | None, t: Translator
) -> list[dict[str, str]]:
    """Channels compared over all the data: the newest signups have had no time to pay yet."""
    if covered is None:
        return []
    start = max(covered.first, covered.last - timedelta(days=3659))
    href = params.link(keep=("where",), from_=start, to=covered.last, sort=DEFAULT_SORT)
    return [
        {
            "id": "channels-all",
            "href": href,
            "title": t("analytics.preset.channels.title"),
            "help": t("analytics.preset.channels.help"),
        }
    ]
