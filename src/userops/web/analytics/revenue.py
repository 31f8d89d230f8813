"""The Revenue & conversion tab: paying users, paying rate, revenue, ARPU, ARPPU, AOV,
first-purchase conversion of new users, repurchase and churn, per period and for the range."""

from __future__ import annotations

from typing import Any, Final

from userops.analytics import revenue as metric
from userops.analytics.results import ratio
from userops.analytics.revenue import RevenuePoint, RevenueSummary
from userops.warehouse.connection import Warehouse
from userops.web.analytics.charts import chart, series
from userops.web.analytics.page import Ask, grouped

CARDS: Final = (
    # key, format
    ("paying_users", "int"),
    ("paying_rate", "pct"),
    ("revenue", "money"),
    ("arpu", "money"),
    ("arppu", "money"),
    ("aov", "money"),
    ("first_purchase_rate", "pct"),
    ("repurchase_rate", "pct"),
    ("churn_rate", "pct"),
)


def figures(summary: RevenueSummary, points: list[RevenuePoint]) -> dict[str, Any]:
    """The cards' values of one group (or everyone): the service's numbers as they are."""
    f = summary.figures
    return {
        "active_users": f.active,
        "paying_users": f.paying,
        "paying_rate": f.paying_rate,
        "revenue": f.revenue,
        "orders": f.orders,
        "arpu": f.arpu,
        "arppu": f.arppu,
        "aov": f.aov,
        "repurchase_rate": f.repurchase_rate,
        "new_users": summary.new_users,
        "first_purchase_users": summary.converted,
        "first_purchase_rate": summary.conversion_rate,
        # churn over the range: users lost between consecutive periods / users there to lose
        "churn_rate": ratio(
            sum(p.churned for p in points), sum(p.previously_active for p in points)
        ),
    }


def build(wh: Warehouse, ask: Ask) -> dict[str, Any]:
    c, t = ask.common, ask.t
    period = ask.params.period("day")
    within = ask.params.integer("within", metric.DEFAULT_WITHIN_DAYS, 1, metric.MAX_WITHIN_DAYS)
    result = metric.revenue(
        wh,
        period=period,
        start=c.start,
        end=c.end,
        within_days=within,
        filters=c.filters,
        by=c.by,
    )
    by_group = grouped(result.points, lambda p: p.group)
    total = figures(result.summary, list(result.points))
    groups = [
        {"group": s.group, "label": ask.label(s.group), **figures(s, by_group.get(s.group, []))}
        for s in result.groups
    ]
    dates = [p.date.isoformat() for p in next(iter(by_group.values()), [])]
    if c.by is None:
        points = by_group.get(None, [])
        money_chart = chart(
            "bar",
            dates,
            [
                series(t("analytics.revenue.revenue"), [p.figures.revenue for p in points]),
                series(
                    t("analytics.revenue.paying_users"),
                    [p.figures.paying for p in points],
                    type="line",
                    axis=1,
                ),
            ],
            fmt="money",
            format2="int",
        )
        rates_chart = chart(
            "line",
            dates,
            [
                series(t("analytics.revenue.paying_rate"), [p.figures.paying_rate for p in points]),
                series(
                    t("analytics.revenue.repurchase_rate"),
                    [p.figures.repurchase_rate for p in points],
                ),
                series(t("analytics.revenue.churn_rate"), [p.churn_rate for p in points]),
            ],
            fmt="pct",
        )
        per_user_chart = chart(
            "line",
            dates,
            [
                series(t("analytics.revenue.arpu"), [p.figures.arpu for p in points]),
                series(t("analytics.revenue.arppu"), [p.figures.arppu for p in points]),
                series(t("analytics.revenue.aov"), [p.figures.aov for p in points]),
            ],
            fmt="money",
        )
    else:
        money_chart = chart(
            "bar",
            dates,
            [
                series(ask.label(g), [p.figures.revenue for p in ps], stack="revenue")
                for g, ps in by_group.items()
            ],
            fmt="money",
        )
        rates_chart = chart(
            "line",
            dates,
            [
                series(ask.label(g), [p.figures.paying_rate for p in ps])
                for g, ps in by_group.items()
            ],
            fmt="pct",
        )
        per_user_chart = chart(
            "line",
            dates,
            [series(ask.label(g), [p.figures.arppu for p in ps]) for g, ps in by_group.items()],
            fmt="money",
        )
    return {
        "period": period,
        "within": within,
        "cards": CARDS,
        "total": total,
        "groups": groups,
        "charts": {"revenue": money_chart, "rates": rates_chart, "per_user": per_user_chart},
        "empty": total["active_users"] == 0 and total["new_users"] == 0,
    }
