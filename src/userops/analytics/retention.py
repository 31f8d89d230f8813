"""Cohort retention: of the users who started in a period, how many came back k periods later.

A cohort is the users whose first activity (any event passing the property filters, over all
history) or whose signup (`created_at`) falls in one period of the range. `retained[k]` counts
the cohort's users active (any event, or the return event) in the k-th period after the
cohort's own ("on period k"), or, unbounded, in that period or any later one ("on or after
period k"). Only periods that have started by the end of the range are reported, so a recent
cohort has a shorter row. docs/metrics.md has the exact rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal, get_args

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
from userops.analytics.results import fetch, group_order
from userops.analytics.scope import GROUP, in_scope, scoped_events, signups
from userops.errors import InputError
from userops.warehouse.connection import Warehouse

CohortBasis = Literal["first_activity", "signup"]
COHORT_BASES: Final[tuple[CohortBasis, ...]] = get_args(CohortBasis)
MAX_PERIODS: Final = 1000


def parse_basis(value: str) -> CohortBasis:
    normal = value.replace("-", "_")
    for basis in COHORT_BASES:
        if normal == basis:
            return basis
    raise InputError(f"cohort {value!r} is not one of first-activity, signup")


@dataclass(frozen=True, slots=True)
class Cohort:
    cohort: date  # first day of the cohort's period
    size: int
    retained: tuple[int, ...]  # retained[k]: users active in the k-th period after the cohort's
    group: str | None = None

    @property
    def rates(self) -> tuple[float | None, ...]:
        return tuple(round(n / self.size, 4) if self.size else None for n in self.retained)


@dataclass(frozen=True, slots=True)
class Retention:
    period: Period
    periods: int
    basis: CohortBasis
    return_event: str | None
    unbounded: bool
    by: str | None
    start: date  # the range, widened to whole periods
    end: date
    cohorts: tuple[Cohort, ...]

    def average(self) -> tuple[float | None, ...]:
        """The average row: for each k, retained users over cohort sizes, summed over the
        cohorts that have reached period k (weighted by size, as a heatmap's top row)."""
        return _average(self.cohorts, self.periods)

    def group_average(self, group: str | None) -> tuple[float | None, ...]:
        """The average row of one breakdown group."""
        return _average([c for c in self.cohorts if c.group == group], self.periods)

    def as_json(self) -> dict[str, Any]:
        rows = []
        for c in self.cohorts:
            row: dict[str, Any] = {
                "cohort": c.cohort.isoformat(),
                "size": c.size,
                "retained": list(c.retained),
            }
            if self.by is not None:
                row["group"] = c.group
            rows.append(row)
        out: dict[str, Any] = {"period": self.period, "cohorts": rows}
        if self.by is not None:
            out["by"] = self.by
        return out


def _average(cohorts: Sequence[Cohort], periods: int) -> tuple[float | None, ...]:
    out = []
    for k in range(periods + 1):
        reached = [c for c in cohorts if len(c.retained) > k]
        size = sum(c.size for c in reached)
        out.append(round(sum(c.retained[k] for c in reached) / size, 4) if size else None)
    return tuple(out)


def _cohorts_and_returns(
    wh: Source,
    *,
    period: Period,
    start: date,
    end: date,
    basis: CohortBasis,
    return_event: str | None,
    filters: Filters,
    by: str | None,
) -> tuple[ir.Table, ir.Table]:
    """(cohort members: uid, grp, cohort, cidx; returns: the same plus ridx and k >= 0, one
    row per member and period k after the cohort's in which they were active)."""
    first, last = widen(start, end, period)
    if basis == "first_activity":
        seen = scoped_events(wh, filters, until=last)
        firsts = seen.group_by("uid").aggregate(day=seen.day.min())
        members = in_scope(wh, firsts.filter(firsts.day >= first), filters, by)
    else:
        members = signups(wh, filters, by, since=first, until=last)
    cohort = members.select(
        "uid", GROUP, cohort=truncate(members.day, period), cidx=index(members.day, period)
    )
    back = scoped_events(wh, filters, event=return_event, since=first, until=last)
    back = back.select("uid", ridx=index(back.day, period)).distinct()
    joined = cohort.join(back, "uid")
    joined = joined.mutate(k=joined.ridx - joined.cidx)
    return cohort, joined.filter(joined.k >= 0)


def retention_exprs(
    wh: Source,
    *,
    period: Period,
    periods: int,
    start: date,
    end: date,
    basis: CohortBasis = "first_activity",
    return_event: str | None = None,
    unbounded: bool = False,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> tuple[ir.Table, ir.Table]:
    """(sizes: cohort, grp, size; counts: cohort, grp, k, users)."""
    cohort, joined = _cohorts_and_returns(
        wh,
        period=period,
        start=start,
        end=end,
        basis=basis,
        return_event=return_event,
        filters=filters,
        by=by,
    )
    sizes = cohort.group_by(["cohort", GROUP]).aggregate(size=cohort.count())
    if unbounded:
        # Active in period k or later <=> the last period the user was active in is >= k.
        last_k = joined.group_by(["uid", "cohort", GROUP]).aggregate(k=joined.k.max())
        joined = last_k.mutate(k=ibis.least(last_k.k, periods))
    else:
        joined = joined.filter(joined.k <= periods)
    counts = joined.group_by(["cohort", GROUP, "k"]).aggregate(users=joined.count())
    return sizes, counts


def retention(
    wh: Warehouse,
    *,
    period: Period,
    periods: int,
    start: date,
    end: date,
    basis: CohortBasis = "first_activity",
    return_event: str | None = None,
    unbounded: bool = False,
    filters: Filters = NO_FILTERS,
    by: str | None = None,
) -> Retention:
    check_range(start, end)
    if not 0 <= periods <= MAX_PERIODS:
        raise InputError(f"periods {periods} is not between 0 and {MAX_PERIODS}")
    first, last = widen(start, end, period)
    computed = indexed.retention_rows(
        wh,
        period=period,
        periods=periods,
        first=first,
        last=last,
        basis=basis,
        return_event=return_event,
        unbounded=unbounded,
        filters=filters,
        by=by,
    )
    if computed is None:
        exprs = retention_exprs(
            wh,
            period=period,
            periods=periods,
            start=start,
            end=end,
            basis=basis,
            return_event=return_event,
            unbounded=unbounded,
            filters=filters,
            by=by,
        )
        computed = fetch(exprs[0]), fetch(exprs[1])
    size_rows, count_rows = computed
    size_of = {(r["cohort"], r[GROUP]): int(r["size"]) for r in size_rows}
    count_of = {(r["cohort"], r[GROUP], int(r["k"])): int(r["users"]) for r in count_rows}
    groups = group_order(g for _, g in size_of) if by is not None else [None]
    cohorts = []
    for group in groups:
        for day in period_starts(first, last, period):
            reached = min(periods, index_of(end, period) - index_of(day, period))
            at = [count_of.get((day, group, k), 0) for k in range(reached + 1)]
            if unbounded:  # each user is counted once, at their last active period (capped)
                at = [sum(at[k:]) for k in range(reached + 1)]
            cohorts.append(Cohort(day, size_of.get((day, group), 0), tuple(at), group))
    return Retention(
        period, periods, basis, return_event, unbounded, by, first, last, tuple(cohorts)
    )


def retention_cell_users(
    wh: Source,
    *,
    period: Period,
    start: date,
    end: date,
    cohort: date,
    k: int,
    basis: CohortBasis = "first_activity",
    return_event: str | None = None,
    unbounded: bool = False,
    filters: Filters = NO_FILTERS,
    retained: bool = True,
) -> list[str]:
    """The users behind one cell of `retention(...)` (cohort `cohort`, period `k`), sorted:
    those counted in `retained[k]` or, with `retained=False`, the rest of the cohort (the
    users lost by period k), e.g. to save them as a segment."""
    check_range(start, end)
    first, last = widen(start, end, period)
    if cohort not in period_starts(first, last, period):
        raise InputError(
            f"cohort {cohort.isoformat()} is not the first day of a {period} from "
            f"{first.isoformat()} to {last.isoformat()}"
        )
    reached = index_of(end, period) - index_of(cohort, period)
    if not 0 <= k <= min(reached, MAX_PERIODS):
        raise InputError(
            f"period {k} is not reported for cohort {cohort.isoformat()} (0 to {reached})"
        )
    members, returns = _cohorts_and_returns(
        wh,
        period=period,
        start=start,
        end=end,
        basis=basis,
        return_event=return_event,
        filters=filters,
        by=None,
    )
    mine = members.filter(members.cohort == cohort).select("uid")
    hits = returns.filter(returns.cohort == cohort, returns.k >= k if unbounded else returns.k == k)
    chosen = mine.uid.isin(hits.uid)
    users = mine.filter(chosen if retained else ~chosen).select("uid").distinct()
    return sorted(str(u) for u in users.to_pyarrow()["uid"].to_pylist())
