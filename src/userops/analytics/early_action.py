"""Retention split by an early action: do the users who do something in their first days stay?

The "aha moment" question operators ask of a new product ("users who add to cart in their
first week stay; the others churn"). Cohorts, returns, reach and the average row are exactly
those of `retention.retention`; instead of a trait, the breakdown is behaviour: a cohort member
is in group `did` when they had an event named one of `events` before their start plus
`within_days` days, else in `did_not`. Their start is `created_at` for signup cohorts and their
first event for first-activity cohorts. An action before signup (as an anonymous visitor later
merged into the user) counts, as it does for first-purchase conversion; property filters apply
to the action as to every event of the metric, and actions after the range are not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

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
    truncate,
    widen,
)
from userops.analytics.results import fetch
from userops.analytics.retention import MAX_PERIODS, Cohort, CohortBasis, Retention
from userops.analytics.scope import GROUP, in_scope, scoped_events, signups
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

DID: Final = "did"
DID_NOT: Final = "did_not"
GROUPS: Final = (DID, DID_NOT)
BY: Final = "early_action"  # `Retention.by` of a split result
MAX_WITHIN_DAYS: Final = 366
MAX_EVENTS: Final = 20


@dataclass(frozen=True, slots=True)
class EarlyActionRetention:
    events: tuple[str, ...]
    within_days: int
    retention: Retention  # grouped by `did` / `did_not`, by = "early_action"

    def share(self) -> float | None:
        """The share of all cohort members who did the action in time."""
        sizes = {g: sum(c.size for c in self.retention.cohorts if c.group == g) for g in GROUPS}
        total = sizes[DID] + sizes[DID_NOT]
        return round(sizes[DID] / total, 4) if total else None


def _check(events: Sequence[str], within_days: int, periods: int) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(e.strip() for e in events))
    if not names or any(not e for e in names):
        raise InputError("the early action needs at least one event name, none empty")
    if len(names) > MAX_EVENTS:
        raise InputError(f"the early action has {len(names)} events; at most {MAX_EVENTS}")
    if not 1 <= within_days <= MAX_WITHIN_DAYS:
        raise InputError(f"within {within_days} days is not between 1 and {MAX_WITHIN_DAYS}")
    if not 0 <= periods <= MAX_PERIODS:
        raise InputError(f"periods {periods} is not between 0 and {MAX_PERIODS}")
    return names


def early_action_exprs(
    wh: Source,
    *,
    events: Sequence[str],
    within_days: int,
    period: Period,
    periods: int,
    start: date,
    end: date,
    basis: CohortBasis = "signup",
    return_event: str | None = None,
    unbounded: bool = False,
    filters: Filters = NO_FILTERS,
) -> tuple[ir.Table, ir.Table]:
    """(sizes: cohort, grp, size; counts: cohort, grp, k, users), grp being did / did_not."""
    first, last = widen(start, end, period)
    if basis == "first_activity":
        seen = scoped_events(wh, filters, until=last)
        firsts = seen.group_by("uid").aggregate(day=seen.day.min(), since=seen.timestamp.min())
        members = in_scope(wh, firsts.filter(firsts.day >= first), filters, None)
    else:
        signed = signups(wh, filters, None, since=first, until=last)
        members = signed.select("uid", "day", since=signed.created_at)

    actions = scoped_events(wh, filters, until=last)
    actions = actions.filter(actions.event.isin(list(events))).select(actor="uid", ts="timestamp")
    deadline = members.since + ibis.interval(days=within_days)
    early = members.semi_join(actions, [members.uid == actions.actor, actions.ts < deadline])
    early = early.select(early_uid="uid", flag=ibis.literal(1))
    marked = members.left_join(early, members.uid == early.early_uid)
    did = (marked.flag == 1).fill_null(False)  # a marker, not a NULL test: see scope.in_scope
    cohort = marked.select(
        "uid",
        cohort=truncate(marked.day, period),
        cidx=index(marked.day, period),
        **{GROUP: ibis.ifelse(did, DID, DID_NOT)},
    )
    sizes = cohort.group_by(["cohort", GROUP]).aggregate(size=cohort.count())

    back = scoped_events(wh, filters, event=return_event, since=first, until=last)
    back = back.select("uid", ridx=index(back.day, period)).distinct()
    joined = cohort.join(back, "uid")
    joined = joined.mutate(k=joined.ridx - joined.cidx)
    joined = joined.filter(joined.k >= 0)
    if unbounded:
        last_k = joined.group_by(["uid", "cohort", GROUP]).aggregate(k=joined.k.max())
        joined = last_k.mutate(k=ibis.least(last_k.k, periods))
    else:
        joined = joined.filter(joined.k <= periods)
    counts = joined.group_by(["cohort", GROUP, "k"]).aggregate(users=joined.count())
    return sizes, counts


def early_action_retention(
    wh: Warehouse,
    *,
    events: Sequence[str],
    within_days: int = 7,
    period: Period,
    periods: int,
    start: date,
    end: date,
    basis: CohortBasis = "signup",
    return_event: str | None = None,
    unbounded: bool = False,
    filters: Filters = NO_FILTERS,
) -> EarlyActionRetention:
    """Cohort retention of the users who did one of `events` within `within_days` days of
    their start, beside that of the others."""
    check_range(start, end)
    names = _check(events, within_days, periods)
    sizes, counts = early_action_exprs(
        wh,
        events=names,
        within_days=within_days,
        period=period,
        periods=periods,
        start=start,
        end=end,
        basis=basis,
        return_event=return_event,
        unbounded=unbounded,
        filters=filters,
    )
    size_of = {(r["cohort"], r[GROUP]): int(r["size"]) for r in fetch(sizes)}
    count_of = {(r["cohort"], r[GROUP], int(r["k"])): int(r["users"]) for r in fetch(counts)}
    first, last = widen(start, end, period)
    cohorts = []
    for group in GROUPS:
        for day in period_starts(first, last, period):
            reached = min(periods, index_of(end, period) - index_of(day, period))
            at = [count_of.get((day, group, k), 0) for k in range(reached + 1)]
            if unbounded:
                at = [sum(at[k:]) for k in range(reached + 1)]
            cohorts.append(Cohort(day, size_of.get((day, group), 0), tuple(at), group))
    result = Retention(
        period, periods, basis, return_event, unbounded, BY, first, last, tuple(cohorts)
    )
    return EarlyActionRetention(names, within_days, result)
