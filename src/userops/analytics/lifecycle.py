"""Lifecycle mix per period, as PostHog's lifecycle chart: new, returning, resurrecting, dormant.

For each period of the range, every user active in it (any event, or the chosen event) is
exactly one of: new (their first activity ever is in this period), returning (active in the
previous period too), resurrecting (not active in the previous period, but active before it).
Dormant users were active in the previous period and are not in this one; charts draw them
below the axis, the numbers here are counts (positive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import ibis
import ibis.expr.types as ir

from userops.analytics.base import Source
from userops.analytics.filters import NO_FILTERS, Filters
from userops.analytics.periods import Period, check_range, index, index_of, period_starts, widen
from userops.analytics.results import fetch, group_order
from userops.analytics.scope import GROUP, in_scope, scoped_events
from userops.warehouse.connection import Warehouse

STATES: Final = ("new", "returning", "resurrecting", "dormant")


@dataclass(frozen=True, slots=True)
class LifecyclePoint:
    date: date
    new: int
    returning: int
    resurrecting: int
    dormant: int
    group: str | None = None

    @property
    def active(self) -> int:
        return self.new + self.returning + self.resurrecting

    @property
    def quick_ratio(self) -> float | None:
        """(new + resurrecting) / dormant: above 1, the active base grows."""
        return round((self.new + self.resurrecting) / self.dormant, 4) if self.dormant else None


@dataclass(frozen=True, slots=True)
class Lifecycle:
    period: Period
    start: date
    end: date
    event: str | None
    by: str | None
    points: tuple[LifecyclePoint, ...]

    def as_json(self) -> dict[str, Any]:
        series = []
        for p in self.points:
            row: dict[str, Any] = {
                "date": p.date.isoformat(),
                "new": p.new,
                "returning": p.returning,
                "resurrecting": p.resurrecting,
                "dormant": p.dormant,
            }
            if self.by is not None:
                row["group"] = p.group
            series.append(row)
        out: dict[str, Any] = {"period": self.period, "series": series}
        if self.by is not None:
            out["by"] = self.by
        return out


def lifecycle_exprs(
    wh: Source,
    *,
    period: Period,
    start: date,
    end: date,
    event: str | None = None,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> tuple[ir.Table, ir.Table]:
    """(active: grp, pidx, new, returning, resurrecting; dormant: grp, pidx, dormant)."""
    first, last = widen(start, end, period)
    lo, hi = index_of(first, period), index_of(last, period)
    ev = scoped_events(wh, filters, event=event, until=last)  # all history: first activity
    periods = ev.select("uid", pidx=index(ev.day, period)).distinct()
    periods = in_scope(wh, periods, filters, by)
    firsts = periods.group_by("uid").aggregate(first_pidx=periods.pidx.min())
    earlier = periods.select(uid2="uid", pidx2="pidx", seen=ibis.literal(1))

    now = periods.filter(periods.pidx >= lo)
    now = now.join(firsts, "uid")
    now = now.left_join(earlier, [now.uid == earlier.uid2, earlier.pidx2 == now.pidx - 1])
    was_active = (now.seen == 1).fill_null(False)  # not NULL tests: see scope.in_scope
    is_new = now.first_pidx == now.pidx
    active = now.group_by([GROUP, "pidx"]).aggregate(
        new=now.count(where=is_new),
        returning=now.count(where=was_active),
        resurrecting=now.count(where=~is_new & ~was_active),
    )

    then = periods.filter(periods.pidx >= lo - 1, periods.pidx < hi)
    gone = then.anti_join(earlier, [then.uid == earlier.uid2, earlier.pidx2 == then.pidx + 1])
    dormant = gone.group_by([GROUP, "pidx"]).aggregate(dormant=gone.count())
    dormant = dormant.mutate(pidx=dormant.pidx + 1)
    return active, dormant


def lifecycle(
    wh: Warehouse,
    *,
    period: Period,
    start: date,
    end: date,
    event: str | None = None,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> Lifecycle:
    check_range(start, end)
    active, dormant = lifecycle_exprs(
        wh, period=period, start=start, end=end, event=event, filters=filters, by=by
    )
    states = {(r[GROUP], int(r["pidx"])): r for r in fetch(active)}
    gone = {(r[GROUP], int(r["pidx"])): int(r["dormant"]) for r in fetch(dormant)}
    first, last = widen(start, end, period)
    groups = group_order([g for g, _ in states] + [g for g, _ in gone]) if by else [None]
    points = []
    for g in groups:
        for day in period_starts(first, last, period):
            i = index_of(day, period)
            row = states.get((g, i), {})
            points.append(
                LifecyclePoint(
                    date=day,
                    new=int(row.get("new", 0)),
                    returning=int(row.get("returning", 0)),
                    resurrecting=int(row.get("resurrecting", 0)),
                    dormant=gone.get((g, i), 0),
                    group=g,
                )
            )
    return Lifecycle(period, first, last, event, by, tuple(points))
