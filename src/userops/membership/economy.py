"""The economy report: points issued, redeemed, expired, reversed and outstanding (the
liability), by local month and by rule; redemption rate and breakage; growth value and level
distribution; level migration between two dates.

Flows follow `domain.membership.economy` (one definition for every report). Months are local
calendar months by each entry's `effective_at` (an expiry counts in the month the lot expired,
even when the expiry run wrote it later). By rule, what was redeemed and expired is attributed
to the rule that issued the points it took (through the lot allocations); a reversal is
attributed to the rule of the entry it reversed. Points not from a rule (awards, campaigns,
adjustments) are under rule `null`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from userops.domain.bounds import check_day
from userops.domain.membership.economy import Flows, classify
from userops.domain.membership.periods import add_months, local_midnight
from userops.errors import InputError
from userops.membership import levels
from userops.membership.points import DEFAULT_TZ
from userops.store.db import session_scope
from userops.store.models import (
    GrowthEntry,
    IncentiveRule,
    PointsAllocation,
    PointsEntry,
    PointsLot,
)

GROWTH_BUCKETS = (0, 1, 100, 1_000, 5_000, 20_000, 100_000)
MAX_MONTHS = 240
"""The longest report: twenty years of months (each month is its own queries)."""


@dataclass(frozen=True, slots=True)
class MonthRow:
    month: date
    flows: Flows
    outstanding: int
    pending: int

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.month.strftime("%Y-%m"),
            **_flows_json(self.flows),
            "outstanding": self.outstanding,
            "pending": self.pending,
        }


def _flows_json(flows: Flows) -> dict[str, Any]:
    def rate(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "issued": flows.issued,
        "redeemed": flows.redeemed,
        "expired": flows.expired,
        "reversed": flows.reversed,
        "net": flows.net,
        "redemption_rate": rate(flows.redemption_rate),
        "breakage": rate(flows.breakage),
    }


def _restore_clause() -> Any:
    target = aliased(PointsEntry)
    return target, or_(target.kind == "spend", and_(target.kind == "adjust", target.amount < 0))


def _flows(session: Session, start: datetime | None, end: datetime) -> Flows:
    target, restore = _restore_clause()
    rows = (
        select(
            PointsEntry.kind.label("kind"),
            (PointsEntry.amount > 0).label("positive"),
            restore.label("is_restore"),
            PointsEntry.amount.label("amount"),
        )
        .outerjoin(target, target.id == PointsEntry.reverses_id)
        .where(PointsEntry.effective_at < end)
    )
    if start is not None:
        rows = rows.where(PointsEntry.effective_at >= start)
    inner = rows.subquery()
    statement = select(
        inner.c.kind, inner.c.positive, inner.c.is_restore, func.sum(inner.c.amount)
    ).group_by(inner.c.kind, inner.c.positive, inner.c.is_restore)
    total = Flows()
    for kind, _positive, is_restore, amount in session.execute(statement):
        total = total + classify(kind, int(amount or 0), restore=bool(is_restore))
    return total


def _pending(session: Session, at: datetime) -> int:
    """Points earned by `at` and not matured at `at` (what of the liability is not usable yet)."""
    value = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.amount), 0)).where(
            PointsEntry.effective_at < at, PointsEntry.matures_at > at
        )
    )
    return int(value or 0)


def months(engine: Engine, *, start: date, end: date, tz: tzinfo = DEFAULT_TZ) -> list[MonthRow]:
    """One row per local month from `start`'s month to `end`'s month."""
    check_day(start, "the report's first day (from)")
    check_day(end, "the report's last day (to)")
    first, last = start.replace(day=1), end.replace(day=1)
    if last < first:
        raise InputError("the report ends before it starts")
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise InputError(
            f"the report from {start} to {end} covers more than {MAX_MONTHS} months; "
            "ask for a shorter range"
        )
    rows = []
    with session_scope(engine, read_only=True) as session:
        outstanding = _flows(session, None, local_midnight(first, tz)).net
        month = first
        while month <= last:
            lo, hi = local_midnight(month, tz), local_midnight(add_months(month, 1), tz)
            flows = _flows(session, lo, hi)
            outstanding += flows.net
            rows.append(MonthRow(month, flows, outstanding, _pending(session, hi)))
            month = add_months(month, 1)
    return rows


def by_rule(
    engine: Engine, *, start: date, end: date, tz: tzinfo = DEFAULT_TZ
) -> list[dict[str, Any]]:
    """Flows per rule over local days start..end."""
    lo, hi = local_midnight(start, tz), local_midnight(end + timedelta(days=1), tz)
    flows: dict[int | None, Flows] = defaultdict(Flows)
    source = aliased(PointsEntry)
    target, restore = _restore_clause()
    with session_scope(engine, read_only=True) as session:
        in_range = and_(PointsEntry.effective_at >= lo, PointsEntry.effective_at < hi)
        issued = session.execute(
            select(PointsEntry.rule_id, func.sum(PointsEntry.amount))
            .where(
                in_range,
                or_(
                    PointsEntry.kind == "earn",
                    and_(PointsEntry.kind == "adjust", PointsEntry.amount > 0),
                ),
            )
            .group_by(PointsEntry.rule_id)
        )
        for rule, amount in issued:
            flows[rule] = flows[rule] + Flows(issued=int(amount))
        reversed_ = session.execute(
            select(PointsEntry.rule_id, func.sum(PointsEntry.amount))
            .outerjoin(target, target.id == PointsEntry.reverses_id)
            .where(in_range, PointsEntry.kind == "reverse", ~restore)
            .group_by(PointsEntry.rule_id)
        )
        for rule, amount in reversed_:
            flows[rule] = flows[rule] + Flows(reversed=-int(amount))
        # Redeemed and expired, by the rule of the lot each point came from.
        taken = session.execute(
            select(source.rule_id, PointsEntry.kind, func.sum(PointsAllocation.amount))
            .join(PointsEntry, PointsEntry.id == PointsAllocation.entry_id)
            .join(PointsLot, PointsLot.entry_id == PointsAllocation.lot_id)
            .join(source, source.id == PointsLot.entry_id)
            .outerjoin(target, target.id == PointsEntry.reverses_id)
            .where(
                in_range,
                or_(
                    PointsEntry.kind.in_(("spend", "expire")),
                    and_(PointsEntry.kind == "adjust", PointsEntry.amount < 0),
                    and_(PointsEntry.kind == "reverse", restore),
                ),
            )
            .group_by(source.rule_id, PointsEntry.kind)
        )
        for rule, kind, amount in taken:
            amount = int(amount)
            part = Flows(expired=amount) if kind == "expire" else Flows(redeemed=amount)
            flows[rule] = flows[rule] + part
        codes = dict(session.execute(select(IncentiveRule.id, IncentiveRule.code)).all())
    return [
        {"rule": codes.get(rule) if rule is not None else None, **_flows_json(f)}
        for rule, f in sorted(flows.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    ]


def growth_distribution(engine: Engine) -> list[dict[str, Any]]:
    """Users by lifetime growth value, in buckets [0], [1, 100), [100, 1000), ..."""
    with session_scope(engine, read_only=True) as session:
        totals = [
            int(t)
            for (t,) in session.execute(
                select(func.sum(GrowthEntry.amount)).group_by(GrowthEntry.user_id)
            )
        ]
    counts = [0] * len(GROWTH_BUCKETS)
    for total in totals:
        index = max(i for i, low in enumerate(GROWTH_BUCKETS) if total >= low or i == 0)
        counts[index] += 1
    rows = []
    for index, low in enumerate(GROWTH_BUCKETS):
        high = GROWTH_BUCKETS[index + 1] if index + 1 < len(GROWTH_BUCKETS) else None
        rows.append({"from": low, "below": high, "users": counts[index]})
    return rows


def report(
    engine: Engine,
    *,
    start: date,
    end: date,
    tz: tzinfo = DEFAULT_TZ,
    scheme: str | None = None,
    migration_from: date | None = None,
) -> dict[str, Any]:
    """The whole economy report as one JSON-ready document."""
    month_rows = months(engine, start=start, end=end, tz=tz)
    total = Flows()
    for row in month_rows:
        total = total + row.flows
    document: dict[str, Any] = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "total": {**_flows_json(total), "outstanding": month_rows[-1].outstanding},
        "months": [row.as_json() for row in month_rows],
        "by_rule": by_rule(engine, start=start, end=end, tz=tz),
        "growth": growth_distribution(engine),
    }
    if scheme is not None:
        document["levels"] = levels.distribution(engine, scheme=scheme, on=end)
        document["migration"] = levels.migration(
            engine, scheme=scheme, start=migration_from or start, end=end
        )
    return document
