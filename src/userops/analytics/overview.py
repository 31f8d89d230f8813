"""The console's overview: new users, DAU, paying users, revenue and day-7 retention by day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import ibis

from userops.analytics.base import local_date, resolved_events
from userops.analytics.periods import check_range
from userops.domain.bounds import check_day
from userops.warehouse.connection import Warehouse


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    new_users: int
    active_users: int
    paying_users: int
    revenue: Decimal
    retained_d7: float | None  # share of the day's new actives active again 7 days later


@dataclass(frozen=True, slots=True)
class Overview:
    start: date
    end: date
    days: tuple[DayPoint, ...]

    def totals(self) -> dict[str, Any]:
        d7 = [p.retained_d7 for p in self.days if p.retained_d7 is not None]
        return {
            "new_users": sum(p.new_users for p in self.days),
            "active_users_avg": round(sum(p.active_users for p in self.days) / len(self.days), 1)
            if self.days
            else 0,
            "paying_users_avg": round(sum(p.paying_users for p in self.days) / len(self.days), 1)
            if self.days
            else 0,
            "revenue": str(sum((p.revenue for p in self.days), Decimal("0.00"))),
            "retained_d7_avg": round(sum(d7) / len(d7), 4) if d7 else None,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "totals": self.totals(),
            "series": [
                {
                    "date": p.day.isoformat(),
                    "new_users": p.new_users,
                    "active_users": p.active_users,
                    "paying_users": p.paying_users,
                    "revenue": str(p.revenue),
                    "retained_d7": p.retained_d7,
                }
                for p in self.days
            ],
        }


def _by_day(rows: list[dict[str, Any]], key: str) -> dict[date, Any]:
    return {_as_date(r["day"]): r[key] for r in rows}


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def overview(wh: Warehouse, *, end: date, days: int = 30) -> Overview:
    start = check_day(end, "the last day (end)") - timedelta(days=days - 1)
    check_range(start, end)
    ev = resolved_events(wh)
    in_range = ev.filter((ev.day >= start) & (ev.day <= end))
    active = in_range.group_by("day").aggregate(n=in_range.uid.nunique())
    payers = in_range.filter(in_range.revenue > 0)
    paying = payers.group_by("day").aggregate(n=payers.uid.nunique(), revenue=payers.revenue.sum())
    users = wh.table("users")
    signup = users.filter(users.created_at.notnull()).mutate(day=local_date(wh, users.created_at))
    signup = signup.filter((signup.day >= start) & (signup.day <= end))
    new = signup.group_by("day").aggregate(n=signup.count())
    # Day-7 retention of each day's first-time actives.
    first = ev.group_by("uid").aggregate(first_day=ev.day.min())
    cohort = first.filter((first.first_day >= start) & (first.first_day <= end))
    later = ev.select("uid", "day").distinct()
    week_later = cohort.first_day + ibis.interval(days=7)
    back = cohort.join(later, [cohort.uid == later.uid, later.day == week_later])
    size = cohort.group_by("first_day").aggregate(n=cohort.count())
    kept = back.group_by("first_day").aggregate(k=back.uid.nunique())

    active_d = _by_day(active.to_pyarrow().to_pylist(), "n")
    paying_rows = paying.to_pyarrow().to_pylist()
    paying_d = _by_day(paying_rows, "n")
    revenue_d = _by_day(paying_rows, "revenue")
    new_d = _by_day(new.to_pyarrow().to_pylist(), "n")
    size_d = {_as_date(r["first_day"]): r["n"] for r in size.to_pyarrow().to_pylist()}
    kept_d = {_as_date(r["first_day"]): r["k"] for r in kept.to_pyarrow().to_pylist()}
    points = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        observable = day + timedelta(days=7) <= end and size_d.get(day)
        points.append(
            DayPoint(
                day=day,
                new_users=int(new_d.get(day, 0)),
                active_users=int(active_d.get(day, 0)),
                paying_users=int(paying_d.get(day, 0)),
                revenue=Decimal(revenue_d.get(day) or 0).quantize(Decimal("0.01")),
                retained_d7=round(kept_d.get(day, 0) / size_d[day], 4) if observable else None,
            )
        )
    return Overview(start=start, end=end, days=tuple(points))
