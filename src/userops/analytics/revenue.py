"""Conversion and revenue: paying users, paying rate, revenue, ARPU, ARPPU, average order value,
repurchase rate and churn rate per period, with first-purchase conversion of new users.

A paying event (an order) is an event whose `revenue` is above 0; revenue is the sum of those
(refunds, negative revenue, are not subtracted). Active means any event in the period. All
counts are distinct users (`uid`). docs/metrics.md defines each number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.analytics.filters import NO_FILTERS, Filters
from userops.analytics.periods import (
    Period,
    check_range,
    index,
    index_of,
    period_starts,
    shift,
    truncate,
    widen,
)
from userops.analytics.results import fetch, group_order, money, money_json, per, ratio
from userops.analytics.scope import GROUP, in_scope, scoped_events, signups
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

DEFAULT_WITHIN_DAYS: Final = 7
MAX_WITHIN_DAYS: Final = 3660


@dataclass(frozen=True, slots=True)
class Figures:
    """Sufficient numbers of one period (or the whole range) and one group."""

    active: int = 0
    paying: int = 0
    orders: int = 0
    revenue: Decimal = Decimal("0.00")
    repurchasers: int = 0  # paying users with two or more orders

    @property
    def paying_rate(self) -> float | None:
        return ratio(self.paying, self.active)

    @property
    def arpu(self) -> Decimal | None:
        return per(self.revenue, self.active)

    @property
    def arppu(self) -> Decimal | None:
        return per(self.revenue, self.paying)

    @property
    def aov(self) -> Decimal | None:
        return per(self.revenue, self.orders)

    @property
    def repurchase_rate(self) -> float | None:
        return ratio(self.repurchasers, self.paying)

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.active + other.active,
            self.paying + other.paying,
            self.orders + other.orders,
            self.revenue + other.revenue,
            self.repurchasers + other.repurchasers,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "active_users": self.active,
            "paying_users": self.paying,
            "paying_rate": self.paying_rate,
            "revenue": str(self.revenue),
            "orders": self.orders,
            "arpu": money_json(self.arpu),
            "arppu": money_json(self.arppu),
            "aov": money_json(self.aov),
            "repurchase_rate": self.repurchase_rate,
        }


@dataclass(frozen=True, slots=True)
class RevenuePoint:
    date: date
    figures: Figures
    churned: int  # active in the previous period, not in this one
    previously_active: int  # active in the previous period
    group: str | None = None

    @property
    def churn_rate(self) -> float | None:
        return ratio(self.churned, self.previously_active)


@dataclass(frozen=True, slots=True)
class RevenueSummary:
    """The whole range for one group (or everyone): figures and first-purchase conversion."""

    figures: Figures
    new_users: int  # signed up within the range
    converted: int  # of them, with an order within `within_days` of signing up
    group: str | None = None

    @property
    def conversion_rate(self) -> float | None:
        return ratio(self.converted, self.new_users)

    def as_json(self, within_days: int) -> dict[str, Any]:
        return {
            **self.figures.as_json(),
            "new_users": self.new_users,
            "first_purchase_days": within_days,
            "first_purchase_users": self.converted,
            "first_purchase_rate": self.conversion_rate,
        }


@dataclass(frozen=True, slots=True)
class Revenue:
    period: Period
    start: date  # the range, widened to whole periods
    end: date
    within_days: int
    by: str | None
    summary: RevenueSummary
    groups: tuple[RevenueSummary, ...]  # one per breakdown group (empty without one)
    points: tuple[RevenuePoint, ...]

    def as_json(self) -> dict[str, Any]:
        series = []
        for p in self.points:
            row = {
                "date": p.date.isoformat(),
                **p.figures.as_json(),
                "churned_users": p.churned,
                "churn_rate": p.churn_rate,
            }
            if self.by is not None:
                row["group"] = p.group
            series.append(row)
        out: dict[str, Any] = {
            "period": self.period,
            "summary": self.summary.as_json(self.within_days),
            "series": series,
        }
        if self.by is not None:
            out["by"] = self.by
            out["groups"] = [{"group": g.group, **g.as_json(self.within_days)} for g in self.groups]
        return out


@dataclass(frozen=True, slots=True)
class RevenueExprs:
    per_period: ir.Table  # grp, date, active, paying, orders, revenue, repurchasers
    previous: ir.Table  # grp, pidx, active: actives per period, including the one before
    churned: ir.Table  # grp, pidx, churned
    whole: ir.Table  # grp, active, paying, orders, revenue, repurchasers
    conversion: ir.Table  # grp, new_users, converted


def revenue_exprs(
    wh: Source,
    *,
    period: Period,
    start: date,
    end: date,
    within_days: int = DEFAULT_WITHIN_DAYS,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> RevenueExprs:
    first, last = widen(start, end, period)
    before = shift(first, period, -1)  # churn of the first period looks at the one before
    ev = scoped_events(wh, filters, since=before, until=last)
    paid = ev.revenue > 0
    daily = ev.group_by(["uid", "day"]).aggregate(
        orders=ev.count(where=paid), revenue=ev.revenue.sum(where=paid)
    )
    daily = in_scope(wh, daily, filters, by)
    users = daily.mutate(date=truncate(daily.day, period), pidx=index(daily.day, period))
    users = users.group_by([GROUP, "uid", "date", "pidx"]).aggregate(
        orders=users.orders.sum(), revenue=users.revenue.sum()
    )
    shown = users.filter(users.date >= first)
    per_period = shown.group_by([GROUP, "date"]).aggregate(**_figures(shown))

    previous = users.group_by([GROUP, "pidx"]).aggregate(active=users.count())
    then = users.select("uid", GROUP, "pidx")
    now = users.select(uid2="uid", pidx2="pidx")
    gone = then.anti_join(now, [then.uid == now.uid2, now.pidx2 == then.pidx + 1])
    gone = gone.mutate(pidx=gone.pidx + 1)
    gone = gone.filter(gone.pidx >= index_of(first, period), gone.pidx <= index_of(last, period))
    churned = gone.group_by([GROUP, "pidx"]).aggregate(churned=gone.count())

    in_range = daily.filter(daily.day >= first)
    per_user = in_range.group_by([GROUP, "uid"]).aggregate(
        orders=in_range.orders.sum(), revenue=in_range.revenue.sum()
    )
    whole = per_user.group_by(GROUP).aggregate(**_figures(per_user))

    new = signups(wh, filters, by, since=first, until=last)
    orders = scoped_events(wh, filters, until=last)
    orders = orders.filter(orders.revenue > 0).select(buyer="uid", ts="timestamp")
    deadline = new.created_at + ibis.interval(days=within_days)
    bought = new.semi_join(orders, [new.uid == orders.buyer, orders.ts < deadline])
    bought = bought.select("uid", flag=ibis.literal(1))
    joined = new.left_join(bought, new.uid == bought.uid)
    conversion = joined.group_by(GROUP).aggregate(
        new_users=joined.count(), converted=joined.count(where=joined.flag == 1)
    )
    return RevenueExprs(per_period, previous, churned, whole, conversion)


def _figures(t: ir.Table) -> dict[str, ir.Value]:
    return {
        "active": t.count(),
        "paying": t.count(where=t.orders > 0),
        "orders": t.orders.sum(),
        "revenue": t.revenue.sum(),
        "repurchasers": t.count(where=t.orders >= 2),
    }


def _to_figures(row: dict[str, Any] | None) -> Figures:
    if row is None:
        return Figures()
    return Figures(
        active=int(row["active"]),
        paying=int(row["paying"]),
        orders=int(row["orders"] or 0),
        revenue=money(row["revenue"]),
        repurchasers=int(row["repurchasers"]),
    )


def revenue(
    wh: Warehouse,
    *,
    period: Period,
    start: date,
    end: date,
    within_days: int = DEFAULT_WITHIN_DAYS,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> Revenue:
    check_range(start, end)
    if not 1 <= within_days <= MAX_WITHIN_DAYS:
        raise InputError(f"within {within_days} days is not between 1 and {MAX_WITHIN_DAYS}")
    exprs = revenue_exprs(
        wh,
        period=period,
        start=start,
        end=end,
        within_days=within_days,
        filters=filters,
        by=by,
    )
    per_period = {(r[GROUP], r["date"]): r for r in fetch(exprs.per_period)}
    previous = {(r[GROUP], int(r["pidx"])): int(r["active"]) for r in fetch(exprs.previous)}
    churned = {(r[GROUP], int(r["pidx"])): int(r["churned"]) for r in fetch(exprs.churned)}
    whole = {r[GROUP]: r for r in fetch(exprs.whole)}
    conversion = {r[GROUP]: r for r in fetch(exprs.conversion)}

    first, last = widen(start, end, period)
    seen = {g for g, _ in per_period} | {g for g, _ in churned} | set(whole) | set(conversion)
    groups = group_order(seen) if by is not None else [None]
    points = []
    for g in groups:
        for day in period_starts(first, last, period):
            i = index_of(day, period)
            points.append(
                RevenuePoint(
                    date=day,
                    figures=_to_figures(per_period.get((g, day))),
                    churned=churned.get((g, i), 0),
                    previously_active=previous.get((g, i - 1), 0),
                    group=g,
                )
            )
    summaries = tuple(
        RevenueSummary(
            figures=_to_figures(whole.get(g)),
            new_users=int(conversion[g]["new_users"]) if g in conversion else 0,
            converted=int(conversion[g]["converted"]) if g in conversion else 0,
            group=g,
        )
        for g in groups
    )
    total = RevenueSummary(
        figures=sum((s.figures for s in summaries), Figures()),
        new_users=sum(s.new_users for s in summaries),
        converted=sum(s.converted for s in summaries),
    )
    return Revenue(
        period,
        first,
        last,
        within_days,
        by,
        total,
        summaries if by is not None else (),
        tuple(points),
    )
