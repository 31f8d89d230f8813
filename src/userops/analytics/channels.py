"""Channels: how the users each acquisition channel brought in activate, stay, pay and pay back.

The users of a channel are those who signed up (`created_at`, local day) within the range with
that `channel` trait (or another trait with `by`). Everything after is theirs up to the end of
the range: activation within D days of signup, day-N retention, paying, revenue, revenue per
user at each cohort age (LTV to date) and, when channel costs are imported, cost, CAC and ROI.
docs/metrics.md defines each number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.analytics.costs import costs_by_channel_expr, has_costs_table
from userops.analytics.filters import NO_FILTERS, Filters
from userops.analytics.periods import check_range
from userops.analytics.results import fetch, group_order, money, money_json, per, ratio
from userops.analytics.scope import GROUP, scoped_events, signups
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

DEFAULT_RETENTION_DAYS: Final = (1, 7, 30)
DEFAULT_LTV_DAYS: Final = (0, 7, 30, 60, 90)
DEFAULT_ACTIVATION_DAYS: Final = 7
IDENTITY_TYPES: Final = ("identify", "alias")  # who a user is, not something they did


@dataclass(frozen=True, slots=True)
class DayRetention:
    day: int
    eligible: int  # users whose day N has come by the end of the range
    retained: int  # of them, active on local day N after their signup day

    @property
    def rate(self) -> float | None:
        return ratio(self.retained, self.eligible)


@dataclass(frozen=True, slots=True)
class LtvPoint:
    age_days: int
    users: int  # users at least `age_days` old at the end of the range
    revenue: Decimal  # their revenue up to and including local day `age_days` after signup

    @property
    def revenue_per_user(self) -> Decimal | None:
        return per(self.revenue, self.users)

    def __add__(self, other: LtvPoint) -> LtvPoint:
        return LtvPoint(self.age_days, self.users + other.users, self.revenue + other.revenue)


@dataclass(frozen=True, slots=True)
class ChannelRow:
    group: str | None
    new_users: int
    activated: int
    paying: int
    revenue: Decimal
    retention: tuple[DayRetention, ...]
    ltv: tuple[LtvPoint, ...]
    cost: Decimal | None = None  # None when no cost is known for the group

    @property
    def activation_rate(self) -> float | None:
        return ratio(self.activated, self.new_users)

    @property
    def paying_rate(self) -> float | None:
        return ratio(self.paying, self.new_users)

    @property
    def revenue_per_user(self) -> Decimal | None:
        return per(self.revenue, self.new_users)

    @property
    def cac(self) -> Decimal | None:
        return per(self.cost, self.new_users) if self.cost is not None else None

    @property
    def roi(self) -> float | None:
        """(revenue - cost) / cost: 0.5 means the channel returned its cost and half again."""
        if self.cost is None:
            return None
        return ratio(self.revenue - self.cost, self.cost)

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "new_users": self.new_users,
            "activated_users": self.activated,
            "activation_rate": self.activation_rate,
            "retention": {f"d{r.day}": r.rate for r in self.retention},
            "paying_users": self.paying,
            "paying_rate": self.paying_rate,
            "revenue": str(self.revenue),
            "revenue_per_user": money_json(self.revenue_per_user),
            "ltv": [
                {
                    "age_days": p.age_days,
                    "users": p.users,
                    "revenue_per_user": money_json(p.revenue_per_user),
                }
                for p in self.ltv
            ],
            "cost": money_json(self.cost),
            "cac": money_json(self.cac),
            "roi": self.roi,
        }


@dataclass(frozen=True, slots=True)
class Channels:
    start: date
    end: date
    by: str
    activation_event: str | None
    activation_days: int
    rows: tuple[ChannelRow, ...]
    total: ChannelRow
    retention_days: tuple[int, ...] = field(default=DEFAULT_RETENTION_DAYS)

    def row(self, group: str | None) -> ChannelRow:
        return next(r for r in self.rows if r.group == group)

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "by": self.by,
            "activation_event": self.activation_event,
            "activation_days": self.activation_days,
            "groups": [r.as_json() for r in self.rows],
            "total": self.total.as_json(),
        }


@dataclass(frozen=True, slots=True)
class ChannelExprs:
    cohort: ir.Table  # grp, new_users, eligible_r{N}, eligible_l{A}
    activated: ir.Table  # grp, activated
    retained: ir.Table  # grp, r{N}
    paying: ir.Table  # grp, paying, revenue, ltv{A}
    costs: ir.Table | None  # channel, cost


def channel_exprs(
    wh: Source,
    *,
    start: date,
    end: date,
    by: str = "channel",
    filters: Filters = NO_FILTERS,
    activation_event: str | None = None,
    activation_days: int = DEFAULT_ACTIVATION_DAYS,
    retention_days: Sequence[int] = DEFAULT_RETENTION_DAYS,
    ltv_days: Sequence[int] = DEFAULT_LTV_DAYS,
) -> ChannelExprs:
    new = signups(wh, filters, by, since=start, until=end)
    cohort = new.group_by(GROUP).aggregate(
        new_users=new.count(),
        **{
            f"eligible_r{n}": new.count(where=new.day <= end - timedelta(days=n))
            for n in retention_days
        },
        **{f"eligible_l{a}": new.count(where=new.day <= end - timedelta(days=a)) for a in ltv_days},
    )
    events = scoped_events(wh, filters, until=end)

    if activation_event is None:
        acts = events.filter(~events.type.isin(list(IDENTITY_TYPES)))
    else:
        acts = events.filter(events.event == activation_event)
    acts = acts.select(actor="uid", ts="timestamp")
    window = [
        new.uid == acts.actor,
        acts.ts >= new.created_at,
        acts.ts < new.created_at + ibis.interval(days=activation_days),
    ]
    active_new = new.semi_join(acts, window)
    activated = active_new.group_by(GROUP).aggregate(activated=active_new.count())

    days = events.select(visitor="uid", seen="day").distinct()
    visits = new.join(days, new.uid == days.visitor)
    after = visits.seen.delta(visits.day, unit="day")
    retained = visits.group_by(GROUP).aggregate(
        **{f"r{n}": visits.count(where=after == n) for n in retention_days}
    )

    paid = events.filter(events.revenue > 0)
    paid = paid.group_by(["uid", "day"]).aggregate(amount=paid.revenue.sum())
    paid = paid.select(buyer="uid", paid_day="day", amount="amount")
    bought = new.join(paid, new.uid == paid.buyer)
    age = bought.paid_day.delta(bought.day, unit="day")
    paying = bought.group_by(GROUP).aggregate(
        paying=bought.uid.nunique(),
        revenue=bought.amount.sum(),
        **{
            f"ltv{a}": bought.amount.sum(where=(age <= a) & (bought.day <= end - timedelta(days=a)))
            for a in ltv_days
        },
    )
    costs = None
    if by == "channel" and has_costs_table(wh):
        costs = costs_by_channel_expr(wh, since=start, until=end)
    return ChannelExprs(cohort, activated, retained, paying, costs)


def channels(
    wh: Warehouse,
    *,
    start: date,
    end: date,
    by: str | None = "channel",
    filters: Filters = NO_FILTERS,
    activation_event: str | None = None,
    activation_days: int = DEFAULT_ACTIVATION_DAYS,
    retention_days: Sequence[int] = DEFAULT_RETENTION_DAYS,
    ltv_days: Sequence[int] = DEFAULT_LTV_DAYS,
) -> Channels:
    """Per acquisition channel (or `by` trait): the users who signed up within the range."""
    check_range(start, end)
    if not 1 <= activation_days <= 3660:
        raise InputError(f"activation within {activation_days} days is not between 1 and 3660")
    if any(n < 0 for n in (*retention_days, *ltv_days)):
        raise InputError("retention and LTV days are 0 or more")
    group_by = by or "channel"
    exprs = channel_exprs(
        wh,
        start=start,
        end=end,
        by=group_by,
        filters=filters,
        activation_event=activation_event,
        activation_days=activation_days,
        retention_days=retention_days,
        ltv_days=ltv_days,
    )
    cohort = {r[GROUP]: r for r in fetch(exprs.cohort)}
    activated = {r[GROUP]: int(r["activated"]) for r in fetch(exprs.activated)}
    retained = {r[GROUP]: r for r in fetch(exprs.retained)}
    paying = {r[GROUP]: r for r in fetch(exprs.paying)}
    costs = (
        {r["channel"]: money(r["cost"]) for r in fetch(exprs.costs)}
        if exprs.costs is not None
        else {}
    )
    rows = []
    for g in group_order(cohort):
        pay = paying.get(g, {})
        rows.append(
            ChannelRow(
                group=g,
                new_users=int(cohort[g]["new_users"]),
                activated=activated.get(g, 0),
                paying=int(pay.get("paying") or 0),
                revenue=money(pay.get("revenue")),
                retention=tuple(
                    DayRetention(
                        n,
                        int(cohort[g][f"eligible_r{n}"]),
                        int(retained.get(g, {}).get(f"r{n}") or 0),
                    )
                    for n in retention_days
                ),
                ltv=tuple(
                    LtvPoint(a, int(cohort[g][f"eligible_l{a}"]), money(pay.get(f"ltv{a}")))
                    for a in ltv_days
                ),
                cost=costs.get(g) if g is not None else None,
            )
        )
    return Channels(
        start,
        end,
        group_by,
        activation_event,
        activation_days,
        tuple(rows),
        _total(rows, retention_days, ltv_days, costs),
        tuple(retention_days),
    )


def _total(
    rows: list[ChannelRow],
    retention_days: Sequence[int],
    ltv_days: Sequence[int],
    costs: dict[str, Decimal],
) -> ChannelRow:
    """Everyone in the range: the sums of the groups, which share no user."""
    retention = tuple(
        DayRetention(
            n,
            sum(r.retention[i].eligible for r in rows),
            sum(r.retention[i].retained for r in rows),
        )
        for i, n in enumerate(retention_days)
    )
    ltv = tuple(
        sum((r.ltv[i] for r in rows), LtvPoint(a, 0, Decimal("0.00")))
        for i, a in enumerate(ltv_days)
    )
    return ChannelRow(
        group=None,
        new_users=sum(r.new_users for r in rows),
        activated=sum(r.activated for r in rows),
        paying=sum(r.paying for r in rows),
        revenue=sum((r.revenue for r in rows), Decimal("0.00")),
        retention=retention,
        ltv=ltv,
        cost=sum(costs.values(), Decimal("0.00")) if costs else None,
    )
