"""Activity: active users per day, week or month; DAU, WAU, MAU and stickiness; new users.

Active means at least one event (of any type, or of the chosen event) on a local day, counted
per user (`uid`: anonymous events merged at login are the user's). docs/metrics.md defines
each number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from userops.analytics import indexed
from userops.analytics.base import Source
from userops.analytics.filters import NO_FILTERS, Filters
from userops.analytics.periods import (
    Period,
    check_range,
    index,
    index_of,
    period_starts,
    truncate,
    widen,
)
from userops.analytics.results import fetch, group_order, ratio
from userops.analytics.scope import GROUP, activity, in_scope, signups
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

ROLLING_DAYS = 30  # MAU looks back 30 local days, WAU 7
WINDOWS = (7, ROLLING_DAYS)


def _with_group(row: dict[str, Any], by: str | None, group: str | None) -> dict[str, Any]:
    return {**row, "group": group} if by is not None else row


def _cells(
    rows: Iterable[dict[str, Any]], key: str
) -> tuple[dict[tuple[str | None, date], dict[str, Any]], list[str | None]]:
    cells = {(r[GROUP], r[key]): r for r in rows}
    return cells, group_order(g for g, _ in cells)


# --- active users per period ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivePoint:
    date: date  # first day of the period
    active: int
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ActiveUsers:
    period: Period
    start: date  # the range, widened to whole periods
    end: date
    event: str | None
    by: str | None
    points: tuple[ActivePoint, ...]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "period": self.period,
            "series": [
                _with_group({"date": p.date.isoformat(), "active": p.active}, self.by, p.group)
                for p in self.points
            ],
        }
        if self.by is not None:
            out["by"] = self.by
        return out


def active_users_expr(
    wh: Source,
    *,
    period: Period,
    start: date,
    end: date,
    event: str | None = None,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> ir.Table:
    """Rows (grp, date, active): distinct active users per period and group."""
    first, last = widen(start, end, period)
    act = in_scope(wh, activity(wh, filters, event=event, since=first, until=last), filters, by)
    act = act.mutate(date=truncate(act.day, period))
    return act.group_by([GROUP, "date"]).aggregate(active=act.uid.nunique())


def active_users(
    wh: Warehouse,
    *,
    period: Period,
    start: date,
    end: date,
    event: str | None = None,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> ActiveUsers:
    """DAU (period day), WAU (week) or MAU (month) per period of the range."""
    check_range(start, end)
    first, last = widen(start, end, period)
    rows = indexed.active_rows(
        wh, period=period, first=first, last=last, event=event, filters=filters, by=by
    )
    if rows is None:
        expr = active_users_expr(
            wh, period=period, start=start, end=end, event=event, filters=filters, by=by
        )
        rows = fetch(expr)
    cells, groups = _cells(rows, "date")
    points = [
        ActivePoint(day, int(cells[(g, day)]["active"]) if (g, day) in cells else 0, g)
        for g in (groups if by is not None else [None])
        for day in period_starts(first, last, period)
    ]
    return ActiveUsers(period, first, last, event, by, tuple(points))


# --- DAU / WAU / MAU and stickiness ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StickinessPoint:
    date: date
    dau: int
    wau: int  # active in the 7 local days ending on `date`
    mau: int  # active in the 30 local days ending on `date`
    group: str | None = None

    @property
    def stickiness(self) -> float | None:
        return ratio(self.dau, self.mau)


@dataclass(frozen=True, slots=True)
class Stickiness:
    start: date
    end: date
    event: str | None
    by: str | None
    points: tuple[StickinessPoint, ...]

    def average(self, group: str | None = None) -> float | None:
        """Average DAU over average MAU of the range (for one group when broken down)."""
        mine = [p for p in self.points if p.group == group]
        return ratio(sum(p.dau for p in mine), sum(p.mau for p in mine))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "series": [
                _with_group(
                    {
                        "date": p.date.isoformat(),
                        "dau": p.dau,
                        "wau": p.wau,
                        "mau": p.mau,
                        "stickiness": p.stickiness,
                    },
                    self.by,
                    p.group,
                )
                for p in self.points
            ]
        }
        if self.by is not None:
            out["by"] = self.by
        return out


def stickiness_exprs(
    wh: Source,
    *,
    start: date,
    end: date,
    event: str | None = None,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> tuple[ir.Table, ir.Table]:
    """(daily: grp, didx, dau; deltas: grp, window, didx, n), `didx` a day's index since 1970.

    A user is in the rolling window of day t when active on one of the `window` days ending
    on t: each active day covers [day, day + window - 1]. Per user, runs of active days less
    than a window apart merge into islands (two window functions over distinct (uid, day)),
    each island adds +1 where its cover starts and -1 after it ends; the running sum of those
    deltas, per day, is WAU or MAU. Linear in active days, whatever the window.
    """
    since = start - timedelta(days=ROLLING_DAYS - 1)
    act = in_scope(wh, activity(wh, filters, event=event, since=since, until=end), filters, by)
    act = act.select("uid", GROUP, didx=index(act.day, "day"))
    first = index_of(start, "day")
    shown = act.filter(act.didx >= first)
    daily = shown.group_by([GROUP, "didx"]).aggregate(dau=shown.count())
    parts = []
    for window in WINDOWS:
        a = act.filter(act.didx >= first - (window - 1))
        gap = a.didx - a.didx.lag().over(ibis.window(group_by="uid", order_by="didx"))
        a = a.mutate(starts=ibis.ifelse(gap.isnull() | (gap > window), 1, 0))
        island = a.starts.sum().over(ibis.cumulative_window(group_by="uid", order_by="didx"))
        a = a.mutate(island=island)
        islands = a.group_by(["uid", GROUP, "island"]).aggregate(
            lo=a.didx.min(), hi=a.didx.max() + window
        )
        for edge, sign in (("lo", 1), ("hi", -1)):
            # A signed factor on both edges: ClickHouse types count() * 1 UInt64 and
            # count() * -1 Int64, and a UNION ALL of the two has no common type.
            signed = ibis.literal(sign).cast("int64")
            counted = islands.group_by([GROUP, edge]).aggregate(n=islands.count() * signed)
            parts.append(
                counted.select(GROUP, window=ibis.literal(window), didx=counted[edge], n="n")
            )
    return daily, ibis.union(*parts, distinct=False)


def stickiness(
    wh: Warehouse,
    *,
    start: date,
    end: date,
    event: str | None = None,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> Stickiness:
    """DAU, rolling WAU and MAU and their ratio DAU/MAU for every local day of the range."""
    check_range(start, end)
    computed = indexed.stickiness_rows(
        wh, start=start, end=end, windows=WINDOWS, event=event, filters=filters, by=by
    )
    if computed is None:
        exprs = stickiness_exprs(wh, start=start, end=end, event=event, filters=filters, by=by)
        computed = fetch(exprs[0]), fetch(exprs[1])
    daily, deltas = computed
    dau = {(r[GROUP], int(r["didx"])): int(r["dau"]) for r in daily}
    steps: dict[tuple[str | None, int], list[tuple[int, int]]] = {}
    for r in deltas:
        steps.setdefault((r[GROUP], int(r["window"])), []).append((int(r["didx"]), int(r["n"])))
    groups = group_order([g for g, _ in dau] + [g for g, _ in steps]) if by is not None else [None]
    first = index_of(start, "day")
    points = []
    for g in groups:
        rolling = {
            w: _running(steps.get((g, w), []), first, (end - start).days + 1) for w in WINDOWS
        }
        for offset in range((end - start).days + 1):
            points.append(
                StickinessPoint(
                    start + timedelta(days=offset),
                    dau.get((g, first + offset), 0),
                    rolling[7][offset],
                    rolling[ROLLING_DAYS][offset],
                    g,
                )
            )
    return Stickiness(start, end, event, by, tuple(points))


def _running(deltas: list[tuple[int, int]], first: int, days: int) -> list[int]:
    """The running sum of (day, delta) pairs, read on days first .. first + days - 1."""
    total, out, pending = 0, [], sorted(deltas)
    i = 0
    for day in range(first, first + days):
        while i < len(pending) and pending[i][0] <= day:
            total += pending[i][1]
            i += 1
        out.append(total)
    return out


# --- new users ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewUsersPoint:
    date: date
    new_users: int
    group: str | None = None


@dataclass(frozen=True, slots=True)
class NewUsers:
    period: Period
    start: date
    end: date
    by: str | None
    points: tuple[NewUsersPoint, ...]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "period": self.period,
            "series": [
                _with_group(
                    {"date": p.date.isoformat(), "new_users": p.new_users}, self.by, p.group
                )
                for p in self.points
            ],
        }
        if self.by is not None:
            out["by"] = self.by
        return out


def new_users_expr(
    wh: Source,
    *,
    period: Period,
    start: date,
    end: date,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> ir.Table:
    first, last = widen(start, end, period)
    new = signups(wh, filters, by, since=first, until=last)
    new = new.mutate(date=truncate(new.day, period))
    return new.group_by([GROUP, "date"]).aggregate(new_users=new.count())


def new_users(
    wh: Warehouse,
    *,
    period: Period,
    start: date,
    end: date,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> NewUsers:
    """Users whose signup (`created_at`) falls on each period, e.g. per day by channel."""
    check_range(start, end)
    if filters.properties:
        raise InputError(
            "new users are counted from signups, where event property filters do not apply: "
            f"remove {', '.join(str(p) for p in filters.properties)}"
        )
    cells, groups = _cells(
        fetch(new_users_expr(wh, period=period, start=start, end=end, filters=filters, by=by)),
        "date",
    )
    first, last = widen(start, end, period)
    points = [
        NewUsersPoint(day, int(cells[(g, day)]["new_users"]) if (g, day) in cells else 0, g)
        for g in (groups if by is not None else [None])
        for day in period_starts(first, last, period)
    ]
    return NewUsers(period, first, last, by, tuple(points))
