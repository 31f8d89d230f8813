"""The Activity tab: DAU, WAU and MAU, stickiness, new users by channel, active users of one
event per day, week or month."""

from __future__ import annotations

from typing import Any

from userops.analytics import activity
from userops.analytics.results import ratio
from userops.warehouse.connection import Warehouse
from userops.web.analytics.charts import chart, drawn, series
from userops.web.analytics.page import Ask, grouped


def build(wh: Warehouse, ask: Ask) -> dict[str, Any]:
    c, t = ask.common, ask.t
    event = ask.params.text("event")
    period = ask.params.period("day")
    sticky = activity.stickiness(wh, start=c.start, end=c.end, filters=c.filters, by=c.by)
    active = activity.active_users(
        wh, period=period, start=c.start, end=c.end, event=event, filters=c.filters, by=c.by
    )
    # Signups are not events: property filters cannot choose them (the service refuses them).
    new = None
    new_by = c.by or "channel"
    if not c.filters.properties:
        new = activity.new_users(
            wh, period="day", start=c.start, end=c.end, filters=c.filters, by=new_by
        )

    days = grouped(sticky.points, lambda p: p.group)
    new_groups = grouped(new.points, lambda p: p.group) if new is not None else {}
    dates = [p.date.isoformat() for p in next(iter(days.values()), [])]
    summary = []
    for group, points in days.items():
        new_count = None
        if new is not None:
            mine = new_groups.get(group, []) if c.by else new.points
            new_count = sum(p.new_users for p in mine)
        summary.append(
            {
                "group": group,
                "label": ask.label(group) if c.by else t("analytics.everyone"),
                "dau_avg": round(sum(p.dau for p in points) / len(points), 1) if points else 0,
                "wau_last": points[-1].wau if points else 0,
                "mau_last": points[-1].mau if points else 0,
                "stickiness": sticky.average(group),
                "new_users": new_count,
            }
        )

    if c.by is None:
        only = next(iter(days.values()), [])
        dau_lines = [
            series(t("analytics.activity.dau"), [p.dau for p in only]),
            series(t("analytics.activity.wau"), [p.wau for p in only]),
            series(t("analytics.activity.mau"), [p.mau for p in only]),
        ]
    else:
        dau_lines = [series(ask.label(g), [p.dau for p in ps]) for g, ps in days.items()]
    stick_lines = [
        series(
            ask.label(g) if c.by else t("analytics.activity.stickiness"),
            [ratio(p.dau, p.mau) for p in ps],
        )
        for g, ps in days.items()
    ]
    active_groups = grouped(active.points, lambda p: p.group)
    active_dates = [p.date.isoformat() for p in next(iter(active_groups.values()), [])]
    active_lines = [
        series(ask.label(g) if c.by else t("analytics.activity.active"), [p.active for p in ps])
        for g, ps in active_groups.items()
    ]
    charts = {
        "dau": chart("line", dates, dau_lines),
        "stickiness": chart("line", dates, stick_lines, fmt="pct"),
        "active": chart("line" if period == "day" else "bar", active_dates, active_lines),
    }
    if new is not None:
        new_dates = [p.date.isoformat() for p in next(iter(new_groups.values()), [])]
        charts["new_users"] = chart(
            "bar",
            new_dates or dates,
            [
                series(ask.label(g), [p.new_users for p in ps], stack="new")
                for g, ps in new_groups.items()
            ],
        )
    empty = not drawn(charts["dau"]) and not (new is not None and drawn(charts["new_users"]))
    return {
        "summary": summary,
        "charts": charts,
        "event": event,
        "period": period,
        "new_by": new_by,
        "new_skipped": new is None,
        "empty": empty,
    }
