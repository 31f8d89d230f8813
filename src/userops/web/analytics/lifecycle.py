"""The Lifecycle tab: each period's active users as new, returning and resurrecting, with the
dormant (active the period before, gone now) drawn below the axis."""

from __future__ import annotations

from typing import Any, Final

from userops.analytics import lifecycle as metric
from userops.analytics.lifecycle import STATES
from userops.warehouse.connection import Warehouse
from userops.web.analytics.charts import chart, series
from userops.web.analytics.page import Ask, grouped

MAX_GROUP_CHARTS: Final = 12
COLORS: Final = {
    "new": "#2e9d5b",
    "returning": "#1f6feb",
    "resurrecting": "#d97706",
    "dormant": "#dc2626",
}


def build(wh: Warehouse, ask: Ask) -> dict[str, Any]:
    c = ask.common
    period = ask.params.period("week")
    event = ask.params.text("event")
    result = metric.lifecycle(
        wh, period=period, start=c.start, end=c.end, event=event, filters=c.filters, by=c.by
    )
    groups = []
    for group, points in grouped(result.points, lambda p: p.group).items():
        dates = [p.date.isoformat() for p in points]
        lines = [
            series(
                ask.t(f"analytics.lifecycle.{state}"),
                [-p.dormant if state == "dormant" else getattr(p, state) for p in points],
                stack="lifecycle",
                color=COLORS[state],
            )
            for state in STATES
        ]
        groups.append(
            {
                "group": group,
                "label": ask.label(group) if c.by else None,
                "points": points,
                "chart": chart("lifecycle", dates, lines, abs=True),
            }
        )
    shown = groups[:MAX_GROUP_CHARTS]
    return {
        "period": period,
        "event": event,
        "states": STATES,
        "groups": shown,
        "hidden_groups": len(groups) - len(shown),
        "empty": not any(p.active or p.dormant for p in result.points),
    }
